//! The keys of an installation in its database (issue 15 item 1): created by the first process that starts (exactly
//! once under concurrent starts), sealed with the key-encryption key, loaded by every replica, rotated on a schedule.
//!
//! The KEK comes from `key_encryption_key` (env `KEYWAY_KEY_ENCRYPTION_KEY`). Without it, and only while the
//! database holds no keys yet, the first start writes one to `<keys_dir>/kek.key` and later runs read it from there:
//! one process needs no configuration. A database that holds keys and a process without a KEK refuse to start.
//!
//! Installations from before: the PEM files of `keys_dir` (`oidc-*.pem`, `oidc-es256-*.pem`, `license.pem`,
//! `cookie.key`) are imported into the first key set, once; the files are not read again.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::kek::{Kek, KekError};
use super::key_ring::{KeyRing, RingEntry};
use super::keys::{
    read_key_file, write_secret_file, Family, KeyError, LicenseSigner, SigningAlg, SigningKey, EC_FAMILY,
    MAX_JWT_LIFETIME, RSA_FAMILY,
};
use super::secrets::{Secret, SecretBytes};
use crate::config::Config;
use crate::store::keys::{KeyPurpose, KeyRow};
use crate::store::{Store, StoreError};

/// The KEK file written on a first start without `key_encryption_key`.
pub const KEK_FILE: &str = "kek.key";

const RSA_INITIAL: &str = "oidc-rs256-initial";
const EC_INITIAL: &str = "oidc-es256-initial";
const LICENSE_INITIAL: &str = "license-initial";
/// The claim of the first key set (`Store::insert_first_keys`): inserted first, by exactly one process.
const COOKIE_INITIAL: &str = "cookie-initial";

#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    #[error(
        "the database holds sealed keys but no key-encryption key is configured: set `key_encryption_key` (env \
         KEYWAY_KEY_ENCRYPTION_KEY) to the KEK the other replicas use (no {} either)",
        kek_file.display()
    )]
    NoKek { kek_file: PathBuf },
    #[error("no keys in the database yet: run `keyway migrate` or `keyway serve` first")]
    NoKeys,
    #[error("database key {id}: {source}")]
    Open { id: String, source: KekError },
    #[error("{0}")]
    Kek(#[from] KekError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("key task: {0}")]
    Task(String),
}

/// What the key set needs from the configuration.
#[derive(Debug, Clone)]
pub struct KeySettings {
    pub keys_dir: PathBuf,
    pub kek: Option<Secret>,
    pub access_alg: SigningAlg,
    /// Seconds between `keyway keys rotate` and the new key signing.
    pub publication_delay: i64,
    /// Seconds a retired key stays published: the longest lifetime of a JWT it signed.
    pub retention: i64,
}

impl KeySettings {
    pub fn from_config(c: &Config) -> KeySettings {
        KeySettings {
            keys_dir: c.keys_dir.clone(),
            kek: c.key_encryption_key.clone(),
            access_alg: c.access_token_signing_alg,
            publication_delay: c.key_publication_delay,
            // Access and id tokens take the configured lifetimes; minted SSO tokens and product overrides are capped
            // at MAX_JWT_LIFETIME (which includes clock skew). Refresh tokens are opaque, signed by no key.
            retention: c.access_token_ttl.max(c.id_token_ttl).max(MAX_JWT_LIFETIME - 300) + 300,
        }
    }
}

/// The keys loaded from the database.
pub struct LoadedKeys {
    pub ring: KeyRing,
    pub license: LicenseSigner,
    pub cookie: SecretBytes,
    /// Ids and schedules of the rows: a reload that finds the same skips decoding.
    pub fingerprint: String,
}

/// The KEK: configured, or the `kek.key` file of `keys_dir`, written first when `create`.
pub fn resolve_kek(settings: &KeySettings, create: bool) -> Result<Option<Kek>, KeySetError> {
    if let Some(k) = &settings.kek {
        return Ok(Some(Kek::parse(k.expose())?));
    }
    let path = settings.keys_dir.join(KEK_FILE);
    if !path.exists() {
        if !create {
            return Ok(None);
        }
        // Never overwrites: a process that loses the race reads the winner's file.
        write_secret_file(&path, Kek::generate().as_bytes())?;
    }
    let text =
        std::fs::read_to_string(&path).map_err(|e| KeyError::File { path: path.clone(), reason: e.to_string() })?;
    Ok(Some(Kek::parse(text.trim())?))
}

