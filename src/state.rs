//! Application state, built once at start-up and shared with every handler. No HTTP types: the server itself is
//! built in `startup.rs`.
use std::sync::{Arc, RwLock};

use crate::auth::password::{Lockout, PasswordCheck};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::keys::{load_or_create_cookie_key, KeyError, KeyRing, LicenseSigner};
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
    pub license_signer: LicenseSigner,
    /// Keys the CSRF MACs and device tokens.
    pub cookie_key: SecretBytes,
    /// argon2 on one thread per core, each reusing its memory block: however many logins arrive, at most that many
    /// run at once, which bounds both CPU queueing and memory.
    pub passwords: Passwords,
    pub lockout: Lockout,
    pub clock: Clock,
    /// The discovery document, serialised once (it only changes with the config).
    pub discovery_json: bytes::Bytes,
    pub metrics: crate::metrics::Metrics,
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
        let now = clock.now();
        let keys_dir = config.keys_dir.clone();
        let access_alg = config.access_token_signing_alg;
        let (ring, license_signer, cookie_key) = tokio::task::spawn_blocking(move || {
            Ok::<_, KeyError>((
                KeyRing::load_or_create(&keys_dir, now, access_alg)?,
                LicenseSigner::load_or_create(&keys_dir)?,
                load_or_create_cookie_key(&keys_dir)?,
            ))
        })
        .await
        .map_err(|e| StartError::Other(e.to_string()))??;
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
        let mailer =
            crate::mail::Mailer::from_config(&config).map_err(|e| StartError::Other(e.to_string()))?.map(Arc::new);
        Ok(AppState {
            config,
            store,
            keys: RwLock::new(Arc::new(ring)),
            license_signer,
            cookie_key: SecretBytes(cookie_key),
            passwords,
            lockout,
            clock,
            discovery_json,
            metrics: Default::default(),
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

    /// Picks up keys added by `keyway keys rotate` (possibly on another replica) and drops expired retired ones.
    pub fn reload_keys_if_changed(&self) -> Result<bool, KeyError> {
        let current = self.keys();
        if !current.changed_on_disk(&self.config.keys_dir) {
            return Ok(false);
        }
        let ring = KeyRing::load(&self.config.keys_dir, self.now())?;
        match self.keys.write() {
            Ok(mut k) => *k = Arc::new(ring),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(ring),
        }
        Ok(true)
    }
}
