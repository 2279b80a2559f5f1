//! The second factor and passkeys on the hosted pages (issue 17 items 3, 4).
//!
//! * `/login/mfa`: after the first factor (password, or federation when the account asks for keyway's MFA on top),
//!   the user passes a TOTP code, a recovery code or a passkey, or enrols an authenticator when they must have one.
//!   Until then there is no session and no code: only a pending record, bound to this browser by a random cookie
//!   (its hash stored), valid five minutes, taken once.
//! * `/login/passkey`: passwordless sign-in with a discoverable credential.
//! * `/account/security`: the portal page to set up or remove an authenticator app, renew recovery codes, and add
//!   or remove passkeys. Its changes need a recent sign-in (`reauth_seconds`): an older session is asked to sign in
//!   again first (`/account/security/confirm`: the password and the second factor, or the account's IdP), so a
//!   stolen session cookie cannot strip the user's factors or plant a passkey that signs in without the password.
//!
//! WebAuthn needs JavaScript (`/static/webauthn.js`, CSP `script-src 'self'`); everything else works without it.
use std::sync::Arc;

use actix_web::cookie::Cookie;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::account::see_other;
use super::authorize::{authorize_error, respond};
use super::federation::redirect_to_idp;
use super::login::{locked_message, sign_in, start_session, SignIn};
use super::web::{self as ui, cookie, csrf, csrf_valid, error_page, page_with_csrf, removal, unavailable};
use crate::auth::mfa::passkey::{self, PasskeyError};
use crate::auth::mfa::{self, recovery, totp, CodeOutcome};
use crate::auth::password::{Realm, Surface};
use crate::crypto::secrets::{hash_token, random_token};
use crate::federation::ReturnTo;
use crate::model::{CustomerAccount, LicenseUser};
use crate::oauth::authorize::{self, AuthorizeRequest};
use crate::oauth::session::{self, ActiveSession, Authentication};
use crate::params::Params;
use crate::state::AppState;
use crate::store::mfa::PendingRecord;
use crate::store::StoreError;
use crate::ui::mfa::{ChallengeView, EnrolView, PasskeyRow, Reauth, RecoveryCodesView, SecurityView};

/// The pending second factor of a sign-in.
pub const PENDING_COOKIE: &str = "kw_mfa";
/// A WebAuthn ceremony or TOTP enrolment in progress (passwordless sign-in, portal).
pub const CEREMONY_COOKIE: &str = "kw_wa";
/// How long a pending second factor or ceremony lives.
pub const PENDING_TTL: i64 = 300;

const KIND_LOGIN: &str = "login";
const KIND_PASSKEY_LOGIN: &str = "passkey_login";
const KIND_PASSKEY_REGISTER: &str = "passkey_register";
const KIND_TOTP_ENROL: &str = "totp_enrol";
const KIND_PASSKEY_ENROL: &str = "passkey_enrol";
/// Where the sign-in's enrolment of an authenticator app posts its first code.
const SIGN_IN_ENROL: &str = "/login/mfa/enrol";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login/mfa", web::get().to(get_challenge))
        .route("/login/mfa", web::post().to(post_code))
        .route("/login/mfa/enrol", web::post().to(post_enrol))
        .route("/login/mfa/enrol/passkey/options", web::post().to(post_enrol_passkey_options))
        .route("/login/mfa/enrol/passkey", web::post().to(post_enrol_passkey))
        .route("/login/mfa/continue", web::post().to(post_continue))
        .route("/login/mfa/passkey/options", web::post().to(post_second_factor_options))
        .route("/login/mfa/passkey", web::post().to(post_second_factor_passkey))
        .route("/login/passkey/options", web::post().to(post_passkey_login_options))
        .route("/login/passkey", web::post().to(post_passkey_login))
        .route("/account/security", web::get().to(get_security))
        .route("/account/security/confirm", web::post().to(post_confirm))
        .route("/account/security/totp", web::post().to(post_totp_start))
        .route("/account/security/totp/confirm", web::post().to(post_totp_confirm))
        .route("/account/security/totp/remove", web::post().to(post_totp_remove))
        .route("/account/security/recovery-codes", web::post().to(post_recovery_codes))
        .route("/account/security/passkeys/options", web::post().to(post_register_options))
        .route("/account/security/passkeys", web::post().to(post_register_passkey))
        .route("/account/security/passkeys/remove", web::post().to(post_remove_passkey));
}

/// The CSP of pages that load the WebAuthn script: the usual one plus `script-src 'self'` and `connect-src 'self'`
/// (the options fetch).
pub fn allow_webauthn_script(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    res
}

/// The stored `return_to` of a pending record read back (none: the portal).
fn decode_return(s: Option<&str>) -> ReturnTo {
    s.map_or(ReturnTo::Portal, ReturnTo::decode)
}

