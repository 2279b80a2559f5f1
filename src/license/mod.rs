//! License-side domain logic: the SSO login URL, activation and seats.
pub mod sso_url;
