//! Random one-time secrets, their stored form, and a type that keeps secrets out of logs.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A fresh secret of 256 random bits, base64url without padding (43 characters). Codes, refresh tokens, session
/// ids, nonces and management tokens all use this: RFC 6749 §10.10 asks for ≥128 bits; we take 256.
///
/// From `rand`'s thread-local CSPRNG (ChaCha12, seeded from the operating system and reseeded from it every 64 KiB
/// of output) rather than one `getrandom` system call per secret: a login flow draws about a dozen random values,
/// and the system calls cost more than the rest of their work.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A random (version 4) UUID from the same generator as [`random_token`]: record ids, `sid`, `jti`, request ids.
pub fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::thread_rng().gen()).into_uuid()
}

/// What the database keeps of a one-time secret: SHA-256, hex. The secrets have 256 bits of entropy, so a fast hash
/// is enough (a slow KDF protects low-entropy passwords, not random tokens).
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// Constant-time equality for secrets of possibly different length.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// base64url(SHA-256(input)): PKCE S256 (RFC 7636 §4.6).
pub fn s256(input: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(input.as_bytes()))
}

/// A secret that prints redacted in Debug output, so it cannot leak into logs by accident. (De)serialises as the
/// plain value, for configuration.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(**redacted**)")
    }
}

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Key bytes (the cookie/CSRF key): redacted in Debug output like [`Secret`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(pub Vec<u8>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBytes(**redacted**)")
    }
}

impl SecretBytes {
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_are_fresh_and_well_formed() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).expect("base64url").len(), 32);
        let (u, v) = (random_uuid(), random_uuid());
        assert_ne!(u, v);
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn tokens_are_long_random_and_hash_stably() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_eq!(hash_token(&a).len(), 64);
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        assert_eq!(s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret("hunter2".into())), "Secret(**redacted**)");
        assert_eq!(format!("{:?}", SecretBytes(vec![1, 2])), "SecretBytes(**redacted**)");
    }
}
