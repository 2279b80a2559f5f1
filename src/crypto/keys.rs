//! Signing keys (SPEC §4.3): RSA-2048 OpenID keys, P-256 keys (only when access tokens are signed with ES256), the
//! long-lived License API response signing key (SPEC §3.2) and the cookie key of the CSRF MACs.
//!
//! They live in the database, sealed with the key-encryption key (`crypto::keyset`, issue 15). The PEM files of
//! `keys_dir` (`oidc-<created>-<n>.pem`, `oidc-es256-<created>-<n>.pem`, `license.pem`, `cookie.key`) are what
//! installations before that kept; `keyset` imports them once. The key ring and its rotation schedule are in
//! `crypto::key_ring`.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use openssl::md::Md;
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding, SecretDocument};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};

pub use super::key_ring::{KeyRing, KeyState, KeyStatus, RingEntry};
use sha2::{Digest, Sha256};

/// Longest lifetime of any JWT keyway signs (product TTL overrides are capped to it), plus clock skew: a retired key
/// stays in the JWKS this long after its successor appeared, so every token it signed can still be verified.
pub const MAX_JWT_LIFETIME: i64 = 24 * 3600 + 300;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("key generation: {0}")]
    Generate(String),
    #[error("signing failed")]
    Sign,
    #[error("no {0:?} signing key in the key directory")]
    Missing(SigningAlg),
}

/// JWS algorithms keyway signs with (RFC 7518 §3). id_tokens, minted SSO tokens and, by default, access tokens are
/// RS256 (SPEC §4.2, OIDC Core §15.1); access tokens may be ES256 instead (RFC 9068 §2.1 leaves the algorithm to the
/// server): one P-256 signature costs a few percent of an RSA-2048 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningAlg {
    RS256,
    ES256,
}

impl SigningAlg {
    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            SigningAlg::RS256 => jsonwebtoken::Algorithm::RS256,
            SigningAlg::ES256 => jsonwebtoken::Algorithm::ES256,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
        }
    }
}

fn file_err(path: &Path, reason: impl ToString) -> KeyError {
    KeyError::File { path: path.to_path_buf(), reason: reason.to_string() }
}

/// Where a key came from, for error messages: a file, or a database row ("database key <id>").
fn source_err(what: &str, reason: impl ToString) -> KeyError {
    KeyError::File { path: PathBuf::from(what), reason: reason.to_string() }
}

/// One RSA key with everything needed to sign with it (OpenSSL's libcrypto) and verify with it (jsonwebtoken).
///
/// Why libcrypto and not ring for RSA signing (issue 16): on CPUs with AVX-512 IFMA, OpenSSL 3 computes the two
/// 1024-bit CRT exponentiations of an RSA-2048 signature together in 52-bit limbs (`ossl_rsaz_mod_exp_avx512_x2`);
/// ring has only the 64-bit `mulx`/`adx` Montgomery code. Measured side by side in one process on the benchmark VM
/// (AMD EPYC with avx512ifma): ring 0.562 ms per RS256 signature, libcrypto 0.246 ms (docs/PERFORMANCE.md,
/// session 5). PKCS#1 v1.5 is deterministic, so the signatures are byte-identical (test below); libcrypto blinds the
/// private operation and checks the CRT result against the public key, as ring does.
pub struct RsaKey {
    pub kid: String,
    pub created: i64,
    pkey: PKey<Private>,
    pub n_b64: String,
    pub e_b64: String,
    pub decoding: jsonwebtoken::DecodingKey,
    public_pem: String,
    /// Signing contexts set up for RS256 and kept for the next signature: setting one up (`EVP_PKEY_sign_init`,
    /// padding, digest) looks the algorithm up among OpenSSL 3's providers each time, ~33,000 instructions, and a
    /// context may sign again and again (as `openssl speed` does). Each is used by one thread at a time.
    contexts: Mutex<Vec<PkeyCtx<Private>>>,
}

/// Signing contexts kept per key: more than the threads that sign at once (the workers and the blocking pool's
/// few signers) would only hold memory.
const KEPT_CONTEXTS: usize = 8;

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaKey").field("kid", &self.kid).field("created", &self.created).finish_non_exhaustive()
    }
}

