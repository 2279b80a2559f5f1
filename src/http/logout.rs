//! RP-Initiated Logout 1.0 (`/oauth2/logout`) and the hosted UI's own sign-out (`/logout`).
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::web::{page_with_csrf, self as ui, csrf, csrf_valid, error_page, removal, SESSION_COOKIE};
use crate::oauth::session;
use crate::oauth::tokens::IdClaims;
use crate::params::Params;
use crate::state::AppState;
use crate::ui::LogoutView;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/oauth2/logout").route(web::get().to(get_rp_logout)).route(web::post().to(post_rp_logout)))
        .service(web::resource("/logout").route(web::get().to(get_logout)).route(web::post().to(post_logout)));
}

/// A checked logout request: where to go afterwards and which sessions to end.
struct LogoutRequest {
    redirect: Option<String>,
    hint: Option<IdClaims>,
}

async fn check(state: &AppState, p: &Params) -> Result<LogoutRequest, String> {
    let hint = match p.get("id_token_hint") {
        None => None,
        Some(t) => {
            // An expired hint is still a good hint (RP-Initiated Logout §2): only signature and issuer matter.
            Some(crate::oauth::tokens::verify_id_token_hint(state, t).map_err(|_| "id_token_hint is not a valid id_token from this server".to_string())?)
        }
    };
    let client_id = match (p.get("client_id"), &hint) {
        (Some(c), Some(h)) if c != h.aud => return Err("client_id does not match the id_token_hint".into()),
        (Some(c), _) => Some(c.to_string()),
        (None, Some(h)) => Some(h.aud.clone()),
        (None, None) => None,
    };
    let redirect = match p.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let cid = client_id.ok_or("post_logout_redirect_uri needs client_id or id_token_hint")?;
            let product = state.store.find_product_by_client_id(&cid).await.map_err(|_| "service unavailable".to_string())?.ok_or("unknown client_id")?;
            // Exact match against the registered list, as for redirect_uri.
            if !product.post_logout_redirect_uri_list().iter().any(|u| u == uri) {
                return Err("post_logout_redirect_uri is not registered for this client".into());
            }
            let mut target = uri.to_string();
            if let Some(s) = p.get("state") {
                target.push(if target.contains('?') { '&' } else { '?' });
                target.push_str("state=");
                target.push_str(&crate::license::sso_url::encode(s));
            }
            Some(target)
        }
    };
    Ok(LogoutRequest { redirect, hint })
}

async fn end_sessions(state: &AppState, req: &HttpRequest, hint: Option<&IdClaims>) {
    if let Some(c) = req.cookie(SESSION_COOKIE) {
        if let Err(e) = session::end(state, c.value()).await {
            tracing::error!(error = %e, "ending a session failed");
        }
    }
    if let Some(sid) = hint.and_then(|h| h.sid.as_deref()) {
        if let Err(e) = state.store.delete_sessions_by_sid(sid).await {
            tracing::error!(error = %e, "ending sessions by sid failed");
        }
    }
}

fn finished(state: &AppState, req: &HttpRequest, redirect: Option<String>) -> HttpResponse {
    let mut res = match redirect {
        Some(to) => HttpResponse::SeeOther().insert_header((header::LOCATION, to)).insert_header((header::CACHE_CONTROL, "no-store")).finish(),
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

/// With a valid id_token_hint the RP has proven the logout is wanted: end it now. Without one, ask the user
/// (RP-Initiated Logout §2: the OP should confirm, or a third party could log users out).
async fn rp_logout(state: &AppState, req: &HttpRequest, p: Params, confirmed: bool) -> HttpResponse {
    let lr = match check(state, &p).await {
        Ok(lr) => lr,
        Err(msg) => return error_page(req, StatusCode::BAD_REQUEST, &msg),
    };
    if lr.hint.is_some() || confirmed {
        end_sessions(state, req, lr.hint.as_ref()).await;
        return finished(state, req, lr.redirect);
    }
    let names = ["client_id", "post_logout_redirect_uri", "state"];
    let hidden: Vec<(&str, &str)> = names.iter().filter_map(|n| p.get(n).map(|v| (*n, v))).collect();
    page(state, req, false, hidden)
}

async fn get_rp_logout(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match Params::parse(req.query_string()) {
        Ok(p) => rp_logout(&state, &req, p, false).await,
        Err(e) => error_page(&req, StatusCode::BAD_REQUEST, &e.0),
    }
}

async fn post_rp_logout(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(p) = std::str::from_utf8(&body).ok().and_then(|b| Params::parse(b).ok()) else {
        return error_page(&req, StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    let confirmed = csrf_valid(&state, &req, p.get("csrf_token"));
    rp_logout(&state, &req, p, confirmed).await
}

async fn get_logout(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    page(&state, &req, false, vec![])
}

async fn post_logout(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let p = std::str::from_utf8(&body).ok().and_then(|b| Params::parse(b).ok()).unwrap_or_default();
    if !csrf_valid(&state, &req, p.get("csrf_token")) {
        return error_page(&req, StatusCode::BAD_REQUEST, "The sign-out form expired. Please try again.");
    }
    end_sessions(&state, &req, None).await;
    finished(&state, &req, None)
}
