//! Application state, built once at start-up and shared with every handler. No HTTP types: the server itself is
//! built in `startup.rs`.
use std::sync::{Arc, Mutex, RwLock};

use crate::auth::password::{Lockout, PasswordCheck};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::kek::Kek;
use crate::crypto::keys::{KeyError, KeyRing, LicenseSigner};
use crate::crypto::keyset::{self, KeySetError, KeySettings};
use crate::crypto::password::{PasswordError, PasswordHasherConfig, Passwords};
use crate::crypto::secrets::SecretBytes;
use crate::oauth::discovery;
use crate::oauth::tokens::{Signer, Verifier};
use crate::store::throttle::Limits;
use crate::store::{Store, StoreError};

pub struct AppState {
    pub config: Config,
    pub store: Store,
    keys: RwLock<Arc<KeyRing>>,
    license_signer: RwLock<Arc<LicenseSigner>>,
    /// Keys the CSRF MACs and device tokens.
    pub cookie_key: SecretBytes,
    /// Opens the keys of the database (issue 15).
    kek: Arc<Kek>,
    pub key_settings: KeySettings,
    /// `keyset::fingerprint` of the rows the keys were loaded from: a reload that reads the same skips decoding.
    key_fingerprint: Mutex<String>,
    /// argon2 on one thread per core, each reusing its memory block: however many logins arrive, at most that many
    /// run at once, which bounds both CPU queueing and memory.
    pub passwords: Passwords,
    pub lockout: Lockout,
    pub clock: Clock,
    /// The discovery document, serialised once (it only changes with the config).
    pub discovery_json: bytes::Bytes,
    pub metrics: crate::metrics::Metrics,
    pub rate_limits: crate::ratelimit::RateLimits,
    /// The HTTP client and discovery cache for customers' identity providers.
    pub federation: crate::federation::Federation,
    /// Outgoing mail (the `smtp_*` keys); None hides "forgot password" and verification mails.
    pub mailer: Option<Arc<crate::mail::Mailer>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    KeySet(#[from] KeySetError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("binding {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

impl AppState {
    pub async fn new(config: Config, clock: Clock) -> Result<AppState, StartError> {
        let store = Store::open(&config.database_url, config.db_max_connections).await?;
        let key_settings = KeySettings::from_config(&config);
        let (kek, loaded) = keyset::open(&store, &key_settings, clock.now()).await?;
        let (m, t, p) = (config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism);
        let hasher = tokio::task::spawn_blocking(move || PasswordHasherConfig::new(m, t, p))
            .await
            .map_err(|e| StartError::Other(e.to_string()))??;
        let passwords = Passwords::start(hasher, cores())
            .map_err(|e| StartError::Other(format!("starting the password threads: {e}")))?;
        let discovery_json = bytes::Bytes::from(discovery::document(&config.issuer).map_err(StartError::Other)?);
        let lockout = Lockout {
            untrusted: Limits {
                threshold: config.lockout_threshold,
                window: config.lockout_window,
                lock_seconds: config.lockout_seconds,
            },
            known_device: Limits {
                threshold: config.lockout_device_threshold,
                window: config.lockout_window,
                lock_seconds: config.lockout_seconds,
            },
        };
        let rate_limits = crate::ratelimit::RateLimits::new(&config);
        let mailer =
            crate::mail::Mailer::from_config(&config).map_err(|e| StartError::Other(e.to_string()))?.map(Arc::new);
        Ok(AppState {
            config,
            store,
            keys: RwLock::new(Arc::new(loaded.ring)),
            license_signer: RwLock::new(Arc::new(loaded.license)),
            cookie_key: loaded.cookie,
            kek,
            key_settings,
            key_fingerprint: Mutex::new(loaded.fingerprint),
            passwords,
            lockout,
            clock,
            discovery_json,
            metrics: Default::default(),
            rate_limits,
            federation: crate::federation::Federation::new()
                .map_err(|e| StartError::Other(format!("HTTP client: {e}")))?,
            mailer,
        })
    }

    /// The time of this request, read once by the handler and passed down.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The current key ring (cheap: an `Arc` clone).
    pub fn keys(&self) -> Arc<KeyRing> {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn signer<'a>(&'a self, keys: &'a KeyRing) -> Signer<'a> {
        Signer { issuer: &self.config.issuer, keys, access_alg: self.config.access_token_signing_alg }
    }

    pub fn verifier<'a>(&'a self, keys: &'a KeyRing) -> Verifier<'a> {
        Verifier { issuer: &self.config.issuer, keys }
    }

    pub fn password_check(&self) -> PasswordCheck<'_> {
        PasswordCheck { store: &self.store, passwords: &self.passwords, lockout: &self.lockout }
    }

    /// The License API response signing key (cheap: an `Arc` clone).
    pub fn license_signer(&self) -> Arc<LicenseSigner> {
        match self.license_signer.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_keys(&self, ring: KeyRing) {
        match self.keys.write() {
            Ok(mut k) => *k = Arc::new(ring),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(ring),
        }
    }

    /// A scheduled transition has come (a published key starts signing, a retired one leaves the JWKS): rebuild the
    /// ring from the keys in memory. True when it changed.
    pub fn advance_keys(&self) -> Result<bool, KeyError> {
        let now = self.now();
        let current = self.keys();
        if !current.due(now) {
            return Ok(false);
        }
        self.set_keys(current.at(now)?);
        Ok(true)
    }

    /// Re-reads the keys from the database (after a `keys` notification, a listener reconnect, or on the fallback
    /// timer): decodes them only when rows were added, rescheduled or removed. True when something changed.
    pub async fn reload_keys(&self) -> Result<bool, KeySetError> {
        let rows = self.store.list_keys().await?;
        let fingerprint = keyset::fingerprint(&rows);
        let same = self.key_fingerprint.lock().map(|f| *f == fingerprint).unwrap_or(false);
        if same {
            return Ok(self.advance_keys()?);
        }
        let loaded = keyset::decode(&rows, &self.kek, &self.key_settings, self.now())?;
        self.set_keys(loaded.ring);
        match self.license_signer.write() {
            Ok(mut k) => *k = Arc::new(loaded.license),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(loaded.license),
        }
        if let Ok(mut f) = self.key_fingerprint.lock() {
            *f = fingerprint;
        }
        Ok(true)
    }
}