/// Starts the second-factor step for a user who passed `how`: a pending record and its cookie, and a redirect to
/// `/login/mfa`. `extra` cookies (the device token of a password sign-in) are set on the same response.
pub async fn begin(
    state: &AppState,
    user: &LicenseUser,
    account: &CustomerAccount,
    how: &Authentication,
    return_to: &ReturnTo,
    extra: Vec<Cookie<'static>>,
) -> Result<HttpResponse, StoreError> {
    let now = state.now();
    let value = random_token();
    let rec = PendingRecord {
        id_hash: hash_token(&value),
        kind: KIND_LOGIN.into(),
        license_user_id: Some(user.id.clone()),
        customer_account_id: Some(account.id.clone()),
        amr: how.amr_text(),
        idp: how.idp.clone(),
        return_to: Some(return_to.encode()),
        expires_at: now + PENDING_TTL,
        ..Default::default()
    };
    // Expired pending records are dead already (every read filters on expires_at); this keeps the table small
    // without a background job.
    state.store.purge_pending(now).await?;
    state.store.insert_pending(&rec, now).await?;
    let mut res = see_other("/login/mfa");
    let _ = res.add_cookie(&cookie(state, PENDING_COOKIE, value, Some(PENDING_TTL)));
    for c in extra {
        let _ = res.add_cookie(&c);
    }
    Ok(res)
}

/// Step-up (OIDC Core §3.1.2.1 `acr_values`, or an account whose policy now requires MFA): the signed-in user of
/// `s` passes a second factor before anything is issued for `areq`.
pub async fn step_up(state: &AppState, areq: &AuthorizeRequest, s: &ActiveSession) -> Result<HttpResponse, StoreError> {
    begin(state, &s.user, &s.account, &s.how, &ReturnTo::Authorize(areq.raw.clone()), Vec::new()).await
}

struct Pending {
    rec: PendingRecord,
    user: LicenseUser,
}

/// The pending second factor of this browser, with its user (still enabled).
async fn pending(state: &AppState, req: &HttpRequest, name: &str, kind: &str) -> Result<Option<Pending>, StoreError> {
    let Some(c) = req.cookie(name) else { return Ok(None) };
    let Some(rec) = state.store.find_pending(&hash_token(c.value()), kind, state.now()).await? else {
        return Ok(None);
    };
    let Some(user_id) = rec.license_user_id.as_deref() else { return Ok(None) };
    let Some(user) = state.store.find_user(user_id).await?.filter(|u| !u.disabled) else { return Ok(None) };
    Ok(Some(Pending { rec, user }))
}

/// This browser's pending sign-in, or the page to answer instead (expired, or the database unavailable).
async fn pending_login(state: &AppState, req: &HttpRequest) -> Result<Pending, HttpResponse> {
    match pending(state, req, PENDING_COOKIE, KIND_LOGIN).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(expired(req)),
        Err(e) => Err(unavailable(req, &e)),
    }
}

fn expired(req: &HttpRequest) -> HttpResponse {
    error_page(req, StatusCode::BAD_REQUEST, ui::strings(req).mfa().expired)
}

fn locked(req: &HttpRequest, until: i64, now: i64) -> String {
    super::login::minutes_text(ui::strings(req).mfa().locked, until, now)
}

fn challenge_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    error: Option<&str>,
    passkey: bool,
) -> HttpResponse {
    let c = csrf(state, req);
    let view = ChallengeView { t: ui::strings(req), csrf_token: &c.token, error, passkey };
    allow_webauthn_script(page_with_csrf(req, status, &view, c.new_cookie.clone()))
}

fn enrol_page(
    state: &AppState,
    req: &HttpRequest,
    user: &LicenseUser,
    sealed: &str,
    action: &str,
    required: bool,
    error: Option<&str>,
) -> HttpResponse {
    let key = state.cookie_key.expose();
    let Some(e) = mfa::open(key, &user.id, sealed)
        .and_then(|s| totp::enrolment(&s, &issuer_label(&state.config.issuer), &user.email))
    else {
        return error_page(req, StatusCode::INTERNAL_SERVER_ERROR, ui::strings(req).page_failed);
    };
    let c = csrf(state, req);
    let view = EnrolView {
        t: ui::strings(req),
        csrf_token: &c.token,
        action,
        required,
        qr_svg: &e.qr_svg,
        manual_key: &e.manual_key,
        error,
        // At the sign-in's enrolment a passkey may be the factor instead (the portal has its own passkey section).
        offer_passkey: action == SIGN_IN_ENROL,
    };
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    allow_webauthn_script(page_with_csrf(req, status, &view, c.new_cookie.clone()))
}

fn codes_page(state: &AppState, req: &HttpRequest, codes: &[String], continue_action: Option<&str>) -> HttpResponse {
    let c = csrf(state, req);
    let view = RecoveryCodesView { t: ui::strings(req), csrf_token: &c.token, codes, continue_action };
    page_with_csrf(req, StatusCode::OK, &view, c.new_cookie.clone())
}

/// The issuer shown in authenticator apps: the host users know keyway by.
fn issuer_label(issuer: &str) -> String {
    url::Url::parse(issuer).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_else(|| "keyway".into())
}

/// A fresh TOTP secret, sealed for the user.
fn new_sealed_secret(state: &AppState, user_id: &str) -> Option<String> {
    mfa::seal(state.cookie_key.expose(), user_id, &totp::new_secret())
}

