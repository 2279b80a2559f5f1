//! RP-Initiated Logout 1.0 (`/oauth2/logout`) and the hosted UI's own sign-out (`/logout`).
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::web::{self as ui, csrf, csrf_valid, error_page, page_with_csrf, removal, unavailable, SESSION_COOKIE};
use crate::oauth::logout::{self, LogoutError, LogoutParams, LogoutRequest};
use crate::oauth::session;
use crate::params::Params;
use crate::state::AppState;
use crate::store::StoreError;
use crate::ui::LogoutView;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let other_methods = || web::to(|req: HttpRequest| async move { ui::method_not_allowed(&req, "GET, POST") });
    cfg.service(
        web::resource("/oauth2/logout")
            .route(web::get().to(get_rp_logout))
            .route(web::post().to(post_rp_logout))
            .default_service(other_methods()),
    )
    .service(
        web::resource("/logout")
            .route(web::get().to(get_logout))
            .route(web::post().to(post_logout))
            .default_service(other_methods()),
    );
}

/// Ends this browser's session and, for a logout with a hint, the hint's session (`sid`).
async fn end_sessions(state: &AppState, req: &HttpRequest, lr: Option<&LogoutRequest>) -> Result<(), StoreError> {
    if let Some(c) = req.cookie(SESSION_COOKIE) {
        session::end(&state.store, c.value()).await?;
    }
    if let Some(sid) = lr.and_then(|l| l.hint.as_ref()).and_then(|h| h.sid.as_deref()) {
        state.store.delete_sessions_by_sid(sid).await?;
    }
    Ok(())
}

fn finished(state: &AppState, req: &HttpRequest, redirect: Option<String>) -> HttpResponse {
    let mut res = match redirect {
        Some(to) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, to))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        None => page(state, req, true, vec![]),
    };
    let _ = res.add_cookie(&removal(state, SESSION_COOKIE));
    res
}

fn page(state: &AppState, req: &HttpRequest, signed_out: bool, hidden: Vec<(&str, &str)>) -> HttpResponse {
    let c = csrf(state, req);
    let view = LogoutView { t: ui::strings(req), signed_out, csrf_token: &c.token, hidden };
    page_with_csrf(req, StatusCode::OK, &view, c.new_cookie.clone())
}

/// Ends the session at once when the request proves it is wanted (a hint that belongs to this browser's session,
/// §2); otherwise asks the user, carrying the request through the confirmation form.
async fn rp_logout(state: &AppState, req: &HttpRequest, p: Params, confirmed: bool) -> HttpResponse {
    let params = LogoutParams {
        id_token_hint: p.get("id_token_hint"),
        client_id: p.get("client_id"),
        post_logout_redirect_uri: p.get("post_logout_redirect_uri"),
        state: p.get("state"),
    };
    let keys = state.keys();
    let lr = match logout::check(&state.store, &state.verifier(&keys), &params).await {
        Ok(lr) => lr,
        Err(LogoutError::Invalid(msg)) => return error_page(req, StatusCode::BAD_REQUEST, msg),
        Err(LogoutError::Store(e)) => return unavailable(req, &e),
    };
    let now = state.now();
    let current = match req.cookie(SESSION_COOKIE) {
        Some(c) => match session::load(&state.store, c.value(), now).await {
            Ok(s) => s,
            Err(e) => return unavailable(req, &e),
        },
        None => None,
    };
    if confirmed || logout::ends_without_asking(&lr, current.as_ref()) {
        return match end_sessions(state, req, Some(&lr)).await {
            Ok(()) => finished(state, req, lr.redirect),
            Err(e) => unavailable(req, &e),
        };
    }
    let names = ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"];
    let hidden: Vec<(&str, &str)> = names.iter().filter_map(|n| p.get(n).map(|v| (*n, v))).collect();
    page(state, req, false, hidden)
}

async fn get_rp_logout(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match Params::parse(req.query_string()) {
        Ok(p) => rp_logout(&state, &req, p, false).await,
        Err(e) => error_page(&req, StatusCode::BAD_REQUEST, &e.0),
    }
}

async fn post_rp_logout(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let p = match ui::form(&req, payload).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let confirmed = csrf_valid(&state, &req, p.get("csrf_token"));
    rp_logout(&state, &req, p, confirmed).await
}

async fn get_logout(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    page(&state, &req, false, vec![])
}

async fn post_logout(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let p = match ui::form(&req, payload).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    if !csrf_valid(&state, &req, p.get("csrf_token")) {
        return error_page(&req, StatusCode::BAD_REQUEST, ui::strings(&req).sign_out_expired);
    }
    match end_sessions(&state, &req, None).await {
        Ok(()) => finished(&state, &req, None),
        Err(e) => unavailable(&req, &e),
    }
}
