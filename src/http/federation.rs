//! Customer-account federation endpoints (SPEC §4.4): the start of an upstream login, the OIDC callback, the SAML
//! ACS and the browser's return from it, and each account's SAML SP metadata.
use actix_web::cookie::Cookie;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::account::see_other;
use super::authorize::{authorize_error, deliver, respond};
use super::login::start_session;
use super::web::{self as ui, cookie, error_page, unavailable};
use crate::crypto::secrets::random_token;
use crate::federation::{self, Completed, Failed, FederationDeps, FederationError, OidcCallback, ReturnTo};
use crate::model::{CustomerAccount, IdpSettings};
use crate::oauth::authorize;
use crate::oauth::response::AuthResponse;
use crate::params::Params;
use crate::state::AppState;

/// Binds a pending upstream login to the browser that started it (login CSRF, RFC 6749 §10.12).
pub const BROWSER_COOKIE: &str = "kw_fed";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/federation/start", web::get().to(get_start))
        .route("/federation/oidc/callback", web::get().to(get_oidc_callback))
        .route("/federation/saml/{account}/acs", web::post().to(post_saml_acs))
        .route("/federation/saml/{account}", web::get().to(get_sp_metadata))
        .route("/federation/complete", web::get().to(get_complete));
}

fn deps(state: &AppState) -> FederationDeps<'_> {
    FederationDeps { store: &state.store, runtime: &state.federation, issuer: &state.config.issuer }
}

/// Sends the browser to the account's IdP, continuing `return_to` afterwards.
pub async fn redirect_to_idp(
    state: &AppState,
    req: &HttpRequest,
    account: &CustomerAccount,
    return_to: ReturnTo,
) -> HttpResponse {
    // One binding cookie per browser, reused by parallel sign-ins in several tabs.
    let browser = req
        .cookie(BROWSER_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() >= 32)
        .unwrap_or_else(random_token);
    match federation::start(&deps(state), account, return_to.clone(), &browser, state.now()).await {
        Ok(url) => {
            let mut res = see_other(&url);
            let _ = res.add_cookie(&binding_cookie(state, browser));
            res
        }
        Err(e) => failure(state, req, Failed { error: e, return_to: Some(return_to) }).await,
    }
}

fn binding_cookie(state: &AppState, value: String) -> Cookie<'static> {
    cookie(state, BROWSER_COOKIE, value, Some(federation::PENDING_TTL))
}

/// `GET /federation/start?authz=<authorization request>` (the login page's "Sign in with …") or `?account=<id>` (the
/// portal's).
async fn get_start(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Ok(p) = Params::parse(req.query_string()) else {
        return error_page(&req, StatusCode::BAD_REQUEST, ui::strings(&req).link_malformed);
    };
    if let Some(raw) = p.get("authz") {
        let areq = match authorize::validate(&state.store, raw).await {
            Ok(a) => a,
            Err(e) => return authorize_error(&state, &req, e),
        };
        return match &areq.customer_account {
            Some(account) if account.federation.is_some() => {
                redirect_to_idp(&state, &req, account, ReturnTo::Authorize(raw.to_string())).await
            }
            _ => error_page(&req, StatusCode::BAD_REQUEST, ui::strings(&req).fed_no_idp),
        };
    }
    let Some(account_id) = p.get("account") else {
        return error_page(&req, StatusCode::BAD_REQUEST, ui::strings(&req).link_malformed);
    };
    match state.store.find_customer_account(account_id).await {
        Ok(Some(account)) if account.federation.is_some() => {
            redirect_to_idp(&state, &req, &account, ReturnTo::Portal).await
        }
        Ok(_) => error_page(&req, StatusCode::BAD_REQUEST, ui::strings(&req).fed_no_idp),
        Err(e) => unavailable(&req, &e),
    }
}

async fn get_oidc_callback(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Ok(p) = Params::parse(req.query_string()) else {
        return error_page(&req, StatusCode::BAD_REQUEST, ui::strings(&req).response_malformed);
    };
    let cb = OidcCallback { state: p.get("state"), code: p.get("code"), error: p.get("error"), iss: p.get("iss") };
    let browser = req.cookie(BROWSER_COOKIE).map(|c| c.value().to_string());
    match federation::complete_oidc(&deps(&state), &cb, browser.as_deref(), state.now()).await {
        Ok(done) => signed_in(&state, &req, done).await,
        Err(f) => failure(&state, &req, f).await,
    }
}

/// The IdP's HTTP-POST (SAML Bindings §3.5): verified here, then the browser comes back to `/federation/complete`
/// with its own cookies (a cross-site POST carries no SameSite=Lax cookie).
async fn post_saml_acs(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let body = match super::read_body(payload).await {
        Ok(b) => b,
        Err(e) => return error_page(&req, ui::status_of(&e), &e.to_string()),
    };
    let Some(form) =
        std::str::from_utf8(&body).ok().and_then(|raw| Params::parse_with_limit(raw, super::MAX_BODY).ok())
    else {
        return error_page(&req, StatusCode::BAD_REQUEST, ui::strings(&req).response_unreadable);
    };
    let (Some(response), Some(relay)) = (form.get("SAMLResponse"), form.get("RelayState")) else {
        // An IdP-initiated response has no RelayState of ours: refused (it answers no request of ours).
        return error_page(&req, StatusCode::BAD_REQUEST, ui::strings(&req).fed_expired);
    };
    match federation::saml_acs(&deps(&state), &path.into_inner(), response, relay, state.now()).await {
        Ok(handle) => see_other(&crate::encoding::with_query("/federation/complete", &[("h", &handle)])),
        Err(f) => failure(&state, &req, f).await,
    }
}

