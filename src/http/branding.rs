//! Branding assets (issue 17 item 1): `/branding/logo/<sha256>.<ext>` and `/branding/theme/<primary>-<text>.css`.
//! Both URLs name their content, so they are cached for a year as `immutable` (RFC 8246).
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::web::{error_page, strings, unavailable};
use crate::branding;
use crate::state::AppState;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/branding/logo/{name}", web::get().to(get_logo))
        .route("/branding/theme/{name}", web::get().to(get_theme));
}

async fn get_logo(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let name = path.into_inner();
    let Some((hash, ext)) = name.split_once('.') else { return not_found(&req) };
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return not_found(&req);
    }
    let (media_type, data) = match state.store.find_logo(hash).await {
        Ok(Some(l)) => l,
        Ok(None) => return not_found(&req),
        Err(e) => return unavailable(&req, &e),
    };
    if branding::Logo::extension(&media_type) != ext {
        return not_found(&req);
    }
    let Some(bytes) = branding::decode_logo(&data) else { return not_found(&req) };
    HttpResponse::Ok()
        .content_type(media_type)
        .insert_header((header::CACHE_CONTROL, IMMUTABLE))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Opened on its own, the image may not load or run anything (it is a PNG or JPEG; this is belt and braces).
        .insert_header((header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox")))
        .body(bytes)
}

async fn get_theme(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    match branding::theme_css(&path.into_inner()) {
        Some(css) => HttpResponse::Ok()
            .content_type("text/css; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, IMMUTABLE))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(css),
        None => not_found(&req),
    }
}

fn not_found(req: &HttpRequest) -> HttpResponse {
    error_page(req, StatusCode::NOT_FOUND, strings(req).not_found)
}