impl RsaKey {
    fn from_private(key: &RsaPrivateKey, created: i64, what: &str) -> Result<RsaKey, KeyError> {
        let der = key.to_pkcs8_der().map_err(|e| source_err(what, e))?;
        let pkey = PKey::private_key_from_pkcs8(der.as_bytes()).map_err(|e| source_err(what, e))?;
        let n_b64 = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
        let e_b64 = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
        // RFC 7638 §3: the thumbprint of the required members in lexicographic order, no whitespace.
        let thumb_input = format!(r#"{{"e":"{e_b64}","kty":"RSA","n":"{n_b64}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumb_input.as_bytes()));
        let decoding =
            jsonwebtoken::DecodingKey::from_rsa_components(&n_b64, &e_b64).map_err(|e| source_err(what, e))?;
        let public_pem = key.to_public_key().to_public_key_pem(LineEnding::LF).map_err(|e| source_err(what, e))?;
        Ok(RsaKey { kid, created, pkey, n_b64, e_b64, decoding, public_pem, contexts: Mutex::new(Vec::new()) })
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 (RS256, RFC 7518 §3.3; RFC 8017 §8.2.1): the message's SHA-256, then
    /// `EVP_PKEY_sign`, which wraps the digest in its DigestInfo, pads and signs.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        // libcrypto's SHA-256: its assembly uses SHA-NI where the CPU has it.
        let digest = openssl::sha::sha256(message);
        let mut ctx = match self.contexts.lock().ok().and_then(|mut kept| kept.pop()) {
            Some(ctx) => ctx,
            None => self.new_context().map_err(|_| KeyError::Sign)?,
        };
        let mut signature = vec![0u8; self.pkey.size()];
        let written = ctx.sign(&digest, Some(&mut signature)).map_err(|_| KeyError::Sign)?;
        signature.truncate(written);
        // A context that failed is dropped above with its error; one that signed is kept.
        if let Ok(mut kept) = self.contexts.lock() {
            if kept.len() < KEPT_CONTEXTS {
                kept.push(ctx);
            }
        }
        Ok(signature)
    }

    fn new_context(&self) -> Result<PkeyCtx<Private>, openssl::error::ErrorStack> {
        let mut ctx = PkeyCtx::new(&self.pkey)?;
        ctx.sign_init()?;
        ctx.set_rsa_padding(Padding::PKCS1)?;
        ctx.set_signature_md(Md::sha256())?;
        Ok(ctx)
    }

    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }
}

/// One P-256 key (ES256): ring signs, jsonwebtoken verifies.
pub struct EcKey {
    pub kid: String,
    pub created: i64,
    pair: EcdsaKeyPair,
    x_b64: String,
    y_b64: String,
    decoding: jsonwebtoken::DecodingKey,
}

impl EcKey {
    fn from_pkcs8(der: &[u8], created: i64, what: &str) -> Result<EcKey, KeyError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
            .map_err(|e| source_err(what, format!("not a P-256 private key: {e}")))?;
        // SEC 1 uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
        let point = pair.public_key().as_ref();
        if point.len() != 65 || point[0] != 4 {
            return Err(source_err(what, "unexpected P-256 public key encoding"));
        }
        let x_b64 = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y_b64 = URL_SAFE_NO_PAD.encode(&point[33..65]);
        // RFC 7638 §3.2: required members of an EC key, lexicographic order.
        let thumb_input = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x_b64}","y":"{y_b64}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumb_input.as_bytes()));
        let decoding =
            jsonwebtoken::DecodingKey::from_ec_components(&x_b64, &y_b64).map_err(|e| source_err(what, e))?;
        Ok(EcKey { kid, created, pair, x_b64, y_b64, decoding })
    }

    /// ECDSA P-256 SHA-256 with the fixed-length r || s encoding JWS uses (RFC 7518 §3.4).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        Ok(self.pair.sign(&SystemRandom::new(), message).map_err(|_| KeyError::Sign)?.as_ref().to_vec())
    }
}

