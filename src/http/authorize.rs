//! `GET, POST /oauth2/authorize` (SPEC §4.1) and delivery of authorization responses.
use actix_web::http::header::{self, CACHE_CONTROL};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::web::{self as ui, csrf, error_page, html, page_with_csrf, render, unavailable, SESSION_COOKIE};
use crate::federation::ReturnTo;
use crate::model::CustomerAccount;
use crate::oauth::authorize::{self, AuthorizeError, AuthorizeRequest, Prompt, ResponseMode};
use crate::oauth::response::{self, AuthResponse, SignedIn};
use crate::oauth::session::{self, ActiveSession};
use crate::state::AppState;
use crate::ui::{FormPostView, IdpButton, LoginView, FORM_POST_SCRIPT};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/oauth2/authorize")
            .route(web::get().to(get_authorize))
            .route(web::post().to(post_authorize))
            .default_service(web::to(|req: HttpRequest| async move { ui::method_not_allowed(&req, "GET, POST") })),
    );
}

async fn get_authorize(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    authorize(&state, &req, req.query_string()).await
}

async fn post_authorize(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let body = match super::read_body(payload).await {
        Ok(b) => b,
        Err(e) => return error_page(&req, ui::status_of(&e), &e.to_string()),
    };
    match std::str::from_utf8(&body) {
        Ok(raw) => authorize(&state, &req, raw).await,
        Err(_) => error_page(&req, StatusCode::BAD_REQUEST, ui::strings(&req).not_utf8),
    }
}

async fn authorize(state: &AppState, req: &HttpRequest, raw: &str) -> HttpResponse {
    let now = state.now();
    let areq = match authorize::validate(&state.store, raw).await {
        Ok(a) => a,
        // Issue 17: the user-facing page ("return to <product>"), the technical reason folded away.
        Err(AuthorizeError::Fatal(msg)) => return super::recovery::invalid_link_page(state, req, raw, &msg).await,
        Err(e) => return authorize_error(state, req, e),
    };
    let session = match req.cookie(SESSION_COOKIE) {
        Some(c) => match session::load(&state.store, c.value(), now).await {
            Ok(s) => s,
            Err(e) => return redirect_unavailable(state, req, &areq, &e),
        },
        None => None,
    };
    let keys = state.keys();
    let verifier = state.verifier(&keys);
    match session.filter(|s| authorize::session_usable(&areq, s, &verifier, now)) {
        Some(s) => respond(state, req, &areq, &s, now).await,
        // OIDC Core §3.1.2.1: prompt=none must not show any UI.
        None if areq.prompt == Prompt::None => deliver(
            req,
            &AuthResponse::error(&state.config.issuer, &areq.target, "login_required", "the user is not signed in"),
        ),
        // An account that signs in only through its IdP goes there at once: no keyway page in between.
        None if areq.customer_account.as_ref().is_some_and(|a| !a.password_login()) => {
            let account = areq.customer_account.clone();
            match account {
                Some(a) => {
                    super::federation::redirect_to_idp(state, req, &a, ReturnTo::Authorize(areq.raw.clone())).await
                }
                None => {
                    redirect_unavailable(state, req, &areq, &crate::store::StoreError::NotFound("customer account"))
                }
            }
        }
        None => {
            let form = LoginState { email: areq.login_hint.as_deref().unwrap_or(""), ..Default::default() };
            login_page(state, req, &areq, StatusCode::OK, &form).await
        }
    }
}

/// Issues the response for a signed-in user and delivers it. Every path that issues a code or token comes through
/// here, so the MFA gate is here too: a session without a second factor, for a request that asks for MFA
/// (`acr_values`) or an account that requires it, steps up first (issue 17).
pub async fn respond(
    state: &AppState,
    req: &HttpRequest,
    areq: &AuthorizeRequest,
    s: &ActiveSession,
    now: i64,
) -> HttpResponse {
    respond_signed_in(state, req, areq, s, None, now).await
}

/// [`respond`] for a session that `signed_in` has just started and not yet written: it is written with the response's
/// code, in one commit (issue 16).
pub async fn respond_signed_in(
    state: &AppState,
    req: &HttpRequest,
    areq: &AuthorizeRequest,
    s: &ActiveSession,
    signed_in: Option<&SignedIn<'_>>,
    now: i64,
) -> HttpResponse {
    match crate::auth::mfa::session_satisfies(&state.store, &s.account, &s.how.amr, areq.wants_mfa()).await {
        Ok(true) => {}
        Ok(false) => {
            // The step-up continues from the session, which must exist by then.
            if let Some(w) = signed_in {
                if let Err(e) = w.write(&state.store, None, now).await {
                    return redirect_unavailable(state, req, areq, &e);
                }
            }
            return match super::mfa::step_up(state, areq, s).await {
                Ok(res) => res,
                Err(e) => redirect_unavailable(state, req, areq, &e),
            };
        }
        Err(e) => return redirect_unavailable(state, req, areq, &e),
    }
    let keys = state.keys();
    let signer = state.signer(&keys);
    match response::issue(&state.store, &signer, state.config.code_ttl, areq, s, signed_in, now).await {
        Ok(resp) => deliver(req, &resp),
        Err(response::IssueError::Store(e)) => redirect_unavailable(state, req, areq, &e),
        Err(e) => {
            tracing::error!(error = %e, "issuing an authorization response failed");
            // RFC 6749 §4.1.2.1 server_error, delivered to the (already validated) client.
            deliver(
                req,
                &AuthResponse::error(
                    &state.config.issuer,
                    &areq.target,
                    "server_error",
                    "the server could not complete the request",
                ),
            )
        }
    }
}

