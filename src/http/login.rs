//! `POST /login`: the hosted login form (for a pending authorization request) and the portal sign-in, both through
//! the one password check (`auth::password`).
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::cookie::Cookie;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::authorize::{authorize_error, login_page, redirect_unavailable, respond_signed_in, LoginState};
use super::federation::redirect_to_idp;
use super::web::{
    self as ui, client_ip, cookie, csrf_valid, unavailable, DEVICE_COOKIE, DEVICE_COOKIE_MAX_AGE, SESSION_COOKIE,
};
use crate::auth::password::{self, Attempt, Outcome, Realm, SignInOwed, Surface};
use crate::auth::{device, mfa};
use crate::crypto::secrets::hash_token;
use crate::federation::ReturnTo;
use crate::model::{CustomerAccount, LicenseUser};
use crate::oauth::authorize;
use crate::oauth::response::SignedIn;
use crate::oauth::session::{self, ActiveSession, Authentication};
use crate::state::AppState;
use crate::store::sessions::SessionRecord;
use crate::store::{Store, StoreError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::post().to(post_login));
}

async fn post_login(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let form = match ui::form(&req, payload).await {
        Ok(f) => f,
        Err(page) => return page,
    };
    let limited =
        state.rate_limits.check(crate::ratelimit::Surface::Login, ui::client_ip_addr(&req), form.get("email"));
    if let Err(wait) = limited {
        return ui::too_many_requests(&req, wait);
    }
    // No pending authorization request: a portal sign-in.
    let Some(raw_authz) = form.get("authz") else {
        return super::account::portal_login(&state, &req, &form).await;
    };
    let t = ui::strings(&req);
    // The pending request is validated again: the hidden field is user input like any other.
    let areq = match authorize::validate(&state.store, raw_authz).await {
        Ok(a) => a,
        Err(e) => return authorize_error(&state, &req, e),
    };
    let email = form.get("email").unwrap_or("");
    let account_value = form.get("customer_account_code").unwrap_or("");
    let page = |status, error: Option<String>, account: Option<&CustomerAccount>| {
        let account = account.cloned();
        let (state, req, areq) = (&state, &req, &areq);
        async move {
            let form = LoginState { error: error.as_deref(), email, account_value, account: account.as_ref() };
            login_page(state, req, areq, status, &form).await
        }
    };
    if !csrf_valid(&state, &req, form.get("csrf_token")) {
        return page(StatusCode::BAD_REQUEST, Some(t.csrf_failed.to_string()), None).await;
    }
    let now = state.now();
    let org = areq.client.organization_id.clone();
    let account = match &areq.customer_account {
        Some(a) => Some(a.clone()),
        None if !account_value.is_empty() => match state.store.find_customer_account_by_code(&org, account_value).await
        {
            Ok(a) => a,
            Err(e) => return redirect_unavailable(&state, &req, &areq, &e),
        },
        // Home-realm discovery: no account named, but the e-mail's domain belongs to one with an IdP.
        None => match realm_by_email(&state, email, Some(&org)).await {
            Ok(Some(a)) => return redirect_to_idp(&state, &req, &a, ReturnTo::Authorize(raw_authz.to_string())).await,
            Ok(None) => None,
            Err(e) => return redirect_unavailable(&state, &req, &areq, &e),
        },
    };
    let password = form.get("password").unwrap_or("");
    // An account that signs in through its IdP only: keyway's password form is refused, the IdP offered.
    if let Some(a) = account.as_ref().filter(|a| !a.password_login()) {
        let name = a.federation.as_ref().map(|f| f.display_name.as_str()).unwrap_or("");
        return page(StatusCode::OK, Some(t.use_idp.replace("{name}", name)), Some(a)).await;
    }
    let signed_in = match &account {
        Some(a) => {
            let next = ReturnTo::Authorize(raw_authz.to_string());
            let realm = Realm::Account(a);
            sign_in(&state, &req, realm, email, password, Surface::HostedLogin, &next, areq.wants_mfa(), now).await
        }
        None => {
            // Same work and answer for an unknown account as for a wrong password.
            let _ = state.passwords.verify(password, None).await;
            Ok(SignIn::Failed)
        }
    };
    match signed_in {
        Ok(SignIn::Done { session, cookies, unsaved }) => {
            // The user has just authenticated, so prompt=login and max_age are satisfied: issue directly, the sign-in
            // and its session written with the code.
            let signed_in = unsaved.signed_in();
            let mut res = respond_signed_in(&state, &req, &areq, &session, Some(&signed_in), now).await;
            if !unsaved.is_written() {
                // Not signed in after all (the store failed): no cookie may name the session.
                return res;
            }
            if let Some(page) = super::recovery::seat_notice(&state, &req, &areq.client, &session.user, &res, now).await
            {
                res = page;
            }
            for c in cookies {
                let _ = res.add_cookie(&c);
            }
            res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            res
        }
        Ok(SignIn::SecondFactor(res)) => res,
        Ok(SignIn::Failed) => page(StatusCode::OK, Some(t.login_failed.to_string()), account.as_deref()).await,
        Ok(SignIn::Locked { until }) => {
            // Issue 17: the lockout's own page, with when to retry and the way out.
            let here = format!("/oauth2/authorize?{}", areq.raw);
            super::recovery::lockout_page(
                &state,
                &req,
                &locked_message(&req, until, now),
                Some(&areq.client),
                None,
                &here,
            )
            .await
        }
        Err(e) => unavailable(&req, &e),
    }
}

