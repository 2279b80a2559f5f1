//! Shared pieces of the hosted UI handlers: locale, cookies, CSRF tokens, security headers, error pages.
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use askama::Template;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::request_id;
use crate::crypto::secrets::{hex, random_token, secrets_equal};
use crate::state::AppState;
use crate::store::StoreError;
use crate::ui::{ErrorView, Locale, Strings};

pub const SESSION_COOKIE: &str = "kw_session";
pub const CSRF_COOKIE: &str = "kw_csrf";
/// Device tokens (auth::device): which users signed in on this browser before.
pub const DEVICE_COOKIE: &str = "kw_device";
/// A device token lives a year; each sign-in renews it.
pub const DEVICE_COOKIE_MAX_AGE: i64 = 365 * 24 * 3600;

/// The page's language: `?lang=` (the language switcher), then its cookie, then `Accept-Language`.
pub fn strings(req: &HttpRequest) -> &'static Strings {
    let chosen = super::lang::query_lang(req.query_string()).or_else(|| {
        req.cookie(super::lang::LANG_COOKIE).and_then(|c| super::lang::query_lang(&format!("lang={}", c.value())))
    });
    match chosen {
        Some("de") => Locale::De.strings(),
        Some(_) => Locale::En.strings(),
        None => Locale::negotiate(req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())).strings(),
    }
}

/// An HttpOnly, SameSite=Lax cookie for the whole site, Secure when the issuer is https.
pub fn cookie<'a>(state: &AppState, name: &'a str, value: String, max_age: Option<i64>) -> Cookie<'a> {
    let mut c = Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.is_https())
        .finish();
    if let Some(s) = max_age {
        c.set_max_age(actix_web::cookie::time::Duration::seconds(s));
    }
    c
}

pub fn removal(state: &AppState, name: &'static str) -> Cookie<'static> {
    let mut c = cookie(state, name, String::new(), Some(0));
    c.make_removal();
    c
}

/// Double-submit CSRF defence bound to a random per-browser cookie: the form carries HMAC(cookie key, cookie
/// value), which a cross-site attacker can neither read nor compute.
pub struct Csrf {
    pub token: String,
    /// Set when the browser had no CSRF cookie yet.
    pub new_cookie: Option<Cookie<'static>>,
}

fn csrf_mac(state: &AppState, cookie_value: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(state.cookie_key.expose())
        .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()));
    mac.update(b"csrf:");
    mac.update(cookie_value.as_bytes());
    hex(&mac.finalize().into_bytes())
}

pub fn csrf(state: &AppState, req: &HttpRequest) -> Csrf {
    match req.cookie(CSRF_COOKIE).filter(|c| c.value().len() >= 32) {
        Some(c) => Csrf { token: csrf_mac(state, c.value()), new_cookie: None },
        None => {
            let value = random_token();
            Csrf { token: csrf_mac(state, &value), new_cookie: Some(cookie(state, CSRF_COOKIE, value, None)) }
        }
    }
}

pub fn csrf_valid(state: &AppState, req: &HttpRequest, presented: Option<&str>) -> bool {
    match (req.cookie(CSRF_COOKIE), presented) {
        (Some(c), Some(p)) => secrets_equal(csrf_mac(state, c.value()).as_bytes(), p.as_bytes()),
        _ => false,
    }
}

/// Headers for every HTML page: no caching, no framing, no sniffing, no referrer; no scripts.
pub fn html(status: StatusCode) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        // form-action is left out on purpose: browsers apply it to the redirect after the login POST, which goes
        // to the client's redirect_uri.
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; \
                 base-uri 'none'",
            ),
        ));
    b
}

pub fn render<T: Template>(view: &T) -> Result<String, askama::Error> {
    view.render()
}

/// Renders a page that carries a CSRF token, setting the CSRF cookie when the browser had none yet.
pub fn page_with_csrf<T: Template>(
    req: &HttpRequest,
    status: StatusCode,
    view: &T,
    new_csrf_cookie: Option<Cookie<'static>>,
) -> HttpResponse {
    match view.render() {
        Ok(body) => {
            let mut b = html(status);
            if let Some(cookie) = new_csrf_cookie {
                b.cookie(cookie);
            }
            b.body(body)
        }
        Err(e) => {
            tracing::error!(error = %e, path = req.path(), "rendering a page failed");
            error_page(req, StatusCode::INTERNAL_SERVER_ERROR, strings(req).page_failed)
        }
    }
}