/// `serve`, `migrate`, `demo`: the installation's keys, created on the first start.
pub async fn open(store: &Store, settings: &KeySettings, now: i64) -> Result<(Arc<Kek>, LoadedKeys), KeySetError> {
    let has_keys = store.has_keys().await?;
    let kek = match resolve_kek(settings, !has_keys)? {
        Some(k) => Arc::new(k),
        None => return Err(KeySetError::NoKek { kek_file: settings.keys_dir.join(KEK_FILE) }),
    };
    if !has_keys {
        let (k, s) = (kek.clone(), settings.clone());
        let rows = tokio::task::spawn_blocking(move || first_rows(&k, &s, now))
            .await
            .map_err(|e| KeySetError::Task(e.to_string()))??;
        if store.insert_first_keys(&rows).await? {
            tracing::info!(kek = kek.primary_id(), keys = rows.len(), "created the key set in the database");
        }
    }
    if settings.access_alg == SigningAlg::ES256 {
        ensure_ec_family(store, &kek, now).await?;
    }
    store.set_kek(kek.clone());
    store.seal_plaintext_idp_secrets().await?;
    let loaded = load(store, &kek, settings, now).await?;
    Ok((kek, loaded))
}

/// CLI commands other than `serve`/`migrate`/`demo`: the existing keys, never created.
pub async fn open_existing(
    store: &Store,
    settings: &KeySettings,
    now: i64,
) -> Result<(Arc<Kek>, LoadedKeys), KeySetError> {
    if !store.has_keys().await? {
        return Err(KeySetError::NoKeys);
    }
    let kek = match resolve_kek(settings, false)? {
        Some(k) => Arc::new(k),
        None => return Err(KeySetError::NoKek { kek_file: settings.keys_dir.join(KEK_FILE) }),
    };
    store.set_kek(kek.clone());
    let loaded = load(store, &kek, settings, now).await?;
    Ok((kek, loaded))
}

/// Reads and opens every key of the database.
pub async fn load(store: &Store, kek: &Kek, settings: &KeySettings, now: i64) -> Result<LoadedKeys, KeySetError> {
    let rows = store.list_keys().await?;
    decode(&rows, kek, settings, now)
}

/// The fingerprint of a set of rows (`LoadedKeys::fingerprint`).
pub fn fingerprint(rows: &[KeyRow]) -> String {
    rows.iter().map(|r| format!("{}@{};", r.id, r.signing_at)).collect()
}

fn context(id: &str) -> String {
    format!("keys/{id}")
}

fn open_row(kek: &Kek, r: &KeyRow) -> Result<Vec<u8>, KeySetError> {
    kek.open(&context(&r.id), &r.sealed).map_err(|source| KeySetError::Open { id: r.id.clone(), source })
}

fn open_pem(kek: &Kek, r: &KeyRow) -> Result<String, KeySetError> {
    String::from_utf8(open_row(kek, r)?)
        .map_err(|_| KeySetError::Keys(KeyError::Generate(format!("database key {}: not UTF-8 PEM", r.id))))
}

/// The current key of a single-key purpose: the last with `signing_at` ≤ now (rows come ordered by `signing_at`).
fn current(rows: &[KeyRow], purpose: KeyPurpose, now: i64) -> Option<&KeyRow> {
    let of: Vec<&KeyRow> = rows.iter().filter(|r| r.purpose == purpose).collect();
    of.iter().rev().find(|r| r.signing_at <= now).or(of.first()).copied()
}

