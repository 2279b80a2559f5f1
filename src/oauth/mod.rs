//! OAuth 2.0 / OpenID Connect protocol logic, free of HTTP types.
pub mod authorize;
pub mod client;
pub mod discovery;
pub mod grants;
pub mod issue;
pub mod login;
pub mod session;
pub mod tokens;