/// RFC 6749 §4.1.2.1 `temporarily_unavailable`, to the validated client: a storage failure is not the user's fault.
pub fn redirect_unavailable(
    state: &AppState,
    req: &HttpRequest,
    areq: &AuthorizeRequest,
    e: &crate::store::StoreError,
) -> HttpResponse {
    tracing::error!(error = %e, "storage failure during authorization");
    deliver(
        req,
        &AuthResponse::error(
            &state.config.issuer,
            &areq.target,
            "temporarily_unavailable",
            "the server is temporarily unavailable; try again",
        ),
    )
}

pub fn authorize_error(state: &AppState, req: &HttpRequest, e: AuthorizeError) -> HttpResponse {
    match e {
        AuthorizeError::Fatal(msg) => error_page(req, StatusCode::BAD_REQUEST, &msg),
        AuthorizeError::Redirect { target, error, description } => {
            deliver(req, &AuthResponse::error(&state.config.issuer, &target, error, &description))
        }
        // Before the client is known good nothing may be redirected: the unavailable page.
        AuthorizeError::Store(err) => unavailable(req, &err),
    }
}

/// 303 to the redirect_uri (query or fragment), or the form_post page (OAuth 2.0 Form Post Response Mode) in the
/// browser's language (its button and text show only without JavaScript).
pub fn deliver(req: &HttpRequest, resp: &AuthResponse) -> HttpResponse {
    match resp.mode {
        ResponseMode::Query | ResponseMode::Fragment => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, resp.location()))
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish(),
        ResponseMode::FormPost => {
            let view = FormPostView {
                t: ui::strings(req),
                action: &resp.redirect_uri,
                params: &resp.params,
                script: FORM_POST_SCRIPT,
            };
            let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(FORM_POST_SCRIPT.as_bytes()));
            match render(&view) {
                Ok(body) => html(StatusCode::OK)
                    .insert_header((
                        header::CONTENT_SECURITY_POLICY,
                        format!(
                            "default-src 'none'; script-src 'sha256-{hash}'; frame-ancestors 'none'; base-uri 'none'"
                        ),
                    ))
                    .body(body),
                Err(_) => HttpResponse::InternalServerError().finish(),
            }
        }
    }
}

/// What the hosted login page shows besides the request: an error, the values typed so far, and the account they
/// named when the request did not (for its "Sign in with <IdP>" button).
#[derive(Default)]
pub struct LoginState<'a> {
    pub error: Option<&'a str>,
    pub email: &'a str,
    pub account_value: &'a str,
    pub account: Option<&'a CustomerAccount>,
}

/// The hosted login page for a pending authorization request.
pub async fn login_page(
    state: &AppState,
    req: &HttpRequest,
    areq: &AuthorizeRequest,
    status: StatusCode,
    form: &LoginState<'_>,
) -> HttpResponse {
    let c = csrf(state, req);
    let t = ui::strings(req);
    let account = areq.customer_account.as_deref().or(form.account);
    let idp = account.and_then(|a| a.federation.as_ref()).map(|f| IdpButton {
        label: t.sign_in_with.replace("{name}", &f.display_name),
        href: crate::encoding::with_query("/federation/start", &[("authz", &areq.raw)]),
    });
    let ctx = match super::recovery::page_context(state, req, Some(areq.client.client_id.as_str()), None).await {
        Ok(c) => c,
        Err(e) => return unavailable(req, &e),
    };
    let here = format!("/oauth2/authorize?{}", areq.raw);
    let view = LoginView {
        c: ctx.chrome(&here),
        forgot_href: super::recovery::forgot_href(state, Some(areq.client.client_id.as_str()), None),
        t,
        csrf_token: &c.token,
        authz: &areq.raw,
        organization: "",
        product_name: &areq.client.name,
        account_name: areq.customer_account.as_ref().map(|a| a.name.as_str()),
        ask_account: areq.customer_account.is_none(),
        account_value: areq.customer_account.as_ref().map(|a| a.code.as_str()).unwrap_or(form.account_value),
        email_value: form.email,
        error: form.error,
        idp,
        password_form: account.is_none_or(|a| a.password_login()),
    };
    super::mfa::allow_webauthn_script(page_with_csrf(req, status, &view, c.new_cookie.clone()))
}