/// Opens and parses rows read with `Store::list_keys`.
pub fn decode(rows: &[KeyRow], kek: &Kek, settings: &KeySettings, now: i64) -> Result<LoadedKeys, KeySetError> {
    let mut entries = Vec::new();
    for r in rows.iter().filter(|r| r.purpose == KeyPurpose::Oidc) {
        let alg = match r.alg.as_str() {
            "ES256" => SigningAlg::ES256,
            _ => SigningAlg::RS256,
        };
        let what = format!("database key {}", r.id);
        let key = SigningKey::from_pem(alg, &open_pem(kek, r)?, r.created_at, &what)?;
        entries.push(RingEntry {
            id: r.id.clone(),
            key: Arc::new(key),
            created_at: r.created_at,
            signing_at: r.signing_at,
        });
    }
    let ring = KeyRing::schedule(entries, now, settings.retention)?;
    let license_row = current(rows, KeyPurpose::License, now).ok_or(KeySetError::NoKeys)?;
    let license = LicenseSigner::from_pem(&open_pem(kek, license_row)?, &format!("database key {}", license_row.id))?;
    let cookie_row = current(rows, KeyPurpose::Cookie, now).ok_or(KeySetError::NoKeys)?;
    let cookie = SecretBytes(open_row(kek, cookie_row)?);
    Ok(LoadedKeys { ring, license, cookie, fingerprint: fingerprint(rows) })
}

fn sealed_row(
    kek: &Kek,
    id: String,
    purpose: KeyPurpose,
    alg: &str,
    secret: &[u8],
    created_at: i64,
    signing_at: i64,
) -> Result<KeyRow, KeySetError> {
    let sealed = kek.seal(&context(&id), secret)?;
    Ok(KeyRow { id, purpose, alg: alg.into(), sealed, created_at, signing_at })
}

/// The first key set: the files of `keys_dir` where there are some (one-time import), new keys otherwise. The cookie
/// key comes first: it is the claim.
fn first_rows(kek: &Kek, settings: &KeySettings, now: i64) -> Result<Vec<KeyRow>, KeySetError> {
    let dir = &settings.keys_dir;
    let cookie_file = dir.join("cookie.key");
    let cookie = if cookie_file.exists() {
        std::fs::read(&cookie_file).map_err(|e| KeyError::File { path: cookie_file.clone(), reason: e.to_string() })?
    } else {
        super::secrets::random_token().into_bytes()
    };
    let mut rows = vec![sealed_row(kek, COOKIE_INITIAL.into(), KeyPurpose::Cookie, "HS256", &cookie, now, now)?];
    let license_file = dir.join("license.pem");
    let license = if license_file.exists() { read_key_file(&license_file)? } else { super::keys::generate_rsa_pem()? };
    rows.push(sealed_row(kek, LICENSE_INITIAL.into(), KeyPurpose::License, "RS256", license.as_bytes(), now, now)?);
    for (family, initial, wanted) in
        [(RSA_FAMILY, RSA_INITIAL, true), (EC_FAMILY, EC_INITIAL, settings.access_alg == SigningAlg::ES256)]
    {
        let imported = import_family(kek, family, dir)?;
        if imported.is_empty() && wanted {
            let pem = SigningKey::generate_pem(family.alg)?;
            rows.push(sealed_row(
                kek,
                initial.into(),
                KeyPurpose::Oidc,
                family.alg.as_str(),
                pem.as_bytes(),
                now,
                now,
            )?);
        }
        rows.extend(imported);
    }
    Ok(rows)
}

/// A family's key files as rows, each signing from its creation time as before (the newest signs).
fn import_family(kek: &Kek, family: Family, dir: &Path) -> Result<Vec<KeyRow>, KeySetError> {
    let mut rows = Vec::new();
    for (created, path, name) in family.files(dir)? {
        let pem = read_key_file(&path)?;
        // Parse once so a broken file fails the import, not a later start.
        SigningKey::from_pem(family.alg, &pem, created, &path.display().to_string())?;
        let id: String = format!("import-{}", name.trim_end_matches(".pem")).chars().take(64).collect();
        rows.push(sealed_row(kek, id, KeyPurpose::Oidc, family.alg.as_str(), pem.as_bytes(), created, created)?);
    }
    Ok(rows)
}

