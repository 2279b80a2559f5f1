//! Key-encryption keys (issue 15 item 1): the private keys keyway keeps in the database (OpenID signing keys, the
//! License API response key, the cookie key) and customers' IdP secrets are sealed with AES-256-GCM under a KEK that
//! never enters the database. `key_encryption_key` is a comma-separated list of base64url 32-byte keys: the first
//! seals, every one of them opens (KEK rotation: put the new key first, run `keyway keys rewrap`, then drop the old).
//!
//! A sealed value is `kek1.<kek id>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The KEK id (8 hex digits of SHA-256 of the
//! key) names which KEK sealed it, so a missing KEK is reported by id; the caller's `context` (the row it belongs to)
//! is the associated data, so a sealed value copied into another row does not open there.
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "kek1.";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KekError {
    #[error("key_encryption_key: {0}")]
    Config(String),
    #[error("sealed with key-encryption key {0}, which is not in key_encryption_key (KEYWAY_KEY_ENCRYPTION_KEY)")]
    UnknownKek(String),
    #[error("sealed value does not open with key-encryption key {0} (wrong key or tampered data)")]
    Open(String),
    #[error("not a sealed value")]
    Format,
    #[error("sealing failed")]
    Seal,
}

struct KekKey {
    id: String,
    cipher: Aes256Gcm,
}

/// The configured KEKs, first one sealing. Debug output names only the KEK ids.
pub struct Kek {
    keys: Vec<KekKey>,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek").field("ids", &self.ids()).finish()
    }
}

fn kek_id(key: &[u8]) -> String {
    crate::crypto::secrets::hex(&Sha256::digest(key)[..4])
}

impl Kek {
    /// Parses `key_encryption_key`: base64url (padded or not) 32-byte keys separated by commas.
    pub fn parse(list: &str) -> Result<Kek, KekError> {
        let mut keys = Vec::new();
        for (i, part) in list.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
            let bytes = URL_SAFE_NO_PAD
                .decode(part.trim_end_matches('='))
                .or_else(|_| URL_SAFE.decode(part))
                .map_err(|_| KekError::Config(format!("key {} is not base64url", i + 1)))?;
            if bytes.len() != 32 {
                return Err(KekError::Config(format!("key {} is {} bytes, must be 32", i + 1, bytes.len())));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| KekError::Config("bad key length".into()))?;
            keys.push(KekKey { id: kek_id(&bytes), cipher });
        }
        if keys.is_empty() {
            return Err(KekError::Config("no key given".into()));
        }
        Ok(Kek { keys })
    }

    /// A fresh KEK in the configuration format (32 random bytes, base64url without padding).
    pub fn generate() -> String {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The id of the KEK that seals.
    pub fn primary_id(&self) -> &str {
        &self.keys[0].id
    }

    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// Seals `plaintext` under the first KEK, bound to `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String, KekError> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = key
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            .map_err(|_| KekError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{}.{}", key.id, URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens a value sealed under any configured KEK with the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, KekError> {
        let (id, body) = split(sealed)?;
        let key = self.keys.iter().find(|k| k.id == id).ok_or_else(|| KekError::UnknownKek(id.to_string()))?;
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| KekError::Format)?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(KekError::Format);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        key.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: context.as_bytes() })
            .map_err(|_| KekError::Open(id.to_string()))
    }

    /// True when `sealed` is sealed under the first KEK already (`keyway keys rewrap` skips it).
    pub fn is_current(&self, sealed: &str) -> bool {
        split(sealed).map(|(id, _)| id == self.primary_id()).unwrap_or(false)
    }
}

/// Whether a stored value is sealed (rather than a plaintext value from before sealing existed).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(PREFIX)
}

/// The KEK id a sealed value names.
pub fn sealed_by(value: &str) -> Option<&str> {
    split(value).ok().map(|(id, _)| id)
}

fn split(sealed: &str) -> Result<(&str, &str), KekError> {
    sealed.strip_prefix(PREFIX).and_then(|rest| rest.split_once('.')).ok_or(KekError::Format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_with_context() {
        let kek = Kek::parse(&Kek::generate()).expect("kek");
        let sealed = kek.seal("keys/a", b"private").expect("seal");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("private"));
        assert_eq!(kek.open("keys/a", &sealed).expect("open"), b"private");
        assert_eq!(kek.open("keys/b", &sealed), Err(KekError::Open(kek.primary_id().to_string())), "bound to context");
        assert_ne!(kek.seal("keys/a", b"private").expect("seal"), sealed, "fresh nonce each time");
    }

    #[test]
    fn wrong_kek_fails_and_names_the_missing_kek() {
        let a = Kek::parse(&Kek::generate()).expect("a");
        let b = Kek::parse(&Kek::generate()).expect("b");
        let sealed = a.seal("ctx", b"secret").expect("seal");
        assert_eq!(b.open("ctx", &sealed), Err(KekError::UnknownKek(a.primary_id().to_string())));
        // A forged id matching b's does not open either: the tag does not verify.
        let forged = sealed.replacen(a.primary_id(), b.primary_id(), 1);
        assert_eq!(b.open("ctx", &forged), Err(KekError::Open(b.primary_id().to_string())));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(a.open("ctx", &tampered).is_err());
    }

    #[test]
    fn multi_key_decrypt_and_rewrap() {
        let (old, new) = (Kek::generate(), Kek::generate());
        let before = Kek::parse(&old).expect("old");
        let sealed_old = before.seal("ctx", b"k1").expect("seal");
        // Rotation: the new KEK first, the old one still listed.
        let both = Kek::parse(&format!("{new}, {old}")).expect("both");
        assert_eq!(both.ids().len(), 2);
        assert_eq!(both.open("ctx", &sealed_old).expect("old still opens"), b"k1");
        assert!(!both.is_current(&sealed_old));
        let rewrapped = both.seal("ctx", &both.open("ctx", &sealed_old).expect("open")).expect("seal");
        assert!(both.is_current(&rewrapped));
        assert_eq!(sealed_by(&rewrapped), Some(both.primary_id()));
        // After rewrap the old KEK can be dropped from the list.
        let only_new = Kek::parse(&new).expect("new");
        assert_eq!(only_new.open("ctx", &rewrapped).expect("open"), b"k1");
        assert!(only_new.open("ctx", &sealed_old).is_err());
    }

    #[test]
    fn parse_rejects_bad_keys_and_debug_is_redacted() {
        assert!(matches!(Kek::parse(""), Err(KekError::Config(_))));
        assert!(matches!(Kek::parse("c2hvcnQ"), Err(KekError::Config(m)) if m.contains("must be 32")));
        assert!(matches!(Kek::parse("!!!"), Err(KekError::Config(_))));
        let raw = Kek::generate();
        let padded = format!("{raw}=");
        let kek = Kek::parse(&padded).expect("padding accepted");
        let debug = format!("{kek:?}");
        assert!(!debug.contains(&raw) && debug.contains(kek.primary_id()));
    }
}
