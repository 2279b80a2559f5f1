//! argon2id password hashing (SPEC §2). Hashing is CPU-bound: callers run it on the blocking pool.
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

#[derive(Clone)]
pub struct PasswordHasherConfig {
    params: Params,
    /// A hash of a random password with the configured parameters: verifying against it when the e-mail is unknown
    /// takes as long as a real check, so timing does not tell which e-mails exist.
    dummy_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2 parameters: {0}")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
}

impl PasswordHasherConfig {
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, PasswordError> {
        let params = Params::new(memory_kib, iterations, parallelism, None).map_err(|e| PasswordError::Params(e.to_string()))?;
        let mut cfg = PasswordHasherConfig { params, dummy_hash: String::new() };
        cfg.dummy_hash = cfg.hash(&crate::crypto::secrets::random_token())?;
        Ok(cfg)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no stored hash, so both paths
    /// cost the same. Returns true only for a real match.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let (hash, real) = match stored {
            Some(h) => (h, true),
            None => (self.dummy_hash.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else { return false };
        // The parameters come from the stored hash string, so hashes made with older settings still verify.
        let ok = self.argon2().verify_password(password.as_bytes(), &parsed).is_ok();
        ok && real
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = PasswordHasherConfig::new(8, 1, 1).expect("params");
        let stored = h.hash("correct horse").expect("hash");
        assert!(stored.starts_with("$argon2id$"));
        assert!(h.verify("correct horse", Some(&stored)));
        assert!(!h.verify("wrong", Some(&stored)));
        assert!(!h.verify("anything", None));
        assert!(!h.verify("anything", Some("not a hash")));
    }
}