/// Home-realm discovery (SPEC §4.4): the one account with an IdP whose configured e-mail domains include the
/// address's (within an organization when given). None when there is no such account, or more than one.
pub async fn realm_by_email(
    state: &AppState,
    email: &str,
    organization_id: Option<&str>,
) -> Result<Option<Arc<CustomerAccount>>, StoreError> {
    let Some(domain) = email.trim().rsplit_once('@').map(|(_, d)| d.to_lowercase()).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    match state.store.accounts_with_domain(&domain, organization_id).await?.as_slice() {
        [one] => state.store.find_customer_account(one).await,
        _ => Ok(None),
    }
}

/// The outcome of a password sign-in on a hosted page.
pub enum SignIn {
    /// A new session and the cookies to set (session and device token); `unsaved` holds what is still to be written
    /// (the sign-in's bookkeeping, the session, the end of the browser's old one), with the code where one is issued.
    Done {
        session: Box<ActiveSession>,
        cookies: Vec<Cookie<'static>>,
        unsaved: Box<Unsaved>,
    },
    /// The password passed; the second factor comes next (no session yet): the redirect to `/login/mfa`.
    SecondFactor(HttpResponse),
    Failed,
    Locked {
        until: i64,
    },
}

/// Checks the password (with the browser's device tokens) and, on success, starts a fresh session, unless a second
/// factor is needed (issue 17: the user has one, the account requires one, or the request asks for MFA): then the
/// pending second factor starts and continues `next` once passed.
#[allow(clippy::too_many_arguments)]
pub async fn sign_in(
    state: &AppState,
    req: &HttpRequest,
    realm: Realm<'_>,
    email: &str,
    password: &str,
    surface: Surface,
    next: &ReturnTo,
    wants_mfa: bool,
    now: i64,
) -> Result<SignIn, StoreError> {
    let key = state.cookie_key.expose();
    let devices = device_tokens(state, req);
    let ip = client_ip(req);
    let attempt = Attempt { email, password, devices: &devices, surface, client_ip: ip.as_deref() };
    let outcome = password::authenticate(&state.password_check(), realm, &attempt, now).await?;
    let (user, token, owed, factors) = match outcome {
        Outcome::Success(s) => (s.user, s.device, s.owed, s.factors),
        Outcome::Failed => {
            crate::metrics::Metrics::inc(&state.metrics.logins_failed);
            return Ok(SignIn::Failed);
        }
        Outcome::Locked { until } => {
            crate::metrics::Metrics::inc(&state.metrics.logins_failed);
            return Ok(SignIn::Locked { until });
        }
    };
    crate::metrics::Metrics::inc(&state.metrics.logins_ok);
    let account = state
        .store
        .find_customer_account(&user.customer_account_id)
        .await?
        .ok_or(StoreError::NotFound("customer account"))?;
    let device_cookie =
        cookie(state, DEVICE_COOKIE, device::cookie_with(&devices, &token, key), Some(DEVICE_COOKIE_MAX_AGE));
    let first = mfa::FirstFactor::Password;
    if mfa::requirement(&state.store, &user, &account, first, wants_mfa, factors).await? != mfa::Requirement::None {
        state.store.record_sign_in(&owed.record(), None, now).await?;
        let how = Authentication::password();
        let res = super::mfa::begin(state, &user, &account, &how, next, vec![device_cookie]).await?;
        return Ok(SignIn::SecondFactor(res));
    }
    let Fresh { session, record, replaces, cookie: session_cookie } =
        fresh_session(state, req, user, account, Authentication::password(), now);
    Ok(SignIn::Done {
        session: Box::new(session),
        cookies: vec![session_cookie, device_cookie],
        unsaved: Box::new(Unsaved { owed, session: record, replaces, written: AtomicBool::new(false) }),
    })
}