/// A key of the OpenID key ring.
pub enum SigningKey {
    Rsa(RsaKey),
    Ec(Box<EcKey>),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg())
            .field("kid", &self.kid())
            .field("created", &self.created())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn kid(&self) -> &str {
        match self {
            SigningKey::Rsa(k) => &k.kid,
            SigningKey::Ec(k) => &k.kid,
        }
    }

    pub fn created(&self) -> i64 {
        match self {
            SigningKey::Rsa(k) => k.created,
            SigningKey::Ec(k) => k.created,
        }
    }

    pub fn alg(&self) -> SigningAlg {
        match self {
            SigningKey::Rsa(_) => SigningAlg::RS256,
            SigningKey::Ec(_) => SigningAlg::ES256,
        }
    }

    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match self {
            SigningKey::Rsa(k) => k.sign(message),
            SigningKey::Ec(k) => k.sign(message),
        }
    }

    pub fn decoding(&self) -> &jsonwebtoken::DecodingKey {
        match self {
            SigningKey::Rsa(k) => &k.decoding,
            SigningKey::Ec(k) => &k.decoding,
        }
    }

    /// The public JWK (RFC 7517 §4, RFC 7518 §6).
    pub(crate) fn jwk(&self) -> serde_json::Value {
        match self {
            SigningKey::Rsa(k) => serde_json::json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid, "n": k.n_b64, "e": k.e_b64,
            }),
            SigningKey::Ec(k) => serde_json::json!({
                "kty": "EC", "use": "sig", "alg": "ES256", "kid": k.kid, "crv": "P-256", "x": k.x_b64, "y": k.y_b64,
            }),
        }
    }
}

/// A P-256 key from its PKCS#8 PEM.
pub fn ec_from_pem(pem: &str, created: i64, what: &str) -> Result<EcKey, KeyError> {
    let (label, doc) =
        SecretDocument::from_pem(pem).map_err(|e| source_err(what, format!("not a PEM private key: {e}")))?;
    if label != "PRIVATE KEY" {
        return Err(source_err(what, format!("expected a PKCS#8 PRIVATE KEY, found {label}")));
    }
    EcKey::from_pkcs8(doc.as_bytes(), created, what)
}

/// A new P-256 key as PKCS#8 PEM.
pub fn generate_ec_pem() -> Result<String, KeyError> {
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let doc = SecretDocument::try_from(der.as_ref()).map_err(|e| KeyError::Generate(e.to_string()))?;
    Ok(doc.to_pem("PRIVATE KEY", LineEnding::LF).map_err(|e| KeyError::Generate(e.to_string()))?.to_string())
}

/// An RSA key from PKCS#8 or PKCS#1 PEM.
pub fn rsa_from_pem(pem: &str, created: i64, what: &str) -> Result<RsaKey, KeyError> {
    let key = RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|e| source_err(what, format!("not an RSA private key in PEM: {e}")))?;
    RsaKey::from_private(&key, created, what)
}

/// A new RSA-2048 key as PKCS#8 PEM.
pub fn generate_rsa_pem() -> Result<String, KeyError> {
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).map_err(|e| KeyError::Generate(e.to_string()))?;
    Ok(key.to_pkcs8_pem(LineEnding::LF).map_err(|e| KeyError::Generate(e.to_string()))?.to_string())
}

impl SigningKey {
    /// A signing key of `alg` from its PEM (`what` names where it came from in errors).
    pub fn from_pem(alg: SigningAlg, pem: &str, created: i64, what: &str) -> Result<SigningKey, KeyError> {
        match alg {
            SigningAlg::RS256 => rsa_from_pem(pem, created, what).map(SigningKey::Rsa),
            SigningAlg::ES256 => ec_from_pem(pem, created, what).map(|k| SigningKey::Ec(Box::new(k))),
        }
    }

    /// A new key of `alg` as PEM.
    pub fn generate_pem(alg: SigningAlg) -> Result<String, KeyError> {
        match alg {
            SigningAlg::RS256 => generate_rsa_pem(),
            SigningAlg::ES256 => generate_ec_pem(),
        }
    }
}

fn read_pem(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|e| file_err(path, e))
}

