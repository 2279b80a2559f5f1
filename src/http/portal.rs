//! The portal's confirmations and password change (issue 17 items 2 and 5): `GET /account/devices/{id}/deactivate`
//! asks before a device is deactivated (the POST, in account.rs, does it); `/account/password` changes the password
//! (the current one required, CSRF-protected) and signs the user's other sessions out.
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::account::{current, see_other};
use super::login::{device_tokens, locked_message};
use super::recovery::page_context;
use super::web::{self as ui, client_ip, csrf, csrf_valid, error_page, page_with_csrf, unavailable, SESSION_COOKIE};
use crate::auth::recovery::{self, PasswordChange, ResetError};
use crate::crypto::secrets::hash_token;
use crate::state::AppState;
use crate::ui::recovery::{DeactivateView, PasswordChangeView};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/account/devices/{id}/deactivate", web::get().to(get_deactivate))
        .route("/account/password", web::get().to(get_password))
        .route("/account/password", web::post().to(post_password));
}

async fn get_deactivate(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let now = state.now();
    let s = match current(&state, &req, now).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other("/login"),
        Err(e) => return unavailable(&req, &e),
    };
    let Ok(id) = path.into_inner().parse::<i64>() else {
        return error_page(&req, StatusCode::NOT_FOUND, ui::strings(&req).no_such_device);
    };
    let licenses = match crate::license::portal::overview(&state.store, &s.user).await {
        Ok(l) => l,
        Err(e) => return unavailable(&req, &e),
    };
    let Some((product, device)) =
        licenses.iter().find_map(|l| l.devices.iter().find(|d| d.id == id).map(|d| (&l.product_name, &d.label)))
    else {
        return error_page(&req, StatusCode::NOT_FOUND, ui::strings(&req).no_such_device);
    };
    let ctx = match page_context(&state, &req, None, Some(&s.account.organization_id)).await {
        Ok(c) => c,
        Err(e) => return unavailable(&req, &e),
    };
    let question = ctx.r.deactivate_question.replace("{device}", device).replace("{product}", product);
    let c = csrf(&state, &req);
    let here = format!("/account/devices/{id}/deactivate");
    let view =
        DeactivateView { t: ctx.t, c: ctx.chrome(&here), csrf_token: &c.token, device_id: id, question: &question };
    page_with_csrf(&req, StatusCode::OK, &view, c.new_cookie.clone())
}

async fn get_password(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    password_page(&state, &req, None).await
}

async fn password_page(state: &AppState, req: &HttpRequest, error: Option<&str>) -> HttpResponse {
    let s = match current(state, req, state.now()).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other("/login"),
        Err(e) => return unavailable(req, &e),
    };
    let ctx = match page_context(state, req, None, Some(&s.account.organization_id)).await {
        Ok(c) => c,
        Err(e) => return unavailable(req, &e),
    };
    let c = csrf(state, req);
    let view = PasswordChangeView {
        t: ctx.t,
        c: ctx.chrome("/account/password"),
        csrf_token: &c.token,
        email: &s.user.email,
        error,
    };
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    page_with_csrf(req, status, &view, c.new_cookie.clone())
}

async fn post_password(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let now = state.now();
    let s = match current(&state, &req, now).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other("/login"),
        Err(e) => return unavailable(&req, &e),
    };
    let p = match ui::form(&req, payload).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let t = ui::strings(&req);
    let r = crate::ui::recovery::strings_for(t);
    if !csrf_valid(&state, &req, p.get("csrf_token")) {
        return password_page(&state, &req, Some(t.csrf_failed)).await;
    }
    let keep = req.cookie(SESSION_COOKIE).map(|c| hash_token(c.value())).unwrap_or_default();
    let ip = client_ip(&req);
    let devices = device_tokens(&state, &req);
    let change = PasswordChange {
        current: p.get("current_password").unwrap_or(""),
        password: p.get("new_password").unwrap_or(""),
        confirm: p.get("confirm_password").unwrap_or(""),
        devices: &devices,
        keep: &keep,
        client_ip: ip.as_deref(),
    };
    match recovery::change_password(&state.password_check(), &s.account, &s.user, &change, now).await {
        Ok(()) => see_other("/account?notice=password"),
        Err(ResetError::WrongPassword) => password_page(&state, &req, Some(r.current_wrong)).await,
        Err(ResetError::Locked { until }) => password_page(&state, &req, Some(&locked_message(&req, until, now))).await,
        Err(ResetError::WeakPassword) => password_page(&state, &req, Some(r.password_weak)).await,
        Err(ResetError::Mismatch) => password_page(&state, &req, Some(r.password_mismatch)).await,
        Err(ResetError::Store(e)) => unavailable(&req, &e),
        Err(e) => {
            tracing::error!(error = %e, "password change failed");
            error_page(&req, StatusCode::INTERNAL_SERVER_ERROR, t.unavailable)
        }
    }
}