/// The browser's device tokens (issue 13 item 4) whose signature verifies: the users it signed in as before.
pub fn device_tokens(state: &AppState, req: &HttpRequest) -> Vec<device::DeviceToken> {
    req.cookie(DEVICE_COOKIE).map(|c| device::parse_cookie(c.value(), state.cookie_key.expose())).unwrap_or_default()
}

/// A password sign-in's writes, not yet made: see [`SignIn::Done`].
pub struct Unsaved {
    owed: SignInOwed,
    session: SessionRecord,
    replaces: Option<String>,
    written: AtomicBool,
}

impl Unsaved {
    pub fn signed_in(&self) -> SignedIn<'_> {
        SignedIn {
            record: self.owed.record(),
            session: &self.session,
            replaces: self.replaces.as_deref(),
            written: &self.written,
        }
    }

    /// Whether the writes have committed.
    pub fn is_written(&self) -> bool {
        self.written.load(Ordering::Relaxed)
    }

    /// Writes them, with no code (the portal's sign-in).
    pub async fn save(&self, store: &Store, now: i64) -> Result<(), StoreError> {
        self.signed_in().write(store, None, now).await
    }
}

/// A fresh session for a user who has just authenticated (by password, SSO link or federation): the browser's old
/// session ends in the same transaction, so a planted session id never becomes a signed-in one (no fixation).
pub async fn start_session(
    state: &AppState,
    req: &HttpRequest,
    user: LicenseUser,
    account: Arc<CustomerAccount>,
    how: Authentication,
    now: i64,
) -> Result<(ActiveSession, Cookie<'static>), StoreError> {
    let fresh = fresh_session(state, req, user, account, how, now);
    state.store.insert_session(&fresh.record, fresh.replaces.as_deref()).await?;
    Ok((fresh.session, fresh.cookie))
}

/// A new session, not yet stored: the session, its row, the hash of the browser's previous session (which ends when
/// the row is written) and the cookie to set once it is.
struct Fresh {
    session: ActiveSession,
    record: SessionRecord,
    replaces: Option<String>,
    cookie: Cookie<'static>,
}

fn fresh_session(
    state: &AppState,
    req: &HttpRequest,
    user: LicenseUser,
    account: Arc<CustomerAccount>,
    how: Authentication,
    now: i64,
) -> Fresh {
    let (value, record, session) = session::prepare(user, account, how, state.config.session_ttl, now);
    let replaces = req.cookie(SESSION_COOKIE).map(|c| hash_token(c.value()));
    Fresh { session, record, replaces, cookie: cookie(state, SESSION_COOKIE, value, Some(state.config.session_ttl)) }
}

/// "Too many failed attempts, try again in N minutes" (at least one).
pub fn locked_message(req: &HttpRequest, until: i64, now: i64) -> String {
    minutes_text(ui::strings(req).locked, until, now)
}

/// `template` with `{minutes}` replaced by the whole minutes until `until` (rounded up, at least one).
pub fn minutes_text(template: &str, until: i64, now: i64) -> String {
    let minutes = ((until - now).max(1) + 59) / 60;
    template.replace("{minutes}", &minutes.to_string())
}