fn read_key(path: &Path, created: i64) -> Result<RsaKey, KeyError> {
    rsa_from_pem(&read_pem(path)?, created, &path.display().to_string())
}

fn generate_into(path: &Path) -> Result<(), KeyError> {
    write_secret_file(path, generate_rsa_pem()?.as_bytes())
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
    // Errors name the file asked for and its directory, not the temporary name nobody configured.
    let tmp_err = |e: std::io::Error| file_err(path, format!("{e} (writing a new file in {})", dir.display()));
    let mut f = opts.open(&tmp).map_err(tmp_err)?;
    f.write_all(contents).and_then(|_| f.sync_all()).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        tmp_err(e)
    })?;
    // hard_link fails if the target exists, which is the no-overwrite rule; then drop our copy.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(file_err(path, e)),
    }
}

/// The two key families of the ring: file-name prefix and algorithm.
#[derive(Clone, Copy)]
pub(crate) struct Family {
    prefix: &'static str,
    pub(crate) alg: SigningAlg,
}

pub(crate) const RSA_FAMILY: Family = Family { prefix: "oidc-", alg: SigningAlg::RS256 };
pub(crate) const EC_FAMILY: Family = Family { prefix: "oidc-es256-", alg: SigningAlg::ES256 };

/// A key file of `keys_dir`: its creation time (from the name), path and name.
pub(crate) type KeyFile = (i64, PathBuf, String);

impl Family {
    fn generate(self, dir: &Path, created: i64) -> Result<(), KeyError> {
        let path = dir.join(format!("{}{created}-{}.pem", self.prefix, &crate::crypto::secrets::random_token()[..8]));
        write_secret_file(&path, SigningKey::generate_pem(self.alg)?.as_bytes())
    }

    /// `<prefix><created>-<random>.pem` files, newest first. The RSA prefix `oidc-` also matches `oidc-es256-…`
    /// names, whose next segment is not a number, so each family sees only its own files.
    pub(crate) fn files(self, dir: &Path) -> Result<Vec<KeyFile>, KeyError> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(file_err(dir, e)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(stem) = name.strip_prefix(self.prefix).and_then(|s| s.strip_suffix(".pem")) else { continue };
            let created = stem.split('-').next().and_then(|c| c.parse::<i64>().ok());
            if let Some(created) = created {
                out.push((created, entry.path(), name));
            }
        }
        // Newest first; the name breaks ties so every replica agrees on the signer.
        out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.2.cmp(&a.2)));
        Ok(out)
    }

    /// Every key file of the family as ring entries (id = file name; each signed from its creation).
    fn entries(self, dir: &Path) -> Result<Vec<RingEntry>, KeyError> {
        self.files(dir)?
            .into_iter()
            .map(|(created, path, name)| {
                let key = SigningKey::from_pem(self.alg, &read_pem(&path)?, created, &path.display().to_string())?;
                Ok(RingEntry { id: name, key: Arc::new(key), created_at: created, signing_at: created })
            })
            .collect()
    }
}

/// A key file's PEM (for the one-time import into the database).
pub(crate) fn read_key_file(path: &Path) -> Result<String, KeyError> {
    read_pem(path)
}

/// Key rings from PEM files: the layout of `keys_dir` before keys moved into the database. Used by the one-time
/// import and by tests that need a ring without a database.
impl KeyRing {
    /// Loads the keys of `dir`, generating the first RSA key when there is none, and the first P-256 key when
    /// access tokens are to be signed with ES256 and there is none.
    pub fn load_or_create(dir: &Path, now: i64, access_alg: SigningAlg) -> Result<KeyRing, KeyError> {
        if RSA_FAMILY.files(dir)?.is_empty() {
            RSA_FAMILY.generate(dir, now)?;
        }
        if access_alg == SigningAlg::ES256 && EC_FAMILY.files(dir)?.is_empty() {
            EC_FAMILY.generate(dir, now)?;
        }
        Self::load(dir, now)
    }