/// `GET /login/mfa`: the challenge, or the enrolment when the user has no factor yet.
async fn get_challenge(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let p = match pending_login(&state, &req).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let f = match mfa::factors(&state.store, &p.user.id).await {
        Ok(f) => f,
        Err(e) => return unavailable(&req, &e),
    };
    if f.any() {
        return challenge_page(&state, &req, StatusCode::OK, None, f.passkeys > 0);
    }
    // Enrolment: the secret stays in the pending record until a code confirms it, so nothing half-enrolled is ever
    // stored for the user (and a reload shows the same secret).
    let sealed = match p.rec.state.clone() {
        Some(s) => s,
        None => {
            let Some(s) = new_sealed_secret(&state, &p.user.id) else {
                return error_page(&req, StatusCode::INTERNAL_SERVER_ERROR, ui::strings(&req).page_failed);
            };
            if let Err(e) = state.store.update_pending(&p.rec.id_hash, Some(&s), None).await {
                return unavailable(&req, &e);
            }
            s
        }
    };
    enrol_page(&state, &req, &p.user, &sealed, SIGN_IN_ENROL, true, None)
}

/// `POST /login/mfa`: a TOTP or recovery code.
async fn post_code(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let form = match ui::form(&req, payload).await {
        Ok(f) => f,
        Err(page) => return page,
    };
    let t = ui::strings(&req);
    let p = match pending_login(&state, &req).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let has_passkey = match state.store.passkeys_of(&p.user.id).await {
        Ok(k) => !k.is_empty(),
        Err(e) => return unavailable(&req, &e),
    };
    if !csrf_valid(&state, &req, form.get("csrf_token")) {
        return challenge_page(&state, &req, StatusCode::BAD_REQUEST, Some(t.csrf_failed), has_passkey);
    }
    let now = state.now();
    let code = form.get("code").unwrap_or("");
    let key = state.cookie_key.expose();
    match mfa::check_code(&state.store, key, state.lockout.untrusted, &p.user.id, code, now).await {
        Ok(CodeOutcome::Accepted(m)) => finish(&state, &req, PENDING_COOKIE, KIND_LOGIN, &[m]).await,
        Ok(CodeOutcome::Refused) => {
            challenge_page(&state, &req, StatusCode::OK, Some(t.mfa().code_refused), has_passkey)
        }
        Ok(CodeOutcome::Locked { until }) => {
            challenge_page(&state, &req, StatusCode::OK, Some(&locked(&req, until, now)), has_passkey)
        }
        Err(e) => unavailable(&req, &e),
    }
}

/// `POST /login/mfa/enrol`: the first code of the new authenticator; then the recovery codes, once.
async fn post_enrol(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let form = match ui::form(&req, payload).await {
        Ok(f) => f,
        Err(page) => return page,
    };
    let t = ui::strings(&req);
    let p = match pending_login(&state, &req).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let Some(sealed) = p.rec.state.clone() else { return expired(&req) };
    let action = SIGN_IN_ENROL;
    if !csrf_valid(&state, &req, form.get("csrf_token")) {
        return enrol_page(&state, &req, &p.user, &sealed, action, true, Some(t.csrf_failed));
    }
    match confirm_totp(&state, &p.user, &sealed, form.get("code").unwrap_or("")).await {
        Ok(Confirmed::Yes(codes)) => {
            if let Err(e) = state.store.update_pending(&p.rec.id_hash, None, Some("otp")).await {
                return unavailable(&req, &e);
            }
            codes_page(&state, &req, &codes, Some("/login/mfa/continue"))
        }
        Ok(Confirmed::No(msg)) => enrol_page(&state, &req, &p.user, &sealed, action, true, Some(&msg)),
        Err(e) => unavailable(&req, &e),
    }
}

/// The pending sign-in of this browser when its user may enrol a factor now: one with no factor yet (the account
/// requires one). A user who has a factor passes it instead; enrolling another would let the password alone add one.
async fn enrolling(state: &AppState, req: &HttpRequest) -> Result<Pending, HttpResponse> {
    let p = pending_login(state, req).await?;
    match mfa::factors(&state.store, &p.user.id).await {
        Ok(f) if !f.any() => Ok(p),
        Ok(_) => Err(error_page(req, StatusCode::FORBIDDEN, ui::strings(req).mfa().expired)),
        Err(e) => Err(unavailable(req, &e)),
    }
}

