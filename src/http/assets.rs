//! Static assets, compiled into the binary so the server runs from any working directory.
use actix_web::http::header;
use actix_web::{web, HttpResponse};

const STYLE: &str = include_str!("../../static/style.css");

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/style.css", web::get().to(get_style));
}

async fn get_style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(STYLE)
}