    /// Every key of `dir`, scheduled at `now` (the newest of each family signs; older ones stay published until
    /// `MAX_JWT_LIFETIME` after their successor started signing).
    pub fn load(dir: &Path, now: i64) -> Result<KeyRing, KeyError> {
        let mut entries = RSA_FAMILY.entries(dir)?;
        entries.extend(EC_FAMILY.entries(dir)?);
        KeyRing::schedule(entries, now, MAX_JWT_LIFETIME)
    }

    /// Adds an RSA key (and a P-256 key when that family exists or ES256 is configured) to `dir` that signs at once.
    pub fn rotate(dir: &Path, now: i64, access_alg: SigningAlg) -> Result<KeyRing, KeyError> {
        let rsa = RSA_FAMILY.files(dir)?;
        let ec = EC_FAMILY.files(dir)?;
        // A strictly newer timestamp than any existing key, so the new key sorts first even within one second.
        let newest = rsa.iter().chain(ec.iter()).map(|f| f.0).max().unwrap_or(0);
        let created = now.max(newest + 1);
        RSA_FAMILY.generate(dir, created)?;
        if !ec.is_empty() || access_alg == SigningAlg::ES256 {
            EC_FAMILY.generate(dir, created)?;
        }
        Self::load(dir, created)
    }
}

/// The License API response signing key, created on first start and rotated only by an explicit command: client apps
/// pin its public key in the SDK configuration.
pub struct LicenseSigner {
    key: RsaKey,
}

impl std::fmt::Debug for LicenseSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LicenseSigner").field("kid", &self.key.kid).finish_non_exhaustive()
    }
}

impl LicenseSigner {
    pub fn from_pem(pem: &str, what: &str) -> Result<LicenseSigner, KeyError> {
        Ok(LicenseSigner { key: rsa_from_pem(pem, 0, what)? })
    }

    /// `keys_dir/license.pem`, created when missing (tests; installations before keys moved into the database).
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

/// 32 random bytes in `keys/cookie.key` (tests; installations before keys moved into the database).
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
        let ring = KeyRing::load_or_create(dir.path(), 1_000, SigningAlg::RS256).expect("ring");
        let first = ring.signer().kid().to_string();
        assert_eq!(ring.kids(), vec![first.clone()]);
        assert!(ring.signer_for(SigningAlg::ES256).is_err(), "no P-256 key unless ES256 is configured");
        // Loading again reuses the file.
        assert_eq!(KeyRing::load_or_create(dir.path(), 1_001, SigningAlg::RS256).expect("ring").signer().kid(), first);

        let rotated = KeyRing::rotate(dir.path(), 2_000, SigningAlg::RS256).expect("rotate");
        assert_ne!(rotated.signer().kid(), first);
        assert_eq!(rotated.kids().len(), 2, "the old key stays published");

