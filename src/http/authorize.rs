//! `GET, POST /oauth2/authorize` (SPEC §4.1) and delivery of authorization responses.
use actix_web::http::header::{self, CACHE_CONTROL};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::web::{page_with_csrf, self as ui, csrf, error_page, html, render, SESSION_COOKIE};
use crate::oauth::authorize::{self, AuthorizeError, AuthorizeRequest, Prompt, ResponseMode};
use crate::oauth::issue::{self, AuthResponse};
use crate::oauth::session::{self, ActiveSession};
use crate::state::AppState;
use crate::ui::{FormPostView, LoginView, FORM_POST_SCRIPT};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/oauth2/authorize").route(web::get().to(get_authorize)).route(web::post().to(post_authorize)));
}

async fn get_authorize(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    authorize(&state, &req, req.query_string()).await
}

async fn post_authorize(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    match std::str::from_utf8(&body) {
        Ok(raw) => authorize(&state, &req, raw).await,
        Err(_) => error_page(&req, StatusCode::BAD_REQUEST, "The request is not valid UTF-8."),
    }
}

async fn authorize(state: &AppState, req: &HttpRequest, raw: &str) -> HttpResponse {
    let areq = match authorize::validate(&state.store, raw).await {
        Ok(a) => a,
        Err(e) => return authorize_error(state, req, e),
    };
    let session = match req.cookie(SESSION_COOKIE) {
        Some(c) => session::load(state, c.value()).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "loading a session failed");
            None
        }),
        None => None,
    };
    match session.filter(|s| usable(state, &areq, s)) {
        Some(s) => respond(state, req, &areq, &s).await,
        // OIDC Core §3.1.2.1: prompt=none must not show any UI.
        None if areq.prompt == Prompt::None => deliver(&AuthResponse::error(&state.config.issuer, &areq.target, "login_required", "the user is not signed in")),
        None => login_page(state, req, &areq, StatusCode::OK, None, areq.login_hint.as_deref().unwrap_or(""), ""),
    }
}

/// Whether an existing session may answer this request without a new login.
fn usable(state: &AppState, areq: &AuthorizeRequest, s: &ActiveSession) -> bool {
    if areq.prompt == Prompt::Login {
        return false;
    }
    if areq.customer_account.as_ref().is_some_and(|a| a.id != s.account.id) || s.account.organization_id != areq.product.organization_id {
        return false;
    }
    if areq.max_age.is_some_and(|m| state.now() - s.auth_time > m) {
        return false;
    }
    if let Some(hint) = &areq.id_token_hint {
        // The hint may be expired (OIDC Core §3.1.2.1); it must be ours and name the session's user.
        match crate::oauth::tokens::verify_id_token_hint(state, hint) {
            Ok(c) if c.sub == s.user.id => {}
            _ => return false,
        }
    }
    true
}

/// Issues the response for a signed-in user and delivers it.
pub async fn respond(state: &AppState, req: &HttpRequest, areq: &AuthorizeRequest, s: &ActiveSession) -> HttpResponse {
    match issue::issue(state, areq, s).await {
        Ok(resp) => deliver(&resp),
        Err(e) => {
            tracing::error!(error = %e, "issuing an authorization response failed");
            // RFC 6749 §4.1.2.1 server_error, delivered to the (already validated) client.
            let _ = req;
            deliver(&AuthResponse::error(&state.config.issuer, &areq.target, "server_error", "the server could not complete the request"))
        }
    }
}

pub fn authorize_error(state: &AppState, req: &HttpRequest, e: AuthorizeError) -> HttpResponse {
    match e {
        AuthorizeError::Fatal(msg) => error_page(req, StatusCode::BAD_REQUEST, &msg),
        AuthorizeError::Redirect { target, error, description } => deliver(&AuthResponse::error(&state.config.issuer, &target, error, &description)),
        AuthorizeError::Store(err) => {
            tracing::error!(error = %err, "authorization request storage error");
            error_page(req, StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable.")
        }
    }
}

/// 303 to the redirect_uri (query or fragment), or the form_post page (OAuth 2.0 Form Post Response Mode).
pub fn deliver(resp: &AuthResponse) -> HttpResponse {
    match resp.mode {
        ResponseMode::Query | ResponseMode::Fragment => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, resp.location()))
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish(),
        ResponseMode::FormPost => {
            let view = FormPostView { action: &resp.redirect_uri, params: &resp.params, script: FORM_POST_SCRIPT };
            let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(FORM_POST_SCRIPT.as_bytes()));
            match render(&view) {
                Ok(body) => html(StatusCode::OK)
                    .insert_header((header::CONTENT_SECURITY_POLICY, format!("default-src 'none'; script-src 'sha256-{hash}'; frame-ancestors 'none'; base-uri 'none'")))
                    .body(body),
                Err(_) => HttpResponse::InternalServerError().finish(),
            }
        }
    }
}

/// The hosted login page for a pending authorization request.
pub fn login_page(state: &AppState, req: &HttpRequest, areq: &AuthorizeRequest, status: StatusCode, error: Option<&str>, email: &str, account_value: &str) -> HttpResponse {
    let c = csrf(state, req);
    let view = LoginView {
        t: ui::strings(req),
        csrf_token: &c.token,
        authz: &areq.raw,
        product_name: &areq.product.name,
        account_name: areq.customer_account.as_ref().map(|a| a.name.as_str()),
        ask_account: areq.customer_account.is_none(),
        account_value: areq.customer_account.as_ref().map(|a| a.code.as_str()).unwrap_or(account_value),
        email_value: email,
        error,
    };
    page_with_csrf(req, status, &view, c.new_cookie.clone())
}
