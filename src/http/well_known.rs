//! Discovery and JWKS: static documents served from bytes prepared in advance.
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{web, HttpResponse};

use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/openid-configuration", web::get().to(get_discovery))
        .route("/.well-known/jwks.json", web::get().to(get_jwks));
}

async fn get_discovery(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .body(state.discovery_json.clone())
}

async fn get_jwks(state: web::Data<AppState>) -> HttpResponse {
    // Short cache: relying parties must see a rotated key soon (they also refetch on an unknown kid).
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .body(state.keys().jwks_json())
}
