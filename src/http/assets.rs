//! Static assets, compiled into the binary so the server runs from any working directory.
use actix_web::http::header;
use actix_web::{web, HttpResponse};

const STYLE: &str = include_str!("../../static/style.css");
/// Progressive enhancement only (the show-password toggle): every page works without it.
const SCRIPT: &str = include_str!("../../static/ui.js");

/// The WebAuthn glue of the passkey buttons (issue 17 item 4): a file, so the pages' CSP can stay `script-src 'self'`.
const WEBAUTHN_JS: &str = include_str!("../../static/webauthn.js");

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/style.css", web::get().to(get_style)).route("/static/ui.js", web::get().to(get_script));
    cfg.route("/static/webauthn.js", web::get().to(get_webauthn_js));
}

async fn get_style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(STYLE)
}

async fn get_script() -> HttpResponse {
    script(SCRIPT)
}

async fn get_webauthn_js() -> HttpResponse {
    script(WEBAUTHN_JS)
}

fn script(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}
