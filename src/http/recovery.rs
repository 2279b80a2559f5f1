//! Account recovery pages (issue 17 item 2): `/password/forgot`, `/password/reset`, `/email/verify`; and the pages
//! that point to them: the lockout page and the user-facing "this sign-in link is not valid" page (item 5).
//!
//! "Forgot password" answers the same page at once, whether or not the address is known: the look-up, the link
//! and the mail are done in a background task, so neither the answer nor its timing tells who has an account.
use crate::ratelimit::Surface;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::request_id;
use super::web::{self as ui, client_ip, csrf, csrf_valid, error_page, page_with_csrf, unavailable};
use crate::auth::recovery::{self, LinkKind, ResetError};
use crate::branding::{self, Brand};
use crate::mail::Outgoing;
use crate::model::{LicenseUser, OAuthClient};
use crate::params::Params;
use crate::state::AppState;
use crate::store::StoreError;
use crate::ui::recovery::{
    self as rui, Chrome, ForgotView, FriendlyErrorView, LangSwitch, LockoutView, RecoveryStrings, ResetView, VerifyView,
};
use crate::ui::Strings;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/password/forgot", web::get().to(get_forgot))
        .route("/password/forgot", web::post().to(post_forgot))
        .route("/password/reset", web::get().to(get_reset))
        .route("/password/reset", web::post().to(post_reset))
        .route("/email/verify", web::get().to(get_verify))
        .route("/email/verify", web::post().to(post_verify));
}

/// The branding and product name of a page: by the product (client id) when known, else the organization's.
pub struct PageContext {
    pub t: &'static Strings,
    pub r: &'static RecoveryStrings,
    pub brand: Brand,
    pub product_name: String,
    pub client: Option<std::sync::Arc<OAuthClient>>,
}

impl PageContext {
    pub fn chrome(&self, here: &str) -> Chrome<'_> {
        Chrome {
            t: self.t,
            r: self.r,
            brand: &self.brand,
            lang: LangSwitch::new(here),
            product_name: &self.product_name,
        }
    }
}

pub async fn page_context(
    state: &AppState,
    req: &HttpRequest,
    client_id: Option<&str>,
    org: Option<&str>,
) -> Result<PageContext, StoreError> {
    let t = ui::strings(req);
    let r = rui::strings_for(t);
    let client = match client_id.filter(|c| !c.is_empty()) {
        Some(c) => state.store.find_client(c).await?,
        None => None,
    };
    let brand = match (&client, org.filter(|o| !o.is_empty())) {
        (Some(c), _) => branding::resolve(&state.store, &c.organization_id, Some(&c.id)).await?,
        (None, Some(o)) => branding::resolve(&state.store, o, None).await?,
        (None, None) => Brand::default(),
    };
    let product_name = client.as_ref().map(|c| c.name.clone()).unwrap_or_else(|| t.account_title.to_string());
    Ok(PageContext { t, r, brand, product_name, client })
}

/// The page's own address, for the language links.
fn here(req: &HttpRequest) -> String {
    match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{q}", req.path()),
    }
}

/// "Forgot password?" for the login page of a product (or of the portal of an organization); None without SMTP.
pub fn forgot_href(state: &AppState, client_id: Option<&str>, org: Option<&str>) -> Option<String> {
    state.mailer.as_ref()?;
    let mut pairs = Vec::new();
    if let Some(c) = client_id.filter(|c| !c.is_empty()) {
        pairs.push(("client_id", c));
    }
    if let Some(o) = org.filter(|o| !o.is_empty()) {
        pairs.push(("org", o));
    }
    Some(crate::encoding::with_query("/password/forgot", &pairs))
}

fn back_href(client: Option<&OAuthClient>, org: Option<&str>) -> String {
    // The product's own sign-in starts in the product; the portal's sign-in is the way back we can name.
    let org = client.map(|c| c.organization_id.as_str()).or(org).filter(|o| !o.is_empty());
    match org {
        Some(o) => crate::encoding::with_query("/login", &[("org", o)]),
        None => "/login".to_string(),
    }
}

async fn get_forgot(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let q = Params::parse(req.query_string()).unwrap_or_default();
    forgot_page(&state, &req, &q, false, None).await
}

