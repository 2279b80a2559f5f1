//! HTTP surfaces: thin actix handlers, extractors, one error type per surface.
pub mod health;
pub mod license_api;
pub mod well_known;

use actix_web::web;

/// Request bodies are small everywhere: 64 KiB is far above any legitimate form or JSON body here.
pub const MAX_BODY: usize = 64 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY))
        .configure(health::configure)
        .configure(well_known::configure)
        .configure(license_api::configure);
}
