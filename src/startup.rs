//! Start-up: the HTTP server, its workers and the background jobs, around the state built in `state.rs`.
use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::clock::Clock;
use crate::config::Config;
use crate::state::{cores, AppState, StartError};

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

/// Builds the whole application: state, background jobs and the bound HTTP server.
pub async fn build(config: Config, clock: Clock) -> Result<Application, StartError> {
    let listener =
        TcpListener::bind(&config.bind).map_err(|e| StartError::Bind { addr: config.bind.clone(), source: e })?;
    build_with_listener(config, clock, listener).await
}

/// As `build`, on a listener bound by the caller (tests bind port 0 first, to know the issuer URL).
pub async fn build_with_listener(
    config: Config,
    clock: Clock,
    listener: TcpListener,
) -> Result<Application, StartError> {
    let port = listener.local_addr().map_err(|e| StartError::Other(e.to_string()))?.port();
    let workers = if config.workers == 0 { cores() } else { config.workers };
    let state = web::Data::new(AppState::new(config, clock).await?);
    spawn_background(state.clone());
    let data = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(from_fn(crate::http::lang::remember))
            .wrap(from_fn(crate::http::observe))
            .configure(crate::http::configure)
    })
    .workers(workers)
    .backlog(2048)
    .keep_alive(Duration::from_secs(30))
    .listen(listener)
    .map_err(|e| StartError::Other(e.to_string()))?
    .run();
    Ok(Application { port, server, state })
}

/// Key reload every 10 s, the expired-row sweep every 5 min and (SQLite) a WAL checkpoint every 30 s, for as long
/// as the runtime lives.
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
    let s = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            if let Err(e) = s.store.checkpoint().await {
                tracing::warn!(error = %e, "WAL checkpoint failed");
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
