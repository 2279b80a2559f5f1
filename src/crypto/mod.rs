//! Keys and JWKS, JWT signing and verification, License API request signatures, password hashing, random secrets.
pub mod hmac_auth;
pub mod jwt;
pub mod keys;
pub mod password;
pub mod secrets;