        let later = KeyRing::load(dir.path(), 2_000 + MAX_JWT_LIFETIME + 1).expect("load");
        assert_eq!(later.kids(), vec![rotated.signer().kid().to_string()], "retired once its tokens expired");
        let jwks: serde_json::Value = serde_json::from_slice(&later.jwks_json()).expect("json");
        assert_eq!(jwks["keys"][0]["kty"], "RSA");
        assert_eq!(jwks["keys"][0]["alg"], "RS256");
    }

    #[test]
    fn es256_family_is_created_rotated_and_published() {
        let dir = tempfile::tempdir().expect("tmp");
        let rsa_only = KeyRing::load_or_create(dir.path(), 1_000, SigningAlg::RS256).expect("ring");
        let ring = KeyRing::load_or_create(dir.path(), 1_000, SigningAlg::ES256).expect("ring");
        assert_eq!(ring.signer().kid(), rsa_only.signer().kid(), "the RSA key is kept");
        let ec = ring.signer_for(SigningAlg::ES256).expect("P-256 key made").clone();
        assert_eq!(ec.alg(), SigningAlg::ES256);
        assert_eq!(ring.signer_for(SigningAlg::RS256).expect("rsa").alg(), SigningAlg::RS256);

        let jwks: serde_json::Value = serde_json::from_slice(&ring.jwks_json()).expect("json");
        let keys = jwks["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 2);
        let ec_jwk = keys.iter().find(|k| k["kty"] == "EC").expect("EC key published");
        assert_eq!(ec_jwk["crv"], "P-256");
        assert_eq!(ec_jwk["alg"], "ES256");
        assert_eq!(ec_jwk["kid"], ec.kid());
        // The published JWK verifies what the key signs (an independent path: jsonwebtoken from the JWK).
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(ec_jwk.clone()).expect("jwk");
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding key");
        let msg = b"header.payload";
        let sig = URL_SAFE_NO_PAD.encode(ec.sign(msg).expect("sign"));
        assert!(jsonwebtoken::crypto::verify(&sig, msg, &decoding, jsonwebtoken::Algorithm::ES256).expect("verify"));
        assert!(!jsonwebtoken::crypto::verify(&sig, b"header.other", &decoding, jsonwebtoken::Algorithm::ES256)
            .expect("verify"));

        // Reloading reads the same P-256 key; rotation renews both families and keeps the old ones published.
        let again = KeyRing::load(dir.path(), 1_001).expect("load");
        assert_eq!(again.signer_for(SigningAlg::ES256).expect("ec").kid(), ec.kid());
        let rotated = KeyRing::rotate(dir.path(), 2_000, SigningAlg::RS256).expect("rotate");
        assert_ne!(rotated.signer_for(SigningAlg::ES256).expect("ec").kid(), ec.kid());
        assert_eq!(rotated.kids().len(), 4);
        assert_eq!(rotated.describe().iter().filter(|d| d.2).count(), 2, "one signer per algorithm");
        let later = KeyRing::load(dir.path(), 2_000 + MAX_JWT_LIFETIME + 1).expect("load");
        assert_eq!(later.kids().len(), 2, "old keys of both families retire");
    }

    #[test]
    fn rs256_signatures_are_pkcs1_v1_5_byte_for_byte_and_verify_with_the_published_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("k.pem");
        generate_into(&path).expect("generate");
        let key = read_key(&path, 0).expect("load");
        let msg = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9";
        let sig = key.sign(msg).expect("sign");
        assert_eq!(sig.len(), 256);
        assert_eq!(key.sign(msg).expect("sign again"), sig, "PKCS#1 v1.5 is deterministic");

        // An independent implementation (ring) computes the same bytes from the same private key.
        let der = read_pem(&path).expect("pem");
        let private =
            RsaPrivateKey::from_pkcs8_pem(&der).or_else(|_| RsaPrivateKey::from_pkcs1_pem(&der)).expect("parse");
        let pkcs8 = private.to_pkcs8_der().expect("der");
        let pair = ring::signature::RsaKeyPair::from_pkcs8(pkcs8.as_bytes()).expect("ring key");
        let mut by_ring = vec![0u8; 256];
        pair.sign(&ring::signature::RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut by_ring).expect("ring sign");
        assert_eq!(by_ring, sig);

        // And the JWK components published for it verify it (jsonwebtoken), and nothing else.
        let b64 = URL_SAFE_NO_PAD.encode(&sig);
        assert!(jsonwebtoken::crypto::verify(&b64, msg, &key.decoding, jsonwebtoken::Algorithm::RS256).expect("v"));
        assert!(
            !jsonwebtoken::crypto::verify(&b64, b"other", &key.decoding, jsonwebtoken::Algorithm::RS256).expect("v")
        );

        // The kept signing contexts, reused by threads signing at once, sign every message as ring does.
        let ring_sign = |m: &[u8]| {
            let mut out = vec![0u8; 256];
            pair.sign(&ring::signature::RSA_PKCS1_SHA256, &SystemRandom::new(), m, &mut out).expect("ring sign");
            out
        };
        std::thread::scope(|s| {
            for t in 0..4 {
                let (key, ring_sign) = (&key, &ring_sign);
                s.spawn(move || {
                    for i in 0..20 {
                        let m = format!("thread {t} message {i}");
                        assert_eq!(key.sign(m.as_bytes()).expect("sign"), ring_sign(m.as_bytes()), "{m}");
                    }
                });
            }
        });
        let kept = key.contexts.lock().expect("lock").len();
        assert!((1..=KEPT_CONTEXTS).contains(&kept), "{kept} contexts kept");
    }
}