/// `POST /login/mfa/enrol/passkey/options`: at the enrolment the account requires, a passkey instead of an
/// authenticator app: the options to create one for the pending user, the ceremony kept under a browser-bound cookie.
async fn post_enrol_passkey_options(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let Ok(form) = ui::form(&req, payload).await else { return json_error(StatusCode::BAD_REQUEST, "form") };
    if !csrf_valid(&state, &req, form.get("csrf_token")) {
        return json_error(StatusCode::BAD_REQUEST, "csrf");
    }
    let p = match enrolling(&state, &req).await {
        Ok(p) => p,
        Err(res) if res.status() == StatusCode::SERVICE_UNAVAILABLE => {
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
        Err(_) => return json_error(StatusCode::BAD_REQUEST, "expired"),
    };
    registration_options(&state, &p.user, KIND_PASSKEY_ENROL).await
}

/// Options to create a passkey for `user`, the ceremony kept as `kind` under the browser-bound ceremony cookie: the
/// sign-in's enrolment and the portal's "Add a passkey".
async fn registration_options(state: &AppState, user: &LicenseUser, kind: &str) -> HttpResponse {
    let started = match passkey::relying_party(&state.config.issuer) {
        Ok(wa) => passkey::start_registration(&wa, &state.store, user).await,
        Err(e) => Err(e),
    };
    match started {
        Ok((options, ceremony)) => start_ceremony(state, kind, Some(&user.id), None, ceremony, options).await,
        Err(PasskeyError::Store(_)) => json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        Err(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "webauthn"),
    }
}

/// `POST /login/mfa/enrol/passkey`: the new passkey's attestation. Stored, it is the sign-in's second factor (`hwk`
/// or `swk`); recovery codes are issued as with an authenticator app, shown once, then the sign-in continues.
async fn post_enrol_passkey(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let form = match ui::csrf_form(&state, &req, payload).await {
        Ok(f) => f,
        Err(page) => return page,
    };
    let p = match enrolling(&state, &req).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let credential = form.get("credential").unwrap_or("");
    let method = match finish_ceremony(&state, &req, KIND_PASSKEY_ENROL, &p.user, "", credential).await {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => return passkey_failure(&req, &e),
        Err(page) => return page,
    };
    let now = state.now();
    let codes = match recovery::regenerate(&state.store, &p.user.id, now).await {
        Ok(c) => c,
        Err(e) => return unavailable(&req, &e),
    };
    if let Err(e) = state.store.update_pending(&p.rec.id_hash, None, Some(method)).await {
        return unavailable(&req, &e);
    }
    let mut res = codes_page(&state, &req, &codes, Some("/login/mfa/continue"));
    let _ = res.add_cookie(&removal(&state, CEREMONY_COOKIE));
    res
}

enum Confirmed {
    /// The recovery codes to show.
    Yes(Vec<String>),
    No(String),
}

/// Confirms a TOTP enrolment by its first code (counted toward the second factor's lockout) and issues recovery
/// codes.
async fn confirm_totp(state: &AppState, user: &LicenseUser, sealed: &str, code: &str) -> Result<Confirmed, StoreError> {
    let now = state.now();
    let limits = state.lockout.untrusted;
    let strings = crate::ui::i18n::EN.mfa();
    let attempt = match mfa::reserve(&state.store, limits, &user.id, now).await? {
        Ok(a) => a,
        Err(until) => {
            return Ok(Confirmed::No(super::login::minutes_text(strings.locked, until, now)));
        }
    };
    let ok = totp::confirm(&state.store, state.cookie_key.expose(), &user.id, sealed, code, now).await?;
    mfa::settle(&state.store, limits, &user.id, attempt, ok, now).await?;
    if !ok {
        return Ok(Confirmed::No(strings.code_refused.to_string()));
    }
    crate::audit::record(
        &state.store,
        crate::store::audit::AuditEvent {
            actor: crate::audit::Actor::user(&user.id).as_str(),
            action: "mfa.totp.enrol",
            subject: &user.id,
            client_ip: None,
            outcome: "success",
        },
        now,
    )
    .await;
    Ok(Confirmed::Yes(recovery::regenerate(&state.store, &user.id, now).await?))
}

/// `POST /login/mfa/continue`: after the recovery codes were shown.
async fn post_continue(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    if let Err(page) = ui::csrf_form(&state, &req, payload).await {
        return page;
    }
    finish(&state, &req, PENDING_COOKIE, KIND_LOGIN, &[]).await
}

/// Takes the pending record (one winner) and completes the sign-in: a fresh session whose methods include the
/// second factor's, then the pending authorization request or the portal. `added` empty: the record must carry a
/// passed factor already (enrolment).
async fn finish(state: &AppState, req: &HttpRequest, name: &str, kind: &str, added: &[&str]) -> HttpResponse {
    let now = state.now();
    let Some(c) = req.cookie(name) else { return expired(req) };
    let rec = match state.store.take_pending(&hash_token(c.value()), kind, now).await {
        Ok(Some(r)) => r,
        Ok(None) => return expired(req),
        Err(e) => return unavailable(req, &e),
    };
    let verified = rec.verified.clone();
    let added: Vec<&str> = match verified.as_deref() {
        Some(v) if added.is_empty() => v.split(' ').collect(),
        _ if added.is_empty() => return expired(req),
        _ => added.to_vec(),
    };
    let first = Authentication::from_stored(rec.amr.as_deref(), rec.idp.as_deref());
    let how = Authentication { amr: mfa::combined_amr(&first.amr, &added), idp: first.idp };
    let user_id = rec.license_user_id.clone().unwrap_or_default();
    let mut res =
        complete(state, req, &user_id, how, decode_return(rec.return_to.as_deref()), Signed::PastFirstFactor).await;
    let _ = res.add_cookie(&removal(state, if name == PENDING_COOKIE { PENDING_COOKIE } else { CEREMONY_COOKIE }));
    res
}

/// How the user being signed in by [`complete`] got there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Signed {
    /// A first factor (password, IdP) and now the second.
    PastFirstFactor,
    /// keyway's own credential alone (a passwordless passkey).
    WithKeywayCredential,
}