async fn get_complete(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let handle = Params::parse(req.query_string()).ok().and_then(|p| p.get("h").map(str::to_string));
    let Some(handle) = handle else { return error_page(&req, StatusCode::BAD_REQUEST, ui::strings(&req).fed_expired) };
    let browser = req.cookie(BROWSER_COOKIE).map(|c| c.value().to_string());
    match federation::complete_saml(&deps(&state), &handle, browser.as_deref(), state.now()).await {
        Ok(done) => signed_in(&state, &req, done).await,
        Err(f) => failure(&state, &req, f).await,
    }
}

/// keyway's SP metadata for an account's SAML IdP: what the customer's admin registers.
async fn get_sp_metadata(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let idp = match state.store.find_identity_provider(&path.into_inner()).await {
        Ok(Some(idp)) if matches!(idp.settings, IdpSettings::Saml(_)) => idp,
        Ok(_) => return error_page(&req, StatusCode::NOT_FOUND, ui::strings(&req).not_found),
        Err(e) => return unavailable(&req, &e),
    };
    match federation::setup::registration(&state.config.issuer, &idp) {
        Ok(xml) => HttpResponse::Ok()
            .content_type("application/samlmetadata+xml")
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .body(xml),
        Err(e) => {
            tracing::error!(error = %e, "building SP metadata failed");
            error_page(&req, StatusCode::INTERNAL_SERVER_ERROR, ui::strings(&req).fed_misconfigured)
        }
    }
}

/// A fresh session for the federated user, then the pending authorization request or the portal.
async fn signed_in(state: &AppState, req: &HttpRequest, done: Completed) -> HttpResponse {
    let now = state.now();
    // keyway's own second factor on top of the IdP's, when the account asks for it or the request does (issue 17).
    let wants_mfa = match &done.return_to {
        ReturnTo::Authorize(raw) => authorize::validate(&state.store, raw).await.is_ok_and(|a| a.wants_mfa()),
        ReturnTo::Portal | ReturnTo::Security => false,
    };
    let first = crate::auth::mfa::FirstFactor::Federation;
    match crate::auth::mfa::requirement(&state.store, &done.user, &done.account, first, wants_mfa, None).await {
        Ok(crate::auth::mfa::Requirement::None) => {}
        Ok(_) => {
            return match super::mfa::begin(state, &done.user, &done.account, &done.how, &done.return_to, vec![]).await {
                Ok(res) => res,
                Err(e) => unavailable(req, &e),
            }
        }
        Err(e) => return unavailable(req, &e),
    }
    let (session, session_cookie) = match start_session(state, req, done.user, done.account, done.how, now).await {
        Ok(s) => s,
        Err(e) => return unavailable(req, &e),
    };
    let mut res = match &done.return_to {
        ReturnTo::Authorize(raw) => match authorize::validate(&state.store, raw).await {
            // The user has just authenticated: prompt=login and max_age are satisfied.
            Ok(areq) => respond(state, req, &areq, &session, now).await,
            Err(e) => authorize_error(state, req, e),
        },
        other => see_other(other.portal_path().unwrap_or("/account")),
    };
    let _ = res.add_cookie(&session_cookie);
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    res
}

/// A failed federated sign-in: an error redirect to the client where the OAuth spec has one (the user cancelled:
/// `access_denied`; the IdP is unreachable: `temporarily_unavailable`; its configuration is wrong: `server_error`,
/// RFC 6749 §4.1.2.1), otherwise a hosted-UI page that says what happened, in the user's language.
async fn failure(state: &AppState, req: &HttpRequest, f: Failed) -> HttpResponse {
    let t = ui::strings(req);
    tracing::info!(error = %f.error, "federated sign-in failed");
    let redirect_error = match &f.error {
        FederationError::Cancelled => {
            Some(("access_denied", "the user cancelled the sign-in at their identity provider"))
        }
        FederationError::Unavailable(_) => {
            Some(("temporarily_unavailable", "the identity provider cannot be reached; try again"))
        }
        FederationError::Misconfigured(_) => {
            Some(("server_error", "the identity provider is not configured correctly"))
        }
        _ => None,
    };
    if let (Some((error, description)), Some(ReturnTo::Authorize(raw))) = (redirect_error, &f.return_to) {
        // Validated again, like every pending request: the answer goes only to a registered redirect_uri.
        if let Ok(areq) = authorize::validate(&state.store, raw).await {
            return deliver(req, &AuthResponse::error(&state.config.issuer, &areq.target, error, description));
        }
    }
    let (status, message) = match &f.error {
        FederationError::Store(e) => return unavailable(req, e),
        FederationError::Cancelled => (StatusCode::OK, t.fed_cancelled),
        FederationError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, t.fed_unavailable),
        FederationError::Misconfigured(_) => (StatusCode::BAD_GATEWAY, t.fed_misconfigured),
        FederationError::Rejected(_) => (StatusCode::BAD_REQUEST, t.fed_rejected),
        FederationError::Expired => (StatusCode::BAD_REQUEST, t.fed_expired),
        FederationError::UnverifiedEmail | FederationError::NoEmail => (StatusCode::FORBIDDEN, t.fed_no_email),
        FederationError::NotInAccount => (StatusCode::FORBIDDEN, t.fed_not_in_account),
        FederationError::UserDisabled => (StatusCode::FORBIDDEN, t.fed_disabled),
        FederationError::NoIdp => (StatusCode::NOT_FOUND, t.fed_no_idp),
    };
    error_page(req, status, message)
}