async fn forgot_page(state: &AppState, req: &HttpRequest, p: &Params, sent: bool, error: Option<&str>) -> HttpResponse {
    if state.mailer.is_none() {
        // Without SMTP the feature hides itself; support staff use `keyway user reset-link`.
        return error_page(req, StatusCode::NOT_FOUND, ui::strings(req).not_found);
    }
    let (client_id, org) = (p.get("client_id"), p.get("org"));
    let ctx = match page_context(state, req, client_id, org).await {
        Ok(c) => c,
        Err(e) => return unavailable(req, &e),
    };
    let org = ctx.client.as_ref().map(|c| c.organization_id.as_str()).or(org).unwrap_or("");
    let here = crate::encoding::with_query(
        "/password/forgot",
        &[("client_id", client_id.unwrap_or("")), ("org", org)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect::<Vec<_>>(),
    );
    let c = csrf(state, req);
    let back = back_href(ctx.client.as_deref(), Some(org));
    let view = ForgotView {
        t: ctx.t,
        c: ctx.chrome(&here),
        csrf_token: &c.token,
        client_id: ctx.client.as_ref().map(|c| c.client_id.as_str()).unwrap_or(""),
        organization: org,
        ask_account: true,
        email_value: p.get("email").unwrap_or(""),
        account_value: p.get("customer_account_code").unwrap_or(""),
        sent,
        back_href: &back,
        error,
    };
    page_with_csrf(req, StatusCode::OK, &view, c.new_cookie.clone())
}

async fn post_forgot(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let p = match ui::form(&req, payload).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    if !csrf_valid(&state, &req, p.get("csrf_token")) {
        return forgot_page(&state, &req, &p, false, Some(ui::strings(&req).csrf_failed)).await;
    }
    let Some(mailer) = state.mailer.clone() else {
        return error_page(&req, StatusCode::NOT_FOUND, ui::strings(&req).not_found);
    };
    // Limited per e-mail address whether or not it belongs to anyone, so a 429 tells nothing about existence.
    if let Err(wait) = state.rate_limits.check(Surface::Mail, ui::client_ip_addr(&req), p.get("email")) {
        return ui::too_many_requests(&req, wait);
    }
    let r = rui::strings_for(ui::strings(&req));
    let email = p.get("email").unwrap_or("").to_string();
    let code = p.get("customer_account_code").unwrap_or("").to_string();
    let client_id = p.get("client_id").filter(|c| !c.is_empty()).map(str::to_string);
    let org = p.get("org").filter(|o| !o.is_empty()).map(str::to_string);
    let st = state.clone();
    // Everything that depends on whether the address exists happens after the answer.
    tokio::spawn(async move {
        if let Err(e) = send_reset_links(&st, &mailer, r, &email, &code, client_id.as_deref(), org.as_deref()).await {
            tracing::error!(error = %e, "sending password reset links failed");
        }
    });
    forgot_page(&state, &req, &p, true, None).await
}

async fn send_reset_links(
    state: &AppState,
    mailer: &crate::mail::Mailer,
    r: &'static RecoveryStrings,
    email: &str,
    account_code: &str,
    client_id: Option<&str>,
    org: Option<&str>,
) -> Result<(), StoreError> {
    let now = state.now();
    let client = match client_id {
        Some(c) => state.store.find_client(c).await?,
        None => None,
    };
    let org = client.as_ref().map(|c| c.organization_id.as_str()).or(org);
    let users = recovery::users_for_reset(&state.store, email, account_code, org).await?;
    for user in users {
        let link =
            recovery::issue_link(&state.store, &state.config.issuer, &user, LinkKind::Reset, client_id, now).await?;
        let account = state.store.find_customer_account(&user.customer_account_id).await?;
        let account_name = account.as_ref().map(|a| a.name.as_str()).unwrap_or("");
        let mail = link_mail(r, LinkKind::Reset, &user, account_name, &link);
        match mailer.send(mail).await {
            Ok(()) => tracing::info!(user = %user.id, "password reset link sent"),
            Err(e) => tracing::error!(user = %user.id, error = %e, "password reset mail failed"),
        }
    }
    Ok(())
}

/// A reset or verification mail: plain text with an HTML alternative, in the language the user asked in.
pub fn link_mail(r: &RecoveryStrings, kind: LinkKind, user: &LicenseUser, account: &str, link: &str) -> Outgoing {
    let (subject, intro) = match kind {
        LinkKind::Reset => (r.mail_reset_subject, r.mail_reset_text),
        LinkKind::Verify => (r.mail_verify_subject, r.mail_verify_text),
    };
    let intro = intro.replace("{account}", account).replace("{minutes}", &(recovery::RESET_TTL / 60).to_string());
    let text = format!("{intro}\n\n{link}\n\n{}\n", r.mail_ignore);
    let html = format!(
        "<!doctype html><html><body><p>{}</p><p><a href=\"{}\">{}</a></p><p>{}</p></body></html>",
        escape(&intro),
        escape(link),
        escape(subject),
        escape(r.mail_ignore)
    );
    Outgoing { to: user.email.clone(), subject: subject.to_string(), text, html }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Whether a reset or verification link is usable, and the page context of the product it was issued for (its
/// branding and way back).
async fn link_page_context(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    kind: LinkKind,
) -> Result<(bool, PageContext), StoreError> {
    let client_id = recovery::link_client(&state.store, token, kind, state.now()).await?;
    let ctx = page_context(state, req, client_id.as_deref(), None).await?;
    Ok((client_id.is_some(), ctx))
}

async fn get_reset(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let q = Params::parse(req.query_string()).unwrap_or_default();
    reset_page(&state, &req, q.get("token").unwrap_or(""), None, false).await
}

async fn reset_page(state: &AppState, req: &HttpRequest, token: &str, error: Option<&str>, done: bool) -> HttpResponse {
    let (valid, ctx) = match link_page_context(state, req, token, LinkKind::Reset).await {
        Ok((usable, ctx)) => (done || usable, ctx),
        Err(e) => return unavailable(req, &e),
    };
    let c = csrf(state, req);
    let here = crate::encoding::with_query("/password/reset", &[("token", token)]);
    let forgot = forgot_href(state, ctx.client.as_ref().map(|c| c.client_id.as_str()), None)
        .unwrap_or_else(|| "/login".to_string());
    let back = back_href(ctx.client.as_deref(), None);
    let status = if valid { StatusCode::OK } else { StatusCode::GONE };
    let view = ResetView {
        t: ctx.t,
        c: ctx.chrome(&here),
        csrf_token: &c.token,
        token,
        valid,
        done,
        error,
        forgot_href: &forgot,
        back_href: &back,
    };
    page_with_csrf(req, status, &view, c.new_cookie.clone())
}

async fn post_reset(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let p = match ui::form(&req, payload).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let token = p.get("token").unwrap_or("");
    let r = rui::strings_for(ui::strings(&req));
    if !csrf_valid(&state, &req, p.get("csrf_token")) {
        return reset_page(&state, &req, token, Some(ui::strings(&req).csrf_failed), false).await;
    }
    let ip = client_ip(&req);
    let (pw, confirm) = (p.get("new_password").unwrap_or(""), p.get("confirm_password").unwrap_or(""));
    match recovery::reset_password(&state.store, &state.passwords, token, pw, confirm, ip.as_deref(), state.now()).await
    {
        Ok(_) => reset_page(&state, &req, token, None, true).await,
        Err(ResetError::InvalidLink) => reset_page(&state, &req, token, None, false).await,
        Err(ResetError::WeakPassword) => reset_page(&state, &req, token, Some(r.password_weak), false).await,
        Err(ResetError::Mismatch) => reset_page(&state, &req, token, Some(r.password_mismatch), false).await,
        Err(ResetError::Store(e)) => unavailable(&req, &e),
        Err(e) => {
            tracing::error!(error = %e, "password reset failed");
            error_page(&req, StatusCode::INTERNAL_SERVER_ERROR, ui::strings(&req).unavailable)
        }
    }
}

async fn get_verify(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let q = Params::parse(req.query_string()).unwrap_or_default();
    verify_page(&state, &req, q.get("token").unwrap_or(""), false).await
}

async fn verify_page(state: &AppState, req: &HttpRequest, token: &str, done: bool) -> HttpResponse {
    let (valid, ctx) = match link_page_context(state, req, token, LinkKind::Verify).await {
        Ok((usable, ctx)) => (done || usable, ctx),
        Err(e) => return unavailable(req, &e),
    };
    let c = csrf(state, req);
    let here = crate::encoding::with_query("/email/verify", &[("token", token)]);
    let status = if valid { StatusCode::OK } else { StatusCode::GONE };
    let view = VerifyView { t: ctx.t, c: ctx.chrome(&here), csrf_token: &c.token, token, valid, done };
    page_with_csrf(req, status, &view, c.new_cookie.clone())
}

async fn post_verify(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let p = match ui::csrf_form(&state, &req, payload).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let token = p.get("token").unwrap_or("");
    match recovery::verify_email(&state.store, token, state.now()).await {
        Ok(_) => verify_page(&state, &req, token, true).await,
        Err(ResetError::Store(e)) => unavailable(&req, &e),
        Err(_) => verify_page(&state, &req, token, false).await,
    }
}

/// The lockout page (issue 17 item 5): when to retry, and the way out (a reset link). Shown alike for known and
/// unknown addresses: the lock is counted per address whether or not it exists.
pub async fn lockout_page(
    state: &AppState,
    req: &HttpRequest,
    message: &str,
    client: Option<&OAuthClient>,
    org: Option<&str>,
    here: &str,
) -> HttpResponse {
    let ctx = match page_context(state, req, client.map(|c| c.client_id.as_str()), org).await {
        Ok(c) => c,
        Err(e) => return unavailable(req, &e),
    };
    let forgot = forgot_href(state, client.map(|c| c.client_id.as_str()), org);
    let view = LockoutView { t: ctx.t, c: ctx.chrome(here), message, forgot_href: forgot.as_deref(), back_href: here };
    page_with_csrf(req, StatusCode::OK, &view, None)
}

/// The user-facing page for an authorization request that cannot be served (unknown client, unregistered
/// redirect_uri): "This sign-in link is not valid. Please return to <product> and try again.", the technical
/// reason folded away.
pub async fn invalid_link_page(state: &AppState, req: &HttpRequest, raw_query: &str, detail: &str) -> HttpResponse {
    let q = Params::parse(raw_query).unwrap_or_default();
    let ctx = match page_context(state, req, q.get("client_id"), None).await {
        Ok(c) => c,
        Err(e) => return unavailable(req, &e),
    };
    let product = ctx.client.as_ref().map(|c| ctx.brand.name.clone().unwrap_or_else(|| c.name.clone()));
    let summary = ctx.r.link_not_valid.replace("{product}", product.as_deref().unwrap_or(ctx.r.the_application));
    let request_id = request_id(req);
    tracing::info!(path = req.path(), detail, "invalid sign-in link");
    let view =
        FriendlyErrorView { t: ctx.t, c: ctx.chrome(&here(req)), summary: &summary, detail, request_id: &request_id };
    page_with_csrf(req, StatusCode::BAD_REQUEST, &view, None)
}

/// Issue 17 item 5: after a sign-in for a product whose licenses have no free seat, a page says so before the
/// device waits for an activation that will fail: "continue" goes on to the product (the redirect it would have
/// got), the portal link frees a seat. None when a seat is free (or the answer is not a redirect).
pub async fn seat_notice(
    state: &AppState,
    req: &HttpRequest,
    client: &OAuthClient,
    user: &LicenseUser,
    answer: &HttpResponse,
    now: i64,
) -> Option<HttpResponse> {
    if answer.status() != StatusCode::SEE_OTHER {
        return None;
    }
    let location = answer.headers().get(actix_web::http::header::LOCATION)?.to_str().ok()?.to_string();
    let licenses = match state.store.licenses_for_user(&client.id, user).await {
        Ok(l) => l,
        // The notice is a courtesy: a storage error here must not stop a sign-in that succeeded.
        Err(e) => {
            tracing::warn!(error = %e, "seat check after sign-in failed");
            return None;
        }
    };
    let (used, max) = crate::license::portal::seats_full(&licenses, now)?;
    let ctx = page_context(state, req, Some(client.client_id.as_str()), None).await.ok()?;
    let product = ctx.brand.name.clone().unwrap_or_else(|| client.name.clone());
    let text = ctx
        .r
        .seat_text
        .replace("{product}", &product)
        .replace("{used}", &used.to_string())
        .replace("{max}", &max.to_string());
    let portal = crate::encoding::with_query("/account", &[("org", client.organization_id.as_str())]);
    let view = rui::SeatNoticeView {
        t: ctx.t,
        c: ctx.chrome(&here(req)),
        text: &text,
        continue_href: &location,
        portal_href: &portal,
    };
    Some(page_with_csrf(req, StatusCode::OK, &view, None))
}
