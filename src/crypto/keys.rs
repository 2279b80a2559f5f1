//! Signing keys (SPEC §4.3): RSA-2048 PEM files in `keys/`. `oidc-<created>-<n>.pem` are the rotating OpenID keys
//! (the newest signs, all still-needed ones are in the JWKS); `license.pem` is the long-lived License API response
//! signing key (SPEC §3.2); `cookie.key` keys the CSRF MACs. Replicas share the directory.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};

/// Longest lifetime of any JWT keyway signs (product TTL overrides are capped to it), plus clock skew: a retired key
/// stays in the JWKS this long after its successor appeared, so every token it signed can still be verified.
pub const MAX_JWT_LIFETIME: i64 = 24 * 3600 + 300;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("key generation: {0}")]
    Generate(String),
    #[error("signing failed")]
    Sign,
}

fn file_err(path: &Path, reason: impl ToString) -> KeyError {
    KeyError::File { path: path.to_path_buf(), reason: reason.to_string() }
}

/// One RSA key with everything needed to sign with it (ring) and verify with it (jsonwebtoken).
pub struct RsaKey {
    pub kid: String,
    pub created: i64,
    pair: RsaKeyPair,
    pub n_b64: String,
    pub e_b64: String,
    pub decoding: jsonwebtoken::DecodingKey,
    public_pem: String,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaKey").field("kid", &self.kid).field("created", &self.created).finish_non_exhaustive()
    }
}

impl RsaKey {
    fn from_private(key: &RsaPrivateKey, created: i64, path: &Path) -> Result<RsaKey, KeyError> {
        let der = key.to_pkcs8_der().map_err(|e| file_err(path, e))?;
        let pair = RsaKeyPair::from_pkcs8(der.as_bytes()).map_err(|e| file_err(path, e))?;
        let n_b64 = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
        let e_b64 = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
        // RFC 7638 §3: the thumbprint of the required members in lexicographic order, no whitespace.
        let thumb_input = format!(r#"{{"e":"{e_b64}","kty":"RSA","n":"{n_b64}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumb_input.as_bytes()));
        let decoding = jsonwebtoken::DecodingKey::from_rsa_components(&n_b64, &e_b64).map_err(|e| file_err(path, e))?;
        let public_pem = key.to_public_key().to_public_key_pem(LineEnding::LF).map_err(|e| file_err(path, e))?;
        Ok(RsaKey { kid, created, pair, n_b64, e_b64, decoding, public_pem })
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 (RS256).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        self.pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig).map_err(|_| KeyError::Sign)?;
        Ok(sig)
    }

    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }
}

fn read_key(path: &Path, created: i64) -> Result<RsaKey, KeyError> {
    let pem = std::fs::read_to_string(path).map_err(|e| file_err(path, e))?;
    let key = RsaPrivateKey::from_pkcs8_pem(&pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&pem))
        .map_err(|e| file_err(path, format!("not an RSA private key in PEM: {e}")))?;
    RsaKey::from_private(&key, created, path)
}

fn generate_into(path: &Path) -> Result<(), KeyError> {
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).map_err(|e| KeyError::Generate(e.to_string()))?;
    let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| KeyError::Generate(e.to_string()))?;
    write_secret_file(path, pem.as_bytes())
}

/// Writes a secret file readable only by its owner, atomically (write a temporary file, then rename), and never
/// over an existing one: two replicas starting at once keep the first file.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    let tmp = dir.join(format!(".tmp-{}", crate::crypto::secrets::random_token()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(|e| file_err(&tmp, e))?;
    f.write_all(contents).and_then(|_| f.sync_all()).map_err(|e| file_err(&tmp, e))?;
    // hard_link fails if the target exists, which is the no-overwrite rule; then drop our copy.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(file_err(path, e)),
    }
}

/// The OpenID signing keys in use, newest first, with the JWKS document prepared once.
pub struct KeyRing {
    keys: Vec<Arc<RsaKey>>,
    jwks: bytes::Bytes,
    /// File names the ring was built from, to notice rotation by another process.
    pub fingerprint: Vec<String>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("keys", &self.keys).finish_non_exhaustive()
    }
}

fn oidc_key_files(dir: &Path) -> Result<Vec<(i64, PathBuf, String)>, KeyError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(file_err(dir, e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(stem) = name.strip_prefix("oidc-").and_then(|s| s.strip_suffix(".pem")) else { continue };
        let created = stem.split('-').next().and_then(|c| c.parse::<i64>().ok());
        if let Some(created) = created {
            out.push((created, entry.path(), name));
        }
    }
    // Newest first; the name breaks ties so every replica agrees on the signer.
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.2.cmp(&a.2)));
    Ok(out)
}

impl KeyRing {
    /// Loads the keys of `dir`, generating the first one when there is none. Keys superseded more than
    /// `MAX_JWT_LIFETIME` ago are left out: nothing they signed can still be valid.
    pub fn load_or_create(dir: &Path, now: i64) -> Result<KeyRing, KeyError> {
        if oidc_key_files(dir)?.is_empty() {
            generate_into(&dir.join(format!("oidc-{now}-{}.pem", &crate::crypto::secrets::random_token()[..8])))?;
        }
        Self::load(dir, now)
    }

