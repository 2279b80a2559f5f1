//! License-side domain logic: the SSO login URL, activation and seats, and the SDK response shapes.
pub mod activation;
pub mod portal;
pub mod response;
pub mod sso_url;
