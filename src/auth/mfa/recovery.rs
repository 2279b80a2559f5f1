//! Recovery codes: ten one-time codes shown once at enrolment, stored as SHA-256 hashes. Each has 80 random bits
//! (16 base32 characters), so a fast hash suffices, as for keyway's other random one-time secrets.
use rand::RngCore;

use crate::crypto::secrets::hash_token;
use crate::store::{Store, StoreError};

pub const COUNT: usize = 10;
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A code as the user sees it: `xxxx-xxxx-xxxx-xxxx`.
fn new_code() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let chars: Vec<char> = bytes.iter().map(|b| ALPHABET[(b & 31) as usize] as char).collect();
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// The stored form: lower case, separators and spaces removed, hashed.
fn hash(code: &str) -> String {
    let canonical: String =
        code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    hash_token(&format!("recovery:{canonical}"))
}

/// New codes for the user (the old ones stop working); the plain codes, to be shown once.
pub async fn regenerate(store: &Store, user_id: &str, now: i64) -> Result<Vec<String>, StoreError> {
    let codes: Vec<String> = (0..COUNT).map(|_| new_code()).collect();
    let hashes: Vec<String> = codes.iter().map(|c| hash(c)).collect();
    store.replace_recovery_codes(user_id, &hashes, now).await?;
    Ok(codes)
}

/// Uses a code: true once.
pub async fn redeem(store: &Store, user_id: &str, code: &str, now: i64) -> Result<bool, StoreError> {
    let canonical_len = code.chars().filter(|c| c.is_ascii_alphanumeric()).count();
    if canonical_len != 16 {
        return Ok(false);
    }
    store.claim_recovery_code(user_id, &hash(code), now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_normalised() {
        let a = new_code();
        assert_eq!(a.len(), 19);
        assert_ne!(a, new_code());
        assert_eq!(hash(&a), hash(&a.to_uppercase().replace('-', " ")));
    }
}