/// The HTML error page (never a redirect), with the request id that is also in the log.
pub fn error_page(req: &HttpRequest, status: StatusCode, message: &str) -> HttpResponse {
    let request_id = request_id(req);
    tracing::info!(status = status.as_u16(), path = req.path(), message, "hosted UI error page");
    let view = ErrorView { t: strings(req), message, request_id: &request_id };
    let mut b = html(status);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        b.insert_header((header::RETRY_AFTER, "5"));
    }
    match render(&view) {
        Ok(body) => b.body(body),
        Err(_) => HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(message.to_string()),
    }
}

/// A storage failure on a hosted page: 503 with the unavailable page, logged with the request id. Never a "wrong
/// password" or "link expired": the user's input was not the problem.
pub fn unavailable(req: &HttpRequest, e: &StoreError) -> HttpResponse {
    tracing::error!(error = %e, path = req.path(), "storage failure on a hosted page");
    error_page(req, StatusCode::SERVICE_UNAVAILABLE, strings(req).unavailable)
}

/// A method a hosted page does not take: the error page, 405 with `Allow` (RFC 9110 §15.5.6), not actix's empty
/// answer.
pub fn method_not_allowed(req: &HttpRequest, allow: &'static str) -> HttpResponse {
    let mut res = error_page(req, StatusCode::METHOD_NOT_ALLOWED, strings(req).method_not_allowed);
    res.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    res
}

/// Every path no route matches: the hosted UI's 404 page.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    error_page(&req, StatusCode::NOT_FOUND, strings(&req).not_found)
}

/// The client address for the audit trail and the rate limits: the peer, or, when configured behind a proxy, the
/// last `X-Forwarded-For` entry: the one the proxy in front appended. Earlier entries come from the client and
/// could be anything (a script would send a new one with each request to dodge the per-address limit).
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    let trust = req.app_data::<actix_web::web::Data<AppState>>().is_some_and(|s| s.config.trust_forwarded_for);
    if trust {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .last();
        if let Some(ip) = forwarded {
            return Some(ip.to_string());
        }
    }
    req.peer_addr().map(|a| a.ip().to_string())
}

/// The client address as an IP, for the rate limits (`client_ip` may carry a port, or a proxy's odd value).
pub fn client_ip_addr(req: &HttpRequest) -> Option<std::net::IpAddr> {
    let raw = client_ip(req)?;
    raw.parse()
        .ok()
        .or_else(|| raw.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| raw.trim_start_matches('[').split(']').next().and_then(|v| v.parse().ok()))
}

/// Too many requests from this address or for this account: 429 with `Retry-After` (RFC 6585 §4) on the error page.
pub fn too_many_requests(req: &HttpRequest, wait: crate::ratelimit::RetryAfter) -> HttpResponse {
    let mut res = error_page(req, StatusCode::TOO_MANY_REQUESTS, strings(req).too_many_requests);
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.seconds()));
    res
}

/// The form body of a hosted-UI POST, or the page to answer instead (oversize, unreadable, malformed).
pub async fn form(req: &HttpRequest, payload: actix_web::web::Payload) -> Result<crate::params::Params, HttpResponse> {
    let body = super::read_body(payload).await.map_err(|e| error_page(req, status_of(&e), &e.to_string()))?;
    let raw = std::str::from_utf8(&body)
        .map_err(|_| error_page(req, StatusCode::BAD_REQUEST, strings(req).form_unreadable))?;
    crate::params::Params::parse(raw)
        .map_err(|_| error_page(req, StatusCode::BAD_REQUEST, strings(req).form_unreadable))
}

/// A hosted page's form with its CSRF token checked, or the page to answer instead (unreadable form, or the
/// "form expired" page).
pub async fn csrf_form(
    state: &AppState,
    req: &HttpRequest,
    payload: actix_web::web::Payload,
) -> Result<crate::params::Params, HttpResponse> {
    let form = form(req, payload).await?;
    if !csrf_valid(state, req, form.get("csrf_token")) {
        return Err(error_page(req, StatusCode::BAD_REQUEST, strings(req).csrf_failed));
    }
    Ok(form)
}

pub fn status_of(e: &super::BodyError) -> StatusCode {
    match e {
        super::BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        super::BodyError::Broken => StatusCode::BAD_REQUEST,
    }
}
