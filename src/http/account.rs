//! The license user portal (SPEC §6.4): `/account` lists the user's licenses and active devices; a device can be
//! deactivated (frees its seat), CSRF-protected and audited. `GET /login` signs in to the portal directly; with
//! `?org=<organization id>` (the vendor's portal link) the customer account code is looked up in that organization
//! only.
use std::sync::Arc;

use actix_web::cookie::Cookie;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::federation::redirect_to_idp;
use super::login::{locked_message, realm_by_email, sign_in, SignIn, Unsaved};
use super::web::{self as ui, client_ip, csrf, csrf_valid, error_page, page_with_csrf, unavailable, SESSION_COOKIE};
use crate::audit::Actor;
use crate::auth::password::{Realm, Surface};
use crate::federation::ReturnTo;
use crate::license::portal::{self, PortalError};
use crate::model::CustomerAccount;
use crate::oauth::session::{self, ActiveSession};
use crate::params::Params;
use crate::state::AppState;
use crate::store::StoreError;
use crate::ui::{AccountView, DeviceRow, IdpButton, LicenseRow, LoginView};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/account", web::get().to(get_account))
        .route("/account/devices/{id}/deactivate", web::post().to(post_deactivate_device))
        .route("/login", web::get().to(get_login));
}

/// The signed-in user of this browser, if any.
pub(crate) async fn current(
    state: &AppState,
    req: &HttpRequest,
    now: i64,
) -> Result<Option<ActiveSession>, StoreError> {
    match req.cookie(SESSION_COOKIE) {
        Some(c) => session::load(&state.store, c.value(), now).await,
        None => Ok(None),
    }
}

pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

async fn get_account(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let now = state.now();
    let s = match current(&state, &req, now).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other("/login"),
        Err(e) => return unavailable(&req, &e),
    };
    let licenses = match portal::overview(&state.store, &s.user).await {
        Ok(r) => r,
        Err(e) => return unavailable(&req, &e),
    };
    let t = ui::strings(&req);
    let r = crate::ui::recovery::strings_for(t);
    let rows = licenses
        .into_iter()
        .map(|l| LicenseRow {
            id: l.license.id,
            product_name: l.product_name,
            license_type: crate::ui::recovery::license_type_words(r, l.license.license_type.as_str()),
            license_key: l.license.license_key.clone(),
            times_activated: l.license.times_activated,
            max_activations: l.license.max_activations,
            expires: l.license.expires_at.and_then(crate::license::response::iso_date),
            devices: l
                .devices
                .into_iter()
                .map(|d| DeviceRow { id: d.id, label: d.label, activated_at: when(d.activated_at) })
                .collect(),
        })
        .collect();
    let c = csrf(&state, &req);
    let notice = match Params::parse(req.query_string()).ok().as_ref().and_then(|p| p.get("notice")) {
        Some("deactivated") => Some(r.deactivated),
        Some("password") => Some(r.password_changed),
        _ => None,
    };
    let view = AccountView {
        t,
        csrf_token: &c.token,
        email: &s.user.email,
        account_name: &s.account.name,
        licenses: rows,
        notice,
        r,
        has_password: s.user.password_hash.is_some(),
    };
    page_with_csrf(&req, StatusCode::OK, &view, c.new_cookie.clone())
}

fn when(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).ok())
        .unwrap_or_default()
}

async fn post_deactivate_device(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let now = state.now();
    let s = match current(&state, &req, now).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other("/login"),
        Err(e) => return unavailable(&req, &e),
    };
    if let Err(page) = ui::csrf_form(&state, &req, payload).await {
        return page;
    }
    let Ok(id) = path.into_inner().parse::<i64>() else {
        return error_page(&req, StatusCode::NOT_FOUND, ui::strings(&req).no_such_device);
    };
    let ip = client_ip(&req);
    match portal::deactivate_device(&state.store, &s.user, &Actor::user(&s.user.id), id, ip.as_deref(), now).await {
        Ok(()) => see_other("/account?notice=deactivated"),
        Err(PortalError::NoSuchDevice) => error_page(&req, StatusCode::NOT_FOUND, ui::strings(&req).no_such_device),
        Err(PortalError::Store(e)) => unavailable(&req, &e),
    }
}

/// The portal's own sign-in page: like the hosted login, with the customer account asked for.
async fn get_login(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let org = Params::parse(req.query_string()).ok().and_then(|p| p.get("org").map(str::to_string));
    portal_login_page(&state, &req, StatusCode::OK, &PortalForm { org: org.as_deref(), ..Default::default() }).await
}

/// What the portal sign-in page shows: an error, the values typed so far, the organization of the portal link,
/// and the account whose IdP to offer.
#[derive(Default)]
pub struct PortalForm<'a> {
    pub error: Option<&'a str>,
    pub email: &'a str,
    pub account_code: &'a str,
    pub org: Option<&'a str>,
    pub account: Option<&'a CustomerAccount>,
}