/// A fresh session for the user, then `return_to`.
async fn complete(
    state: &AppState,
    req: &HttpRequest,
    user_id: &str,
    how: Authentication,
    return_to: ReturnTo,
    signed: Signed,
) -> HttpResponse {
    let now = state.now();
    let (user, account) = match user_and_account(state, user_id).await {
        Ok(Some(x)) => x,
        Ok(None) => return expired(req),
        Err(e) => return unavailable(req, &e),
    };
    // A passkey is keyway's own credential, like its password: no way into an account that signs in through its
    // identity provider only (someone the customer removed there must not get in with a passkey from before).
    if signed == Signed::WithKeywayCredential && !account.password_login() {
        let name = account.federation.as_ref().map(|f| f.display_name.as_str()).unwrap_or("");
        return error_page(req, StatusCode::FORBIDDEN, &ui::strings(req).idp_only.replace("{name}", name));
    }
    let areq = match &return_to {
        ReturnTo::Authorize(raw) => match authorize::validate(&state.store, raw).await {
            Ok(a) => Some(a),
            Err(e) => return authorize_error(state, req, e),
        },
        ReturnTo::Portal | ReturnTo::Security => None,
    };
    // A passkey names its user: it must belong to the account and organization the request is for.
    if let Some(a) = &areq {
        let wrong_account = a.customer_account.as_ref().is_some_and(|c| c.id != account.id);
        if wrong_account || a.client.organization_id != account.organization_id {
            return error_page(req, StatusCode::FORBIDDEN, ui::strings(req).mfa().passkey_failed);
        }
    }
    let (session, session_cookie) = match start_session(state, req, user, account, how, now).await {
        Ok(s) => s,
        Err(e) => return unavailable(req, &e),
    };
    let mut res = match &areq {
        None => see_other(return_to.portal_path().unwrap_or("/account")),
        Some(a) => respond(state, req, a, &session, now).await,
    };
    let _ = res.add_cookie(&session_cookie);
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn user_and_account(
    state: &AppState,
    user_id: &str,
) -> Result<Option<(LicenseUser, Arc<CustomerAccount>)>, StoreError> {
    let Some(user) = state.store.find_user(user_id).await?.filter(|u| !u.disabled) else { return Ok(None) };
    let Some(account) = state.store.find_customer_account(&user.customer_account_id).await? else { return Ok(None) };
    Ok(Some((user, account)))
}

fn json_ok(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").insert_header((header::CACHE_CONTROL, "no-store")).body(body)
}

fn json_error(status: StatusCode, what: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(serde_json::json!({ "error": what }).to_string())
}

fn passkey_failure(req: &HttpRequest, e: &PasskeyError) -> HttpResponse {
    match e {
        PasskeyError::Store(s) => unavailable(req, s),
        PasskeyError::Config(c) => {
            tracing::error!(error = %c, "WebAuthn configuration");
            error_page(req, StatusCode::INTERNAL_SERVER_ERROR, ui::strings(req).page_failed)
        }
        other => {
            tracing::info!(error = %other, "passkey refused");
            error_page(req, StatusCode::BAD_REQUEST, ui::strings(req).mfa().passkey_failed)
        }
    }
}

/// `POST /login/mfa/passkey/options`: assertion options for the pending user's passkeys.
async fn post_second_factor_options(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let Ok(form) = ui::form(&req, payload).await else { return json_error(StatusCode::BAD_REQUEST, "form") };
    if !csrf_valid(&state, &req, form.get("csrf_token")) {
        return json_error(StatusCode::BAD_REQUEST, "csrf");
    }
    let p = match pending(&state, &req, PENDING_COOKIE, KIND_LOGIN).await {
        Ok(Some(p)) => p,
        Ok(None) => return json_error(StatusCode::BAD_REQUEST, "expired"),
        Err(_) => return json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    let started = match passkey::relying_party(&state.config.issuer) {
        Ok(wa) => passkey::start_second_factor(&wa, &state.store, &p.user.id).await,
        Err(e) => Err(e),
    };
    match started {
        Ok(Some((options, ceremony))) => {
            match state.store.update_pending(&p.rec.id_hash, Some(&ceremony), None).await {
                Ok(()) => json_ok(options),
                Err(_) => json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            }
        }
        Ok(None) => json_error(StatusCode::BAD_REQUEST, "no passkey"),
        Err(_) => json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    }
}

/// `POST /login/mfa/passkey`: the assertion of the pending user's passkey (another user's is refused); counted
/// toward the second factor's lockout like a code.
async fn post_second_factor_passkey(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let form = match ui::csrf_form(&state, &req, payload).await {
        Ok(f) => f,
        Err(page) => return page,
    };
    let p = match pending_login(&state, &req).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let Some(ceremony) = p.rec.state.clone() else { return expired(&req) };
    let now = state.now();
    let limits = state.lockout.untrusted;
    let attempt = match mfa::reserve(&state.store, limits, &p.user.id, now).await {
        Ok(Ok(a)) => a,
        Ok(Err(until)) => return challenge_page(&state, &req, StatusCode::OK, Some(&locked(&req, until, now)), true),
        Err(e) => return unavailable(&req, &e),
    };
    let result = match passkey::relying_party(&state.config.issuer) {
        Ok(wa) => {
            let response = form.get("credential").unwrap_or("");
            passkey::finish_second_factor(&wa, &state.store, &p.user.id, response, &ceremony, now).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = mfa::settle(&state.store, limits, &p.user.id, attempt, result.is_ok(), now).await {
        return unavailable(&req, &e);
    }
    match result {
        Ok(a) => finish(&state, &req, PENDING_COOKIE, KIND_LOGIN, &[a.method]).await,
        Err(e) => passkey_failure(&req, &e),
    }
}

/// `POST /login/passkey/options`: options for a passwordless sign-in, continuing `authz` (or the portal).
async fn post_passkey_login_options(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let Ok(form) = ui::form(&req, payload).await else { return json_error(StatusCode::BAD_REQUEST, "form") };
    if !csrf_valid(&state, &req, form.get("csrf_token")) {
        return json_error(StatusCode::BAD_REQUEST, "csrf");
    }
    let return_to = match form.get("authz") {
        Some(raw) if !raw.is_empty() => ReturnTo::Authorize(raw.to_string()),
        _ => ReturnTo::Portal,
    };
    let (options, ceremony) =
        match passkey::relying_party(&state.config.issuer).and_then(|wa| passkey::start_discoverable(&wa)) {
            Ok(x) => x,
            Err(_) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, "webauthn"),
        };
    start_ceremony(&state, KIND_PASSKEY_LOGIN, None, Some(return_to.encode()), ceremony, options).await
}

/// Stores a ceremony's state under a fresh browser-bound cookie and answers the options.
async fn start_ceremony(
    state: &AppState,
    kind: &str,
    user_id: Option<&str>,
    return_to: Option<String>,
    ceremony: String,
    options: String,
) -> HttpResponse {
    let now = state.now();
    let value = random_token();
    let rec = PendingRecord {
        id_hash: hash_token(&value),
        kind: kind.into(),
        license_user_id: user_id.map(str::to_string),
        return_to,
        state: Some(ceremony),
        expires_at: now + PENDING_TTL,
        ..Default::default()
    };
    match state.store.insert_pending(&rec, now).await {
        Ok(()) => {
            let mut res = json_ok(options);
            let _ = res.add_cookie(&cookie(state, CEREMONY_COOKIE, value, Some(PENDING_TTL)));
            res
        }
        Err(_) => json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    }
}

/// Takes this browser's passkey registration ceremony of `kind` for `user` (once) and finishes it with the browser's
/// answer, the passkey named `name`: its RFC 8176 method, or why it was refused; Err: the page to answer instead (no
/// such ceremony for this user, or the database unavailable).
async fn finish_ceremony(
    state: &AppState,
    req: &HttpRequest,
    kind: &str,
    user: &LicenseUser,
    name: &str,
    credential: &str,
) -> Result<Result<&'static str, PasskeyError>, HttpResponse> {
    let rec = match take_ceremony(state, req, kind).await {
        Ok(Some(r)) if r.license_user_id.as_deref() == Some(user.id.as_str()) => r,
        Ok(_) => return Err(expired(req)),
        Err(e) => return Err(unavailable(req, &e)),
    };
    let Some(ceremony) = rec.state.as_deref() else { return Err(expired(req)) };
    Ok(match passkey::relying_party(&state.config.issuer) {
        Ok(wa) => passkey::finish_registration(&wa, &state.store, user, name, credential, ceremony, state.now()).await,
        Err(e) => Err(e),
    })
}

/// Takes this browser's ceremony of `kind` (one winner).
async fn take_ceremony(state: &AppState, req: &HttpRequest, kind: &str) -> Result<Option<PendingRecord>, StoreError> {
    let Some(c) = req.cookie(CEREMONY_COOKIE) else { return Ok(None) };
    state.store.take_pending(&hash_token(c.value()), kind, state.now()).await
}

/// `POST /login/passkey`: a discoverable credential's assertion; the authenticator names the user.
async fn post_passkey_login(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let form = match ui::csrf_form(&state, &req, payload).await {
        Ok(f) => f,
        Err(page) => return page,
    };
    let now = state.now();
    let rec = match take_ceremony(&state, &req, KIND_PASSKEY_LOGIN).await {
        Ok(Some(r)) => r,
        Ok(None) => return expired(&req),
        Err(e) => return unavailable(&req, &e),
    };
    let Some(ceremony) = rec.state.as_deref() else { return expired(&req) };
    let asserted = match passkey::relying_party(&state.config.issuer) {
        Ok(wa) => {
            passkey::finish_discoverable(&wa, &state.store, form.get("credential").unwrap_or(""), ceremony, now).await
        }
        Err(e) => Err(e),
    };
    let a = match asserted {
        Ok(a) => a,
        Err(e) => return passkey_failure(&req, &e),
    };
    // User verification was required: possession of the key and the PIN or biometric that unlocked it (RFC 8176).
    let how = Authentication { amr: vec![a.method.to_string(), "user".into(), "mfa".into()], idp: None };
    let return_to = decode_return(rec.return_to.as_deref());
    let mut res = complete(&state, &req, &a.user_id, how, return_to, Signed::WithKeywayCredential).await;
    let _ = res.add_cookie(&removal(&state, CEREMONY_COOKIE));
    res
}

// --- the portal's security page ----------------------------------------------------------------------------

async fn portal_session(state: &AppState, req: &HttpRequest) -> Result<Option<ActiveSession>, StoreError> {
    match req.cookie(super::web::SESSION_COOKIE) {
        Some(c) => session::load(&state.store, c.value(), state.now()).await,
        None => Ok(None),
    }
}

fn when(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).ok())
        .unwrap_or_default()
}

