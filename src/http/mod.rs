//! HTTP surfaces: thin actix handlers, extractors, one error type per surface.
pub mod abc;
pub mod account;
pub mod assets;
pub mod authorize;
pub mod backend_sso;
pub mod health;
pub mod license_api;
pub mod login;
pub mod logout;
pub mod oauth_error;
pub mod token;
pub mod userinfo;
pub mod web;
pub mod well_known;

use actix_web::web as aw;

/// Request bodies are small everywhere: 64 KiB is far above any legitimate form or JSON body here.
pub const MAX_BODY: usize = 64 * 1024;

pub fn configure(cfg: &mut aw::ServiceConfig) {
    cfg.app_data(aw::PayloadConfig::new(MAX_BODY))
        .configure(health::configure)
        .configure(assets::configure)
        .configure(well_known::configure)
        .configure(authorize::configure)
        .configure(login::configure)
        .configure(account::configure)
        .configure(backend_sso::configure)
        .configure(abc::configure)
        .configure(logout::configure)
        .configure(token::configure)
        .configure(userinfo::configure)
        .configure(license_api::configure);
}
