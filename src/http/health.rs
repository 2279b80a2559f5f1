//! `GET /` (the SDKs' online check), `/healthz` (process up) and `/readyz` (database reachable).
use actix_web::{web, HttpResponse};

use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(get_root))
        .route("/healthz", web::get().to(get_healthz))
        .route("/readyz", web::get().to(get_readyz));
}

/// `/metrics`: on the main server, or alone on `metrics_bind`.
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(get_metrics));
}

async fn get_root() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(r#"{"name":"keyway","status":"ok"}"#)
}

async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(r#"{"status":"ok"}"#)
}

async fn get_readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().content_type("application/json").body(r#"{"status":"ok","database":"ok"}"#),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            HttpResponse::ServiceUnavailable()
                .content_type("application/json")
                .body(r#"{"status":"unavailable","database":"unreachable"}"#)
        }
    }
}

async fn get_metrics(state: web::Data<AppState>) -> HttpResponse {
    let body = state.metrics.render(
        state.keys().kids().len(),
        state.store.statement_count(),
        state.passwords.verification_count(),
    );
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body)
}
