//! `POST /login` (the hosted login form) and the portal sign-in.
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::authorize::{authorize_error, deliver, login_page};
use super::web::{self as ui, client_ip, cookie, csrf_valid, error_page, SESSION_COOKIE};
use crate::oauth::authorize;
use crate::oauth::issue;
use crate::oauth::login::{self, LoginOutcome};
use crate::oauth::session;
use crate::params::Params;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::post().to(post_login));
}

async fn post_login(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(form) = std::str::from_utf8(&body).ok().and_then(|raw| Params::parse(raw).ok()) else {
        return error_page(&req, StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    let t = ui::strings(&req);
    // No pending authorization request: a portal sign-in.
    let Some(raw_authz) = form.get("authz") else {
        return super::account::portal_login(&state, &req, &form).await;
    };
    // The pending request is validated again: the hidden field is user input like any other.
    let areq = match authorize::validate(&state.store, raw_authz).await {
        Ok(a) => a,
        Err(e) => return authorize_error(&state, &req, e),
    };
    let email = form.get("email").unwrap_or("");
    let account_value = form.get("customer_account_code").unwrap_or("");
    if !csrf_valid(&state, &req, form.get("csrf_token")) {
        return login_page(&state, &req, &areq, StatusCode::BAD_REQUEST, Some(t.csrf_failed), email, account_value);
    }
    let account = match &areq.customer_account {
        Some(a) => Some(a.clone()),
        None if !account_value.is_empty() => state.store.find_customer_account_by_code(&areq.product.organization_id, account_value).await.unwrap_or(None),
        None => None,
    };
    let password = form.get("password").unwrap_or("");
    let ip = client_ip(&req);
    let outcome = match &account {
        Some(a) => login::authenticate(&state, a, email, password, ip.as_deref()).await,
        None => {
            // Same work and answer for an unknown account as for a wrong password.
            let _ = state.verify_password(password, None).await;
            Ok(LoginOutcome::Failed)
        }
    };
    let user = match outcome {
        Ok(LoginOutcome::Success(u)) => u,
        Ok(LoginOutcome::Failed) => return login_page(&state, &req, &areq, StatusCode::OK, Some(t.login_failed), email, account_value),
        Err(e) => {
            tracing::error!(error = %e, "sign-in storage error");
            return error_page(&req, StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable.");
        }
    };
    let Some(account) = account else { return login_page(&state, &req, &areq, StatusCode::OK, Some(t.login_failed), email, account_value) };
    // A fresh session id on every login (no fixation); the old session, if any, ends.
    if let Some(old) = req.cookie(SESSION_COOKIE) {
        let _ = session::end(&state, old.value()).await;
    }
    let (cookie_value, s) = match session::create(&state, user, account).await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "creating a session failed");
            return error_page(&req, StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable.");
        }
    };
    // The user has just authenticated, so prompt=login and max_age are satisfied: issue directly.
    let mut res = match issue::issue(&state, &areq, &s).await {
        Ok(resp) => deliver(&resp),
        Err(e) => {
            tracing::error!(error = %e, "issuing after login failed");
            deliver(&issue::AuthResponse::error(&state.config.issuer, &areq.target, "server_error", "the server could not complete the request"))
        }
    };
    let _ = res.add_cookie(&cookie(&state, SESSION_COOKIE, cookie_value, Some(state.config.session_ttl)));
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    res
}
