//! The license user portal (SPEC §6.4): `/account` lists the user's licenses and active devices; a device can be
//! deactivated (frees its seat), CSRF-protected and audited. `GET /login` signs in to the portal directly.
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::web::{page_with_csrf, self as ui, client_ip, cookie, csrf, csrf_valid, error_page, SESSION_COOKIE};
use crate::license::response::iso_date;
use crate::oauth::login::{self, audit, LoginOutcome};
use crate::oauth::session::{self, ActiveSession};
use crate::params::Params;
use crate::state::AppState;
use crate::ui::{AccountView, DeviceRow, LicenseRow, LoginView};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/account", web::get().to(get_account))
        .route("/account/devices/{id}/deactivate", web::post().to(post_deactivate_device))
        .route("/login", web::get().to(get_login));
}

async fn current(state: &AppState, req: &HttpRequest) -> Option<ActiveSession> {
    let c = req.cookie(SESSION_COOKIE)?;
    session::load(state, c.value()).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "loading a session failed");
        None
    })
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to.to_string())).insert_header((header::CACHE_CONTROL, "no-store")).finish()
}

/// Starts a fresh hosted session for `s`'s user (the old one, if any, ends) and redirects to `to`.
pub async fn start_session_and_redirect(state: &AppState, req: &HttpRequest, user: crate::store::entity::license_user::Model, account: crate::store::entity::customer_account::Model, to: &str) -> HttpResponse {
    if let Some(old) = req.cookie(SESSION_COOKIE) {
        let _ = session::end(state, old.value()).await;
    }
    match session::create(state, user, account).await {
        Ok((value, _)) => {
            let mut res = see_other(to);
            let _ = res.add_cookie(&cookie(state, SESSION_COOKIE, value, Some(state.config.session_ttl)));
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "creating a session failed");
            error_page(req, StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable.")
        }
    }
}

async fn get_account(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(s) = current(&state, &req).await else { return see_other("/login") };
    let licenses = match rows(&state, &s).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "portal storage error");
            return error_page(&req, StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable.");
        }
    };
    let c = csrf(&state, &req);
    let view = AccountView { t: ui::strings(&req), csrf_token: &c.token, email: &s.user.email, account_name: &s.account.name, licenses };
    page_with_csrf(&req, StatusCode::OK, &view, c.new_cookie.clone())
}

fn when(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).ok())
        .unwrap_or_default()
}

async fn rows(state: &AppState, s: &ActiveSession) -> Result<Vec<LicenseRow>, crate::store::StoreError> {
    let mut out = Vec::new();
    for l in state.store.all_licenses_for_user(&s.user).await? {
        let product_name = state.store.find_product(&l.product_id).await?.map(|p| p.name).unwrap_or_default();
        let devices = state
            .store
            .active_devices(l.id)
            .await?
            .into_iter()
            .map(|a| {
                let host = a.device_info.as_deref().and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok()).and_then(|v| v["hostname"].as_str().map(str::to_string));
                DeviceRow { id: a.id, label: match host { Some(h) => format!("{h} ({})", a.hardware_id), None => a.hardware_id.clone() }, activated_at: when(a.activated_at) }
            })
            .collect();
        out.push(LicenseRow {
            id: l.id,
            product_name,
            license_type: l.license_type.clone(),
            times_activated: l.times_activated,
            max_activations: l.max_activations,
            expires: l.expires_at.and_then(iso_date),
            devices,
        });
    }
    Ok(out)
}

async fn post_deactivate_device(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let Some(s) = current(&state, &req).await else { return see_other("/login") };
    let p = std::str::from_utf8(&body).ok().and_then(|b| Params::parse(b).ok()).unwrap_or_default();
    if !csrf_valid(&state, &req, p.get("csrf_token")) {
        return error_page(&req, StatusCode::BAD_REQUEST, "The form expired. Please reload the page and try again.");
    }
    let Ok(id) = path.into_inner().parse::<i64>() else { return error_page(&req, StatusCode::NOT_FOUND, "No such device.") };
    let now = state.now();
    let result = async {
        let Some(a) = state.store.find_activation_by_id(id).await? else { return Ok(false) };
        // Only devices of licenses this user may see.
        let mine = state.store.all_licenses_for_user(&s.user).await?.iter().any(|l| l.id == a.license_id);
        if !mine || !a.active {
            return Ok(false);
        }
        state.store.deactivate(a.license_id, &a.hardware_id, now).await
    }
    .await;
    match result {
        Ok(true) => {
            audit(&state, "license.deactivate", &format!("activation {id} by {}", s.user.id), client_ip(&req).as_deref(), "success (portal)", now).await;
            see_other("/account")
        }
        Ok(false) => error_page(&req, StatusCode::NOT_FOUND, "No such active device."),
        Err(e) => {
            tracing::error!(error = %e, "portal deactivation failed");
            error_page(&req, StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable.")
        }
    }
}

/// The portal's own sign-in page: like the hosted login, with the customer account asked for.
async fn get_login(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    portal_login_page(&state, &req, StatusCode::OK, None, "", "")
}

pub fn portal_login_page(state: &AppState, req: &HttpRequest, status: StatusCode, error: Option<&str>, email: &str, account: &str) -> HttpResponse {
    let c = csrf(state, req);
    let t = ui::strings(req);
    let view = LoginView { t, csrf_token: &c.token, authz: "", product_name: t.account_title, account_name: None, ask_account: true, account_value: account, email_value: email, error };
    page_with_csrf(req, status, &view, c.new_cookie.clone())
}

/// `POST /login` without a pending authorization request: sign in to the portal. Account codes are unique per
/// organization; the code must name exactly one account.
pub async fn portal_login(state: &AppState, req: &HttpRequest, form: &Params) -> HttpResponse {
    let t = ui::strings(req);
    let email = form.get("email").unwrap_or("");
    let account_code = form.get("customer_account_code").unwrap_or("");
    if !csrf_valid(state, req, form.get("csrf_token")) {
        return portal_login_page(state, req, StatusCode::BAD_REQUEST, Some(t.csrf_failed), email, account_code);
    }
    let accounts = state.store.find_customer_accounts_by_code(account_code).await.unwrap_or_default();
    let password = form.get("password").unwrap_or("");
    let ip = client_ip(req);
    let outcome = match accounts.as_slice() {
        [a] => login::authenticate(state, a, email, password, ip.as_deref()).await.map(|o| (o, Some(a.clone()))),
        _ => {
            let _ = state.verify_password(password, None).await;
            Ok((LoginOutcome::Failed, None))
        }
    };
    match outcome {
        Ok((LoginOutcome::Success(user), Some(account))) => start_session_and_redirect(state, req, user, account, "/account").await,
        Ok(_) => portal_login_page(state, req, StatusCode::OK, Some(t.login_failed), email, account_code),
        Err(e) => {
            tracing::error!(error = %e, "portal sign-in storage error");
            error_page(req, StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable.")
        }
    }
}