/// Access tokens switched to ES256 after the key set was made: add the first P-256 key (a fixed id, so concurrent
/// starts add one).
async fn ensure_ec_family(store: &Store, kek: &Kek, now: i64) -> Result<(), KeySetError> {
    let rows = store.list_keys().await?;
    if rows.iter().any(|r| r.purpose == KeyPurpose::Oidc && r.alg == "ES256") {
        return Ok(());
    }
    let pem = SigningKey::generate_pem(SigningAlg::ES256)?;
    let row = sealed_row(kek, EC_INITIAL.into(), KeyPurpose::Oidc, "ES256", pem.as_bytes(), now, now)?;
    store.insert_keys(&[row]).await?;
    Ok(())
}

/// `keyway keys rotate`: a new key per family, published now and signing after `publication_delay`; keys removed
/// from the JWKS are deleted. Returns the new rows.
pub async fn rotate(store: &Store, kek: &Kek, settings: &KeySettings, now: i64) -> Result<Vec<KeyRow>, KeySetError> {
    let loaded = load(store, kek, settings, now).await?;
    let statuses = loaded.ring.statuses();
    let latest = statuses.iter().map(|s| s.signing_at).max().unwrap_or(now);
    // Later than any key already scheduled, so the new keys are the last to start signing.
    let signing_at = (now + settings.publication_delay).max(latest + 1);
    let has_ec = statuses.iter().any(|s| s.alg == SigningAlg::ES256);
    let mut rows = Vec::new();
    for alg in [SigningAlg::RS256, SigningAlg::ES256] {
        if alg == SigningAlg::ES256 && !has_ec && settings.access_alg != SigningAlg::ES256 {
            continue;
        }
        let pem = tokio::task::spawn_blocking(move || SigningKey::generate_pem(alg))
            .await
            .map_err(|e| KeySetError::Task(e.to_string()))??;
        let id = format!("oidc-{}", uuid::Uuid::new_v4().simple());
        rows.push(sealed_row(kek, id, KeyPurpose::Oidc, alg.as_str(), pem.as_bytes(), now, signing_at)?);
    }
    store.insert_keys(&rows).await?;
    let removed: Vec<String> =
        statuses.iter().filter(|s| s.state == super::key_ring::KeyState::Removed).map(|s| s.id.clone()).collect();
    store.delete_keys(&removed).await?;
    Ok(rows)
}

/// `keyway keys rotate-license-key`: a new License API response key that signs at once (SDKs pin the old one: see
/// the README before running it).
pub async fn rotate_license_key(store: &Store, kek: &Kek, now: i64) -> Result<LicenseSigner, KeySetError> {
    let rows = store.list_keys().await?;
    let latest = rows.iter().filter(|r| r.purpose == KeyPurpose::License).map(|r| r.signing_at).max().unwrap_or(0);
    let pem = tokio::task::spawn_blocking(super::keys::generate_rsa_pem)
        .await
        .map_err(|e| KeySetError::Task(e.to_string()))??;
    let id = format!("license-{}", uuid::Uuid::new_v4().simple());
    let signing_at = now.max(latest + 1);
    let row = sealed_row(kek, id.clone(), KeyPurpose::License, "RS256", pem.as_bytes(), now, signing_at)?;
    store.insert_keys(&[row]).await?;
    Ok(LicenseSigner::from_pem(&pem, &format!("database key {id}"))?)
}

/// `keyway keys rewrap`: re-seals every key and IdP secret not yet sealed under the first KEK. Returns how many.
pub async fn rewrap(store: &Store, kek: &Kek) -> Result<usize, KeySetError> {
    let rows = store.list_keys().await?;
    let mut resealed = Vec::new();
    for r in rows.iter().filter(|r| !kek.is_current(&r.sealed)) {
        let plain = open_row(kek, r)?;
        resealed.push((r.id.clone(), kek.seal(&context(&r.id), &plain)?));
    }
    let n = resealed.len();
    store.reseal_keys(&resealed).await?;
    Ok(n + store.rewrap_idp_secrets(kek).await? + store.rewrap_totp_secrets(kek).await?)
}
