//! OAuth 2.0 / OpenID Connect protocol logic, free of HTTP types.
pub mod client;
pub mod discovery;
pub mod tokens;
