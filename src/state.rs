//! Application state, built once at start-up and shared with every handler through `web::Data`.
use std::net::TcpListener;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::keys::{load_or_create_cookie_key, KeyError, KeyRing, LicenseSigner};
use crate::crypto::password::{HashPool, PasswordError, PasswordHasherConfig};
use crate::oauth::discovery;
use crate::store::{Store, StoreError};

pub struct AppState {
    pub config: Config,
    pub store: Store,
    keys: RwLock<Arc<KeyRing>>,
    pub license_signer: LicenseSigner,
    pub cookie_key: Vec<u8>,
    pub passwords: PasswordHasherConfig,
    pub clock: Clock,
    /// The discovery document, serialised once (it only changes with the config).
    pub discovery_json: actix_web::web::Bytes,
    pub metrics: crate::metrics::Metrics,
    /// One thread per core for argon2 verification, each reusing its memory block: however many logins arrive,
    /// at most that many run at once, which bounds both CPU queueing and memory.
    password_pool: HashPool,
}

impl AppState {
    pub async fn new(config: Config, clock: Clock) -> Result<AppState, StartError> {
        let store = Store::connect(&config.database_url, config.db_max_connections).await?;
        store.migrate().await?;
        let now = clock.now();
        let keys_dir = config.keys_dir.clone();
        let access_alg = config.access_token_signing_alg;
        let (ring, license_signer, cookie_key) = tokio::task::spawn_blocking(move || {
            Ok::<_, KeyError>((KeyRing::load_or_create(&keys_dir, now, access_alg)?, LicenseSigner::load_or_create(&keys_dir)?, load_or_create_cookie_key(&keys_dir)?))
        })
        .await
        .map_err(|e| StartError::Other(e.to_string()))??;
        let (m, t, p) = (config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism);
        let passwords = tokio::task::spawn_blocking(move || PasswordHasherConfig::new(m, t, p))
            .await
            .map_err(|e| StartError::Other(e.to_string()))??;
        let password_pool = HashPool::start(passwords.clone(), cores()).map_err(|e| StartError::Other(format!("starting the password threads: {e}")))?;
        let discovery_json = actix_web::web::Bytes::from(discovery::document(&config.issuer).map_err(|e| StartError::Other(e.to_string()))?);
        Ok(AppState { config, store, keys: RwLock::new(Arc::new(ring)), license_signer, cookie_key, passwords, clock, discovery_json, metrics: Default::default(), password_pool })
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Verifies a password (or burns the same time against the dummy hash when `stored` is None) on the password
    /// threads.
    pub async fn verify_password(&self, password: &str, stored: Option<String>) -> bool {
        self.password_pool.verify(password, stored).await
    }

    /// The current key ring (cheap: an `Arc` clone).
    pub fn keys(&self) -> Arc<KeyRing> {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Picks up keys added by `keyway keys rotate` (possibly on another replica) and drops expired retired ones.
    pub fn reload_keys_if_changed(&self) -> Result<bool, KeyError> {
        let current = self.keys();
        let now = self.now();
        if !current.changed_on_disk(&self.config.keys_dir) {
            return Ok(false);
        }
        let ring = KeyRing::load(&self.config.keys_dir, now)?;
        match self.keys.write() {
            Ok(mut k) => *k = Arc::new(ring),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(ring),
        }
        Ok(true)
    }
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

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// A built, bound server: `port` is the real port (tests bind port 0).
pub struct Application {
    pub port: u16,
    pub server: Server,
    pub state: web::Data<AppState>,
}

impl Application {
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Builds the whole application: state, background tasks and the bound HTTP server.
pub async fn build(config: Config, clock: Clock) -> Result<Application, StartError> {
    let listener = TcpListener::bind(&config.bind).map_err(|e| StartError::Bind { addr: config.bind.clone(), source: e })?;
    build_with_listener(config, clock, listener).await
}

/// As `build`, on a listener bound by the caller (tests bind port 0 first, to know the issuer URL).
pub async fn build_with_listener(config: Config, clock: Clock, listener: TcpListener) -> Result<Application, StartError> {
    let port = listener.local_addr().map_err(|e| StartError::Other(e.to_string()))?.port();
    let workers = if config.workers == 0 { cores() } else { config.workers };
    let state = web::Data::new(AppState::new(config, clock).await?);
    spawn_background(state.clone());
    let data = state.clone();
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).wrap(actix_web::middleware::from_fn(crate::http::health::count_response)).configure(crate::http::configure)
    })
        .workers(workers)
        .backlog(2048)
        .keep_alive(Duration::from_secs(30))
        .listen(listener)
        .map_err(|e| StartError::Other(e.to_string()))?
        .run();
    Ok(Application { port, server, state })
}

/// Key reload every 10 s and the expired-row sweep every 5 min, for as long as the runtime lives.
fn spawn_background(state: web::Data<AppState>) {
    let s = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
            let st = s.clone();
            match tokio::task::spawn_blocking(move || st.reload_keys_if_changed()).await {
                Ok(Ok(true)) => tracing::info!(kids = ?s.keys().kids(), "signing keys reloaded"),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "reloading signing keys failed"),
                Err(e) => tracing::error!(error = %e, "key reload task failed"),
            }
        }
    });
    tokio::spawn(async move {
        // Not at start-up: replicas starting together (or a restart under load) should not all sweep at once.
        let period = Duration::from_secs(300);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tick.tick().await;
            match state.store.sweep_expired(state.now()).await {
                Ok(n) if n > 0 => tracing::info!(rows = n, "expired rows swept"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "sweeping expired rows failed"),
            }
        }
    });
}