pub async fn portal_login_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    form: &PortalForm<'_>,
) -> HttpResponse {
    let c = csrf(state, req);
    let t = ui::strings(req);
    let idp = form.account.and_then(|a| a.federation.as_ref().map(|f| (a, f))).map(|(a, f)| IdpButton {
        label: t.sign_in_with.replace("{name}", &f.display_name),
        href: crate::encoding::with_query("/federation/start", &[("account", &a.id)]),
    });
    let ctx = match super::recovery::page_context(state, req, None, form.org).await {
        Ok(c) => c,
        Err(e) => return unavailable(req, &e),
    };
    let here = crate::encoding::with_query(
        "/login",
        &[("org", form.org.unwrap_or(""))].into_iter().filter(|p| !p.1.is_empty()).collect::<Vec<_>>(),
    );
    let view = LoginView {
        c: ctx.chrome(&here),
        forgot_href: super::recovery::forgot_href(state, None, form.org),
        t,
        csrf_token: &c.token,
        authz: "",
        organization: form.org.unwrap_or(""),
        // "Sign in to <the organization>" from a vendor's portal link with its branding, else to the license portal.
        product_name: ctx.brand.name.as_deref().unwrap_or(t.license_portal),
        account_name: None,
        ask_account: true,
        account_value: form.account_code,
        email_value: form.email,
        error: form.error,
        idp,
        password_form: form.account.is_none_or(|a| a.password_login()),
    };
    super::mfa::allow_webauthn_script(page_with_csrf(req, status, &view, c.new_cookie.clone()))
}

/// `POST /login` without a pending authorization request: sign in to the portal. The account code is looked up in
/// the organization of the portal link when it names one; otherwise in every organization, the e-mail address
/// picking the account (codes are unique per organization only, so one vendor's codes never block another's). An
/// account with an identity provider signs in there; with no account code, the e-mail's domain may name one
/// (home-realm discovery).
pub async fn portal_login(state: &AppState, req: &HttpRequest, form: &Params) -> HttpResponse {
    let t = ui::strings(req);
    let email = form.get("email").unwrap_or("");
    let account_code = form.get("customer_account_code").unwrap_or("");
    let org = form.get("organization");
    let page = |status, error: Option<&'static str>, account: Option<&CustomerAccount>| {
        let (error, account) = (error, account.cloned());
        async move {
            portal_login_page(
                state,
                req,
                status,
                &PortalForm { error, email, account_code, org, account: account.as_ref() },
            )
            .await
        }
    };
    if !csrf_valid(state, req, form.get("csrf_token")) {
        return page(StatusCode::BAD_REQUEST, Some(t.csrf_failed), None).await;
    }
    let now = state.now();
    let password = form.get("password").unwrap_or("");
    let federated = match federated_account(state, account_code, email, org).await {
        Ok(a) => a,
        Err(e) => return unavailable(req, &e),
    };
    if let Some(account) = federated {
        if password.is_empty() || !account.password_login() {
            if !password.is_empty() {
                // keyway's password form is refused for an IdP-only account; its IdP is offered instead.
                let name = account.federation.as_ref().map(|f| f.display_name.as_str()).unwrap_or("");
                let message = t.use_idp.replace("{name}", name);
                return portal_login_page(
                    state,
                    req,
                    StatusCode::OK,
                    &PortalForm { error: Some(&message), email, account_code, org, account: Some(&account) },
                )
                .await;
            }
            return redirect_to_idp(state, req, &account, ReturnTo::Portal).await;
        }
    }
    // From a vendor's portal link the account code is optional: without one, the address's users in that
    // organization, each with its own lock and IdP-only accounts left out, as "forgot password" and the License API's
    // username find them (end users seldom know their account's code).
    let realm = match org {
        Some(o) if account_code.trim().is_empty() => Realm::Organization(o),
        _ => Realm::AccountCode { code: account_code, organization_id: org },
    };
    match sign_in(state, req, realm, email, password, Surface::Portal, &ReturnTo::Portal, false, now).await {
        Ok(SignIn::Done { cookies, unsaved, .. }) => {
            portal_signed_in(state, req, &unsaved, cookies, "/account", now).await
        }
        Ok(SignIn::SecondFactor(res)) => res,
        Ok(SignIn::Failed) => page(StatusCode::OK, Some(t.login_failed), None).await,
        Ok(SignIn::Locked { until }) => {
            let here = crate::encoding::with_query(
                "/login",
                &[("org", org.unwrap_or(""))].into_iter().filter(|p| !p.1.is_empty()).collect::<Vec<_>>(),
            );
            super::recovery::lockout_page(state, req, &locked_message(req, until, now), None, org, &here).await
        }
        Err(e) => unavailable(req, &e),
    }
}

/// A password sign-in on a portal page that answers no authorization request: its writes (the session among them),
/// then `to` with its cookies (session, device token), set only once they have committed.
pub(crate) async fn portal_signed_in(
    state: &AppState,
    req: &HttpRequest,
    unsaved: &Unsaved,
    cookies: Vec<Cookie<'static>>,
    to: &str,
    now: i64,
) -> HttpResponse {
    if let Err(e) = unsaved.save(&state.store, now).await {
        return unavailable(req, &e);
    }
    let mut res = see_other(to);
    for c in cookies {
        let _ = res.add_cookie(&c);
    }
    res
}

/// The account with an identity provider the portal form names: by its code (when exactly one account of the
/// portal's organization, or of all, has it), or by the e-mail's domain when no code was typed.
async fn federated_account(
    state: &AppState,
    code: &str,
    email: &str,
    org: Option<&str>,
) -> Result<Option<Arc<CustomerAccount>>, StoreError> {
    if code.is_empty() {
        return realm_by_email(state, email, org).await;
    }
    let accounts: Vec<CustomerAccount> = state
        .store
        .find_customer_accounts_by_code(code)
        .await?
        .into_iter()
        .filter(|a| org.is_none_or(|o| a.organization_id == o))
        .collect();
    Ok(match accounts.as_slice() {
        [one] if one.federation.is_some() => Some(Arc::new(one.clone())),
        _ => None,
    })
}