async fn security_page(
    state: &AppState,
    req: &HttpRequest,
    s: &ActiveSession,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let t = ui::strings(req);
    let c = csrf(state, req);
    if !s.signed_in_within(state.config.reauth_seconds, state.now()) {
        let reauth = Reauth {
            password: s.account.password_login(),
            idp_label: s.account.federation.as_ref().map(|f| t.sign_in_with.replace("{name}", &f.display_name)),
        };
        let view = SecurityView {
            t,
            csrf_token: &c.token,
            email: &s.user.email,
            totp: false,
            recovery_left: String::new(),
            passkeys: Vec::new(),
            notice,
            error,
            reauth: Some(reauth),
        };
        return page_with_csrf(req, status, &view, c.new_cookie.clone());
    }
    let (totp, left, keys) = match async {
        let totp = state.store.find_totp(&s.user.id).await?.is_some_and(|r| r.confirmed);
        let left = state.store.unused_recovery_codes(&s.user.id).await?;
        let keys = state.store.passkeys_of(&s.user.id).await?;
        Ok::<_, StoreError>((totp, left, keys))
    }
    .await
    {
        Ok(x) => x,
        Err(e) => return unavailable(req, &e),
    };
    let passkeys = keys
        .into_iter()
        .map(|k| PasskeyRow {
            credential_id: k.credential_id,
            name: k.name,
            created: when(k.created_at),
            last_used: k.last_used_at.map(when).unwrap_or_default(),
        })
        .collect();
    let view = SecurityView {
        t,
        csrf_token: &c.token,
        email: &s.user.email,
        totp,
        recovery_left: t.mfa().recovery_left.replace("{n}", &left.to_string()),
        passkeys,
        notice,
        error,
        reauth: None,
    };
    allow_webauthn_script(page_with_csrf(req, status, &view, c.new_cookie.clone()))
}

