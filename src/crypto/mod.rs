//! Keys and JWKS, JWT signing and verification, License API request signatures, password hashing, random secrets.
pub mod hmac_auth;
pub mod jwt;
pub mod kek;
pub mod key_ring;
pub mod keys;
pub mod keyset;
pub mod password;
pub mod secrets;
