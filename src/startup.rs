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
    /// `/metrics` on its own address (`metrics_bind`), with its port.
    pub metrics: Option<(u16, Server)>,
    pub state: web::Data<AppState>,
}

impl Application {
    /// Runs until both servers stop (by `stop`, or in tests with the runtime).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics {
            Some((_, m)) => futures_util::future::try_join(self.server, m).await.map(|_| ()),
            None => self.server.await,
        }
    }

    /// `keyway serve`: runs until SIGTERM or SIGINT, then stops accepting connections and lets requests in flight
    /// finish for up to `shutdown_timeout` seconds (actix's graceful stop) before the workers are stopped.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        let mut handles = vec![self.server.handle()];
        handles.extend(self.metrics.as_ref().map(|(_, m)| m.handle()));
        let drain = self.state.config.shutdown_timeout;
        tokio::spawn(async move {
            let signal = shutdown_signal().await;
            tracing::info!(signal, drain_seconds = drain, "shutting down: new connections refused, draining requests");
            futures_util::future::join_all(handles.iter().map(|h| h.stop(true))).await;
        });
        let result = self.run_until_stopped().await;
        tracing::info!("stopped");
        result
    }
}

/// The first of SIGTERM (docker stop, systemd, Kubernetes) and SIGINT (Ctrl-C); both drain gracefully.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
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
    let metrics_listener = match &config.metrics_bind {
        Some(addr) => Some(TcpListener::bind(addr).map_err(|e| StartError::Bind { addr: addr.clone(), source: e })?),
        None => None,
    };
    let public_metrics = metrics_listener.is_none();
    let drain = Duration::from_secs(config.shutdown_timeout);
    let state = web::Data::new(AppState::new(config, clock).await?);
    spawn_background(state.clone());
    let data = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(from_fn(crate::http::lang::remember))
            .wrap(from_fn(crate::http::observe))
            .configure(|cfg| crate::http::configure(cfg, public_metrics))
    })
    .workers(workers)
    .backlog(2048)
    .keep_alive(Duration::from_secs(30))
    // Signals are handled by `run_until_signalled` (SIGINT drains too; actix would stop at once on it).
    .disable_signals()
    .shutdown_timeout(drain.as_secs())
    .listen(listener)
    .map_err(|e| StartError::Other(e.to_string()))?
    .run();
    let metrics = match metrics_listener {
        Some(l) => {
            let mport = l.local_addr().map_err(|e| StartError::Other(e.to_string()))?.port();
            let data = state.clone();
            let m = HttpServer::new(move || {
                App::new().app_data(data.clone()).configure(crate::http::health::configure_metrics)
            })
            .workers(1)
            .disable_signals()
            .shutdown_timeout(drain.as_secs())
            .listen(l)
            .map_err(|e| StartError::Other(e.to_string()))?
            .run();
            Some((mport, m))
        }
        None => None,
    };
    Ok(Application { port, server, metrics, state })
}

/// Key schedule and reload, invalidations (PostgreSQL), idle rate-limit entries forgotten every minute, the expired-row sweep every 5 min and (SQLite) a WAL
/// checkpoint every 30 s, for as long as the runtime lives.
fn spawn_background(state: web::Data<AppState>) {
    let s = state.clone();
    tokio::spawn(async move {
        // Rotation is time-driven (a published key starts signing at its `signing_at`): checking the schedule costs
        // no database read, so once a second.
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            match s.advance_keys() {
                Ok(true) => tracing::info!(kids = ?s.keys().kids(), "signing key schedule advanced"),
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "advancing the key schedule failed"),
            }
        }
    });
    let s = state.clone();
    tokio::spawn(async move {
        // PostgreSQL replicas hear about key changes at once (`listen_for_invalidations`); this re-read is the
        // fallback. SQLite has one server process, but `keyway keys rotate` runs as another: 10 s as before.
        let period = match s.store.engine() {
            crate::store::Engine::Sqlite => Duration::from_secs(10),
            crate::store::Engine::Postgres => Duration::from_secs(60),
        };
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tick.tick().await;
            reload_keys(&s).await;
        }
    });
    tokio::spawn(listen_for_invalidations(state.clone()));
    let s = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            s.rate_limits.forget_idle();
        }
    });
    let s = state.clone();
    tokio::spawn(async move { s.store.run_checkpoints().await });
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

async fn reload_keys(state: &AppState) {
    match state.reload_keys().await {
        Ok(true) => tracing::info!(kids = ?state.keys().kids(), "signing keys reloaded"),
        Ok(false) => {}
        Err(e) => tracing::error!(error = %e, "reloading signing keys failed"),
    }
}

/// PostgreSQL (issue 15 item 3): other replicas `NOTIFY` when they change keys, products, accounts or API keys; this
/// process drops its caches or re-reads its keys within a round trip. When the listening connection is lost (a
/// PostgreSQL restart), notifications may have been missed: after reconnecting, everything cached is dropped and the
/// keys re-read. SQLite: nothing to listen to.
async fn listen_for_invalidations(state: web::Data<AppState>) {
    let mut first = true;
    loop {
        let mut listener = match state.store.listen().await {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "invalidation listener: connecting failed, retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if !first {
            tracing::info!("invalidation listener reconnected: dropping caches, re-reading keys");
            state.store.clear_caches();
            reload_keys(&state).await;
        }
        first = false;
        loop {
            match listener.next().await {
                Ok(crate::store::keys::Invalidation::Caches) => state.store.clear_caches(),
                Ok(crate::store::keys::Invalidation::Keys) => reload_keys(&state).await,
                Err(e) => {
                    tracing::warn!(error = %e, "invalidation listener lost; reconnecting");
                    state.store.clear_caches();
                    break;
                }
            }
        }
    }
}