    pub fn load(dir: &Path, now: i64) -> Result<KeyRing, KeyError> {
        let files = oidc_key_files(dir)?;
        let mut keys = Vec::new();
        let mut successor_created: Option<i64> = None;
        for (created, path, _) in &files {
            let needed = match successor_created {
                None => true,
                Some(s) => s + MAX_JWT_LIFETIME > now,
            };
            if needed {
                keys.push(Arc::new(read_key(path, *created)?));
            }
            successor_created = Some(*created);
        }
        if keys.is_empty() {
            return Err(file_err(dir, "no OpenID signing key"));
        }
        let jwks = serde_json::json!({
            "keys": keys.iter().map(|k| serde_json::json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid, "n": k.n_b64, "e": k.e_b64,
            })).collect::<Vec<_>>()
        });
        let jwks = bytes::Bytes::from(serde_json::to_vec(&jwks).map_err(|e| file_err(dir, e))?);
        Ok(KeyRing { keys, jwks, fingerprint: files.into_iter().map(|f| f.2).collect() })
    }

    /// `keyway keys rotate`: adds a key that becomes the signer; older keys stay in the JWKS (see `load`).
    pub fn rotate(dir: &Path, now: i64) -> Result<KeyRing, KeyError> {
        // A strictly newer timestamp than any existing key, so the new key sorts first even within one second.
        let newest = oidc_key_files(dir)?.first().map(|f| f.0).unwrap_or(0);
        let created = now.max(newest + 1);
        generate_into(&dir.join(format!("oidc-{created}-{}.pem", &crate::crypto::secrets::random_token()[..8])))?;
        Self::load(dir, created)
    }

    pub fn changed_on_disk(&self, dir: &Path) -> bool {
        match oidc_key_files(dir) {
            Ok(files) => files.iter().map(|f| &f.2).ne(self.fingerprint.iter()),
            Err(_) => false,
        }
    }

    pub fn signer(&self) -> &Arc<RsaKey> {
        // `load` refuses an empty ring, so index 0 exists.
        &self.keys[0]
    }

    pub fn by_kid(&self, kid: &str) -> Option<&Arc<RsaKey>> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The JWKS document; cloning is a reference-count increment.
    pub fn jwks_json(&self) -> bytes::Bytes {
        self.jwks.clone()
    }

    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.kid.clone()).collect()
    }
}

/// The License API response signing key (`keys/license.pem`), created on first start and never rotated: client apps
/// pin its public key in the SDK configuration.
pub struct LicenseSigner {
    key: RsaKey,
}

impl LicenseSigner {
    pub fn load_or_create(dir: &Path) -> Result<LicenseSigner, KeyError> {
        let path = dir.join("license.pem");
        if !path.exists() {
            generate_into(&path)?;
        }
        Ok(LicenseSigner { key: read_key(&path, 0)? })
    }

    /// base64(RSASSA-PKCS1-v1_5-SHA256(bytes)), the `LicenseSignature` header and `license_signature` field format.
    pub fn sign_b64(&self, bytes: &[u8]) -> Result<String, KeyError> {
        Ok(STANDARD.encode(self.key.sign(bytes)?))
    }

    pub fn public_pem(&self) -> &str {
        self.key.public_pem()
    }
}

/// 32 random bytes in `keys/cookie.key`, shared by replicas: keys the CSRF token MACs.
pub fn load_or_create_cookie_key(dir: &Path) -> Result<Vec<u8>, KeyError> {
    let path = dir.join("cookie.key");
    if !path.exists() {
        write_secret_file(&path, crate::crypto::secrets::random_token().as_bytes())?;
    }
    let bytes = std::fs::read(&path).map_err(|e| file_err(&path, e))?;
    if bytes.len() < 32 {
        return Err(file_err(&path, "shorter than 32 bytes"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_rotates_and_retires() {
        let dir = tempfile::tempdir().expect("tmp");
        let ring = KeyRing::load_or_create(dir.path(), 1_000).expect("ring");
        let first = ring.signer().kid.clone();
        assert_eq!(ring.kids(), vec![first.clone()]);
        // Loading again reuses the file.
        assert_eq!(KeyRing::load_or_create(dir.path(), 1_001).expect("ring").signer().kid, first);

        let rotated = KeyRing::rotate(dir.path(), 2_000).expect("rotate");
        assert_ne!(rotated.signer().kid, first);
        assert_eq!(rotated.kids().len(), 2, "the old key stays published");
        assert!(ring.changed_on_disk(dir.path()));

        let later = KeyRing::load(dir.path(), 2_000 + MAX_JWT_LIFETIME + 1).expect("load");
        assert_eq!(later.kids(), vec![rotated.signer().kid.clone()], "retired once its tokens expired");
        let jwks: serde_json::Value = serde_json::from_slice(&later.jwks_json()).expect("json");
        assert_eq!(jwks["keys"][0]["kty"], "RSA");
        assert_eq!(jwks["keys"][0]["alg"], "RS256");
    }
}
