//! Backend-initiated SSO routes (SPEC §6.1, §6.2), each in its source document's shapes, with keyway-native
//! forms beside them, and `GET /sso` where the browser redeems the credential.
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::account::see_other;
use super::web::{self as ui, client_ip, cookie, error_page, unavailable, SESSION_COOKIE};
use crate::encoding::component as encode;
use crate::params::Params;
use crate::sso::{self, Landing, Manager, MintRequest, RedeemContext, SsoError, KIND_CODE, KIND_NONCE, ONE_TIME_TTL};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Another method answers 405 in the route's own error shape (otherwise: the hosted UI's HTML 404 page).
    let post = |path: &str, route: actix_web::Route, other: fn() -> HttpResponse| {
        web::resource(path.to_string()).route(route).default_service(web::to(move || async move { other() }))
    };
    let tyk_405 = || tyk(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    let native_405 = || native(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", "use POST");
    cfg.service(post("/api/sso", web::post().to(post_tyk_api_sso), tyk_405))
        .service(post("/admin/sso", web::post().to(post_tyk_admin_sso), tyk_405))
        .service(post("/api/v1/sso", web::post().to(post_native_nonce), native_405))
        .service(post("/v3/partners/accounts/{account_id}/sso", web::post().to(post_sendgrid_sso), || {
            sendgrid(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed", "10-40500")
        }))
        .service(post(
            "/api/v1/customer-accounts/{code}/users/{email}/sso",
            web::post().to(post_native_code),
            native_405,
        ))
        .route("/sso", web::get().to(get_sso));
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

// ---------------------------------------------------------------------------------------------------------------
// Tyk Dashboard: `{"Status","Message","Meta"}` (the `ApiError` shape).

fn tyk(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(json!({"Status": "Error", "Message": message, "Meta": null}).to_string())
}

#[derive(Deserialize)]
struct TykSsoBody {
    #[serde(rename = "ForSection")]
    for_section: Option<String>,
    #[serde(rename = "OrgID")]
    org_id: Option<String>,
    #[serde(rename = "EmailAddress")]
    email_address: Option<String>,
    #[serde(rename = "GroupID", default)]
    _group_id: Option<String>,
    #[serde(rename = "GroupsIDs", default)]
    _groups_ids: Option<Vec<String>>,
    #[serde(rename = "DisplayName")]
    display_name: Option<String>,
    #[serde(rename = "SSOOnlyForRegisteredUsers", default)]
    sso_only_for_registered_users: bool,
    #[serde(rename = "UserNotAllowed", default)]
    user_not_allowed: bool,
}

async fn post_tyk_api_sso(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let Ok(body) = super::read_body(payload).await else {
        return tyk(StatusCode::BAD_REQUEST, "Cannot read the request body (at most 64 KiB)");
    };
    match sso::manager_from_token(&state.store, header(req.headers(), "authorization")).await {
        Ok(m) => tyk_sso(&state, m, &body).await,
        Err(SsoError::Store(_)) => tyk(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
        Err(_) => tyk(StatusCode::UNAUTHORIZED, "Not authorised"),
    }
}

async fn post_tyk_admin_sso(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let Ok(body) = super::read_body(payload).await else {
        return tyk(StatusCode::BAD_REQUEST, "Cannot read the request body (at most 64 KiB)");
    };
    match sso::manager_from_admin_secret(state.config.admin_secret.as_ref(), header(req.headers(), "admin-auth")) {
        Ok(m) => tyk_sso(&state, m, &body).await,
        Err(_) => tyk(StatusCode::UNAUTHORIZED, "Not authorised"),
    }
}

async fn tyk_sso(state: &AppState, manager: Manager, body: &[u8]) -> HttpResponse {
    let invalid = |why: &str| {
        tyk(StatusCode::BAD_REQUEST, &format!("Cannot create an SSO session for an invalid payload: [Error: {why}]"))
    };
    let Ok(b) = serde_json::from_slice::<TykSsoBody>(body) else {
        return invalid("the body must be a JSON object of SSOAccessData");
    };
    match b.for_section.as_deref() {
        Some("portal") => {}
        // keyway has no operator console yet: say so instead of minting a credential nothing can redeem.
        Some("dashboard") => {
            return invalid("ForSection \"dashboard\" is not available: keyway has no operator console; use \"portal\"")
        }
        _ => return invalid("ForSection must be \"portal\" or \"dashboard\""),
    }
    let Some(org_id) = b.org_id.as_deref().filter(|s| !s.is_empty()) else { return invalid("OrgID is required") };
    let Some(email) = b.email_address.as_deref().filter(|s| !s.is_empty()) else {
        return invalid("EmailAddress is required");
    };
    if b.user_not_allowed {
        return tyk(StatusCode::FORBIDDEN, "User not allowed");
    }
    let account = match sso::account_for(&state.store, &manager, org_id).await {
        Ok(a) => a,
        Err(SsoError::UnknownAccount) => return invalid(&format!("Org id not found ('{org_id}')")),
        Err(_) => return tyk(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
    };
    let req = MintRequest {
        email,
        display_name: b.display_name.as_deref(),
        just_in_time: !b.sso_only_for_registered_users,
        landing: Landing::default(),
    };
    match sso::mint(&state.store, &account, KIND_NONCE, req, "tyk-api", state.now()).await {
        Ok(nonce) => HttpResponse::Ok()
            .content_type("application/json")
            .body(json!({"Status": "OK", "Message": "SSO Nonce created", "Meta": nonce}).to_string()),
        Err(SsoError::UnknownUser) => {
            tyk(StatusCode::FORBIDDEN, "SSO is only enabled for registered users, and this user is not registered")
        }
        Err(SsoError::UserNotAllowed) => tyk(StatusCode::FORBIDDEN, "User not allowed"),
        Err(SsoError::Invalid(why)) => invalid(&why),
        Err(SsoError::Store(e)) => {
            tracing::error!(error = %e, "Tyk SSO storage failure");
            tyk(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")
        }
        Err(_) => tyk(StatusCode::FORBIDDEN, "Failed to save new SSO object to DB"),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// keyway-native forms: `{"error","error_description"}` like the OAuth endpoints.

fn native(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(json!({"error": error, "error_description": description}).to_string())
}

fn native_from(e: SsoError) -> HttpResponse {
    match e {
        SsoError::Unauthorized => {
            native(StatusCode::UNAUTHORIZED, "unauthorized", "a valid management token is required")
        }
        SsoError::UnknownAccount => {
            native(StatusCode::NOT_FOUND, "unknown_customer_account", "customer account not found")
        }
        SsoError::UnknownUser => native(StatusCode::NOT_FOUND, "unknown_user", "user not found"),
        SsoError::UserNotAllowed => native(StatusCode::FORBIDDEN, "user_not_allowed", "the user is disabled"),
        SsoError::Invalid(why) => native(StatusCode::BAD_REQUEST, "invalid_request", &why),
        SsoError::Store(_) => native(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again later"),
    }
}

#[derive(Deserialize)]
struct NativeNonceBody {
    customer_account_code: Option<String>,
    email: Option<String>,
    product: Option<String>,
    display_name: Option<String>,
    #[serde(default)]
    only_registered_users: bool,
}

async fn post_native_nonce(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let Ok(body) = super::read_body(payload).await else {
        return native(StatusCode::BAD_REQUEST, "invalid_request", "the request body cannot be read (at most 64 KiB)");
    };
    let manager = match sso::manager_from_token(&state.store, header(req.headers(), "authorization")).await {
        Ok(m) => m,
        Err(e) => return native_from(e),
    };
    let Ok(b) = serde_json::from_slice::<NativeNonceBody>(&body) else {
        return native(StatusCode::BAD_REQUEST, "invalid_request", "the body must be a JSON object");
    };
    let (Some(code), Some(email)) = (b.customer_account_code.as_deref(), b.email.as_deref()) else {
        return native(StatusCode::BAD_REQUEST, "invalid_request", "customer_account_code and email are required");
    };
    let account = match sso::account_for(&state.store, &manager, code).await {
        Ok(a) => a,
        Err(e) => return native_from(e),
    };
    if let Some(p) = &b.product {
        match state.store.find_product_by_code(&account.organization_id, p).await {
            Ok(Some(_)) => {}
            Ok(None) => return native(StatusCode::BAD_REQUEST, "unknown_product", "product not found"),
            Err(e) => return native_from(e.into()),
        }
    }
    let req_ = MintRequest {
        email,
        display_name: b.display_name.as_deref(),
        just_in_time: !b.only_registered_users,
        landing: Landing { product: b.product.clone() },
    };
    match sso::mint(&state.store, &account, KIND_NONCE, req_, "native-api", state.now()).await {
        Ok(nonce) => {
            HttpResponse::Ok().content_type("application/json").insert_header((header::CACHE_CONTROL, "no-store")).body(
                json!({
                    "nonce": nonce, "expires_in": ONE_TIME_TTL,
                    "url": format!("{}/sso?nonce={}", state.config.issuer, nonce),
                })
                .to_string(),
            )
        }
        Err(e) => native_from(e),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// SendGrid partner SSO: 303 with a one-time code; errors as `{"errors":[{"message","field","error_id"}]}`.

fn sendgrid(status: StatusCode, message: &str, error_id: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(json!({"errors": [{"message": message, "field": "", "error_id": error_id}]}).to_string())
}

fn code_redirect(state: &AppState, code: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{}/sso?code={}", state.config.issuer, encode(code))))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

async fn post_sendgrid_sso(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let manager = match sso::manager_from_token(&state.store, header(req.headers(), "authorization")).await {
        Ok(m @ Manager::Organization(_)) => m,
        // The token could not be looked up: not the caller's fault (a 401 would tell the partner to stop).
        Err(SsoError::Store(_)) => return sendgrid(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable", "10-50300"),
        Ok(Manager::InstanceAdmin) | Err(_) => {
            return sendgrid(StatusCode::UNAUTHORIZED, "Failed to authenticate user", "10-40100")
        }
    };
    // Another organization's account is indistinguishable from a missing one.
    let account = match sso::account_for(&state.store, &manager, &path.into_inner()).await {
        Ok(a) => a,
        Err(SsoError::Store(_)) => return sendgrid(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable", "10-50300"),
        Err(_) => return sendgrid(StatusCode::NOT_FOUND, "No such account", "10-40400"),
    };
    // The document's SSO always signs in the account's designated admin identity.
    let admin = match &account.admin_user_id {
        Some(id) => match state.store.find_user(id).await {
            Ok(u) => u,
            Err(_) => return sendgrid(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable", "10-50300"),
        },
        None => None,
    };
    let Some(admin) = admin else {
        return sendgrid(StatusCode::FORBIDDEN, "The account has no admin identity configured for SSO", "10-40300");
    };
    match sso::mint_for_user(&state.store, &admin, KIND_CODE, &Landing::default(), "sendgrid-api", state.now()).await {
        Ok(code) => code_redirect(&state, &code),
        Err(SsoError::UserNotAllowed) => sendgrid(
            StatusCode::FORBIDDEN,
            "The authenticated user is not authorized to perfrom this request",
            "10-40300",
        ),
        Err(_) => sendgrid(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable", "10-50300"),
    }
}

async fn post_native_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let manager = match sso::manager_from_token(&state.store, header(req.headers(), "authorization")).await {
        Ok(m) => m,
        Err(e) => return native_from(e),
    };
    let (code, email) = path.into_inner();
    let account = match sso::account_for(&state.store, &manager, &code).await {
        Ok(a) => a,
        Err(e) => return native_from(e),
    };
    let req_ = MintRequest { email: &email, display_name: None, just_in_time: false, landing: Landing::default() };
    match sso::mint(&state.store, &account, KIND_CODE, req_, "native-api", state.now()).await {
        Ok(c) => code_redirect(&state, &c),
        Err(e) => native_from(e),
    }
}

// ---------------------------------------------------------------------------------------------------------------

/// `GET /sso?nonce=…` or `?code=…`: redeems once, starts a hosted session (fresh id), lands in the portal or in a
/// product's login flow.
async fn get_sso(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Ok(p) = Params::parse(req.query_string()) else {
        return error_page(&req, StatusCode::BAD_REQUEST, ui::strings(&req).link_malformed);
    };
    let (kind, token) = match (p.get("nonce"), p.get("code")) {
        (Some(n), None) => (KIND_NONCE, n),
        (None, Some(c)) => (KIND_CODE, c),
        _ => return error_page(&req, StatusCode::BAD_REQUEST, ui::strings(&req).link_malformed),
    };
    let invalid = ui::strings(&req).sso_link_invalid;
    let ip = client_ip(&req);
    let old = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
    let ctx = RedeemContext {
        issuer: &state.config.issuer,
        client_ip: ip.as_deref(),
        replaces: old.as_deref(),
        session_ttl: state.config.session_ttl,
    };
    match sso::redeem(&state.store, kind, token, &ctx, state.now()).await {
        Ok(Some(r)) => {
            let mut res = see_other(&r.to);
            let _ = res.add_cookie(&cookie(&state, SESSION_COOKIE, r.cookie, Some(state.config.session_ttl)));
            res
        }
        Ok(None) => error_page(&req, StatusCode::BAD_REQUEST, invalid),
        Err(SsoError::Store(e)) => unavailable(&req, &e),
        Err(_) => error_page(&req, StatusCode::BAD_REQUEST, invalid),
    }
}