/// The signed-in user and the checked form of a POST that changes the user's factors, or the response to give
/// instead: the sign-in page without a session, the request to sign in again (403) when the session's sign-in is
/// older than `reauth_seconds`.
async fn portal_post(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(ActiveSession, Params), HttpResponse> {
    let (s, form) = signed_in_form(state, req, payload).await?;
    if !s.signed_in_within(state.config.reauth_seconds, state.now()) {
        return Err(security_page(state, req, &s, StatusCode::FORBIDDEN, None, None).await);
    }
    Ok((s, form))
}

/// The session and the CSRF-checked form of a portal POST, or the response to give instead.
async fn signed_in_form(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(ActiveSession, Params), HttpResponse> {
    let s = match portal_session(state, req).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(see_other("/login")),
        Err(e) => return Err(unavailable(req, &e)),
    };
    Ok((s, ui::csrf_form(state, req, payload).await?))
}

/// `POST /account/security/confirm`: the session's own user signs in again, as at the portal's sign-in but for this
/// account and address only: the password, counted toward the address's lockout, then the second factor where the
/// user has one or the account requires it (`/login/mfa`); or, with `with=idp`, the account's identity provider.
/// The new session replaces the old one and goes back to the security page.
async fn post_confirm(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let (s, form) = match signed_in_form(&state, &req, payload).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let t = ui::strings(&req);
    let wants_idp = form.get("with") == Some("idp");
    if s.account.federation.is_some() && (wants_idp || !s.account.password_login()) {
        return redirect_to_idp(&state, &req, &s.account, ReturnTo::Security).await;
    }
    if !s.account.password_login() {
        return security_page(&state, &req, &s, StatusCode::BAD_REQUEST, None, Some(t.login_failed)).await;
    }
    let now = state.now();
    let password = form.get("password").unwrap_or("");
    let realm = Realm::Account(&s.account);
    let next = ReturnTo::Security;
    match sign_in(&state, &req, realm, &s.user.email, password, Surface::Portal, &next, false, now).await {
        Ok(SignIn::Done { cookies, unsaved, .. }) => {
            super::account::portal_signed_in(&state, &req, &unsaved, cookies, "/account/security", now).await
        }
        Ok(SignIn::SecondFactor(res)) => res,
        Ok(SignIn::Failed) => {
            security_page(&state, &req, &s, StatusCode::BAD_REQUEST, None, Some(t.login_failed)).await
        }
        Ok(SignIn::Locked { until }) => {
            let message = locked_message(&req, until, now);
            let org = Some(s.account.organization_id.as_str());
            super::recovery::lockout_page(&state, &req, &message, None, org, "/account/security").await
        }
        Err(e) => unavailable(&req, &e),
    }
}

async fn get_security(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match portal_session(&state, &req).await {
        Ok(Some(s)) => security_page(&state, &req, &s, StatusCode::OK, None, None).await,
        Ok(None) => see_other("/login"),
        Err(e) => unavailable(&req, &e),
    }
}

/// `POST /account/security/totp`: a new secret, kept in a browser-bound enrolment record until confirmed.
async fn post_totp_start(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let (s, _) = match portal_post(&state, &req, payload).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let Some(sealed) = new_sealed_secret(&state, &s.user.id) else {
        return error_page(&req, StatusCode::INTERNAL_SERVER_ERROR, ui::strings(&req).page_failed);
    };
    let now = state.now();
    let value = random_token();
    let rec = PendingRecord {
        id_hash: hash_token(&value),
        kind: KIND_TOTP_ENROL.into(),
        license_user_id: Some(s.user.id.clone()),
        state: Some(sealed.clone()),
        expires_at: now + 2 * PENDING_TTL,
        ..Default::default()
    };
    if let Err(e) = state.store.insert_pending(&rec, now).await {
        return unavailable(&req, &e);
    }
    let mut res = enrol_page(&state, &req, &s.user, &sealed, "/account/security/totp/confirm", false, None);
    let _ = res.add_cookie(&cookie(&state, CEREMONY_COOKIE, value, Some(2 * PENDING_TTL)));
    res
}

async fn post_totp_confirm(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let (s, form) = match portal_post(&state, &req, payload).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let rec = match pending(&state, &req, CEREMONY_COOKIE, KIND_TOTP_ENROL).await {
        Ok(Some(p)) if p.user.id == s.user.id => p.rec,
        Ok(_) => return expired(&req),
        Err(e) => return unavailable(&req, &e),
    };
    let Some(sealed) = rec.state.clone() else { return expired(&req) };
    match confirm_totp(&state, &s.user, &sealed, form.get("code").unwrap_or("")).await {
        Ok(Confirmed::Yes(codes)) => {
            if let Err(e) = state.store.take_pending(&rec.id_hash, KIND_TOTP_ENROL, state.now()).await {
                return unavailable(&req, &e);
            }
            let mut res = codes_page(&state, &req, &codes, None);
            let _ = res.add_cookie(&removal(&state, CEREMONY_COOKIE));
            res
        }
        Ok(Confirmed::No(msg)) => {
            enrol_page(&state, &req, &s.user, &sealed, "/account/security/totp/confirm", false, Some(&msg))
        }
        Err(e) => unavailable(&req, &e),
    }
}

async fn post_totp_remove(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let (s, _) = match portal_post(&state, &req, payload).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    match state.store.delete_totp(&s.user.id).await {
        Ok(()) => see_other("/account/security"),
        Err(e) => unavailable(&req, &e),
    }
}

async fn post_recovery_codes(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let (s, _) = match portal_post(&state, &req, payload).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    match recovery::regenerate(&state.store, &s.user.id, state.now()).await {
        Ok(codes) => codes_page(&state, &req, &codes, None),
        Err(e) => unavailable(&req, &e),
    }
}

async fn post_register_options(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let (s, _) = match portal_post(&state, &req, payload).await {
        Ok(x) => x,
        Err(res) if res.status() == StatusCode::FORBIDDEN => {
            return json_error(StatusCode::FORBIDDEN, "reauthenticate")
        }
        Err(_) => return json_error(StatusCode::BAD_REQUEST, "session"),
    };
    registration_options(&state, &s.user, KIND_PASSKEY_REGISTER).await
}

async fn post_register_passkey(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let (s, form) = match portal_post(&state, &req, payload).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let (name, credential) = (form.get("name").unwrap_or(""), form.get("credential").unwrap_or(""));
    let done = match finish_ceremony(&state, &req, KIND_PASSKEY_REGISTER, &s.user, name, credential).await {
        Ok(done) => done,
        Err(page) => return page,
    };
    let t = ui::strings(&req);
    let mut res = match done {
        Ok(_) => security_page(&state, &req, &s, StatusCode::OK, Some(t.mfa().passkey_added), None).await,
        Err(PasskeyError::Store(e)) => unavailable(&req, &e),
        Err(e) => {
            tracing::info!(error = %e, "passkey registration refused");
            security_page(&state, &req, &s, StatusCode::BAD_REQUEST, None, Some(t.mfa().passkey_failed)).await
        }
    };
    let _ = res.add_cookie(&removal(&state, CEREMONY_COOKIE));
    res
}

async fn post_remove_passkey(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let (s, form) = match portal_post(&state, &req, payload).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    match state.store.delete_passkey(&s.user.id, form.get("credential_id").unwrap_or("")).await {
        Ok(_) => see_other("/account/security"),
        Err(e) => unavailable(&req, &e),
    }
}
