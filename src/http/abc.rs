//! ABC GenerateSSOToken (SPEC §6.3): `POST /v2/get_sso_token`, and the linked product's one-time redemption
//! `POST /api/v1/sso-tokens/redeem`.
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use std::sync::Arc;

use crate::model::OAuthClient;
use crate::oauth::tokens::AccessTokenError;
use crate::sso::{minted, SsoError};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Another method answers 405 in the route's own error shape (otherwise: the hosted UI's HTML 404 page).
    cfg.service(
        web::resource("/v2/get_sso_token")
            .route(web::post().to(post_get_sso_token))
            .default_service(web::to(|| async { abc(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed") })),
    )
    .service(web::resource("/api/v1/sso-tokens/redeem").route(web::post().to(post_redeem)).default_service(
        web::to(|| async {
            HttpResponse::MethodNotAllowed()
                .content_type("application/json")
                .body(json!({"error": "invalid_request", "error_description": "use POST"}).to_string())
        }),
    ));
}

fn abc(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(json!({"ReturnCode": 0, "ReturnMessage": message}).to_string())
}

/// The calling product from a Bearer client-credentials access token.
async fn bearer_client(state: &AppState, headers: &HeaderMap) -> Result<Arc<OAuthClient>, (StatusCode, &'static str)> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or((StatusCode::UNAUTHORIZED, "Authorization header is missing"))?;
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or((StatusCode::UNAUTHORIZED, "Authorization must be a Bearer token"))?;
    let keys = state.keys();
    let claims = match state.verifier(&keys).access_token(&state.store, token, state.now()).await {
        Ok(c) => c,
        Err(AccessTokenError::Store(_)) => return Err((StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")),
        Err(e) if e.is_expired() => return Err((StatusCode::UNAUTHORIZED, "The token has expired")),
        Err(_) => return Err((StatusCode::UNAUTHORIZED, "The token is invalid")),
    };
    if !claims.is_client_token() {
        return Err((StatusCode::FORBIDDEN, "A client-credentials token of the calling product is required"));
    }
    match state.store.find_client(&claims.client_id).await {
        Ok(Some(p)) if !p.disabled => Ok(p),
        Ok(_) => Err((StatusCode::UNAUTHORIZED, "The token is invalid")),
        Err(_) => Err((StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")),
    }
}

async fn post_get_sso_token(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let Ok(body) = super::read_body(payload).await else {
        return abc(StatusCode::BAD_REQUEST, "The request body cannot be read (at most 64 KiB)");
    };
    let h = req.headers();
    for name in ["x-api-version", "x-lob-client-id", "content-type"] {
        if h.get(name).and_then(|v| v.to_str().ok()).is_none_or(|v| v.trim().is_empty()) {
            return abc(StatusCode::BAD_REQUEST, &format!("The {name} header is missing"));
        }
    }
    let lob_client_id = h.get("x-lob-client-id").and_then(|v| v.to_str().ok()).unwrap_or("").trim().to_string();
    let caller = match bearer_client(&state, h).await {
        Ok(p) => p,
        Err((status, msg)) => return abc(status, msg),
    };
    if caller.client_id != lob_client_id.as_str() {
        return abc(StatusCode::FORBIDDEN, "The token was not issued to x-lob-client-id");
    }
    let Ok(serde_json::Value::Object(b)) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return abc(StatusCode::BAD_REQUEST, "The body must be a JSON object");
    };
    let field =
        |k: &str| b.get(k).and_then(|v| v.as_str()).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let (Some(cii), Some(lob), Some(func)) = (field("CIINo"), field("LOBId"), field("Functionality")) else {
        return abc(StatusCode::BAD_REQUEST, "CIINo, LOBId and Functionality are required");
    };
    let target = match state.store.find_product_by_code(&caller.organization_id, &lob).await {
        Ok(Some(t)) if caller.links_to(&t) => t,
        Ok(_) => return abc(StatusCode::FORBIDDEN, "The calling product may not mint tokens for this LOBId"),
        Err(_) => return abc(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
    };
    let user = match state.store.find_user_by_customer_no(&caller.organization_id, &cii).await {
        Ok(Some(u)) => u,
        Ok(None) => return abc(StatusCode::BAD_REQUEST, "No user with this CIINo"),
        Err(_) => return abc(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
    };
    let account_code = match state.store.find_customer_account(&user.customer_account_id).await {
        Ok(Some(a)) => a.code.clone(),
        _ => return abc(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
    };
    let keys = state.keys();
    let m = minted::MintFor {
        from: &caller,
        target: &target,
        user: &user,
        account_code: &account_code,
        cii_no: &cii,
        functionality: &func,
    };
    match minted::mint(&state.store, &state.signer(&keys), &m, state.now()).await {
        Ok(m) => {
            HttpResponse::Ok().content_type("application/json").insert_header((header::CACHE_CONTROL, "no-store")).body(
                json!({"ReturnCode": 1, "ReturnMessage": "Token Generated \
                successfully", "TokenRefNo": m.reference, "TokenNo": m.token})
                .to_string(),
            )
        }
        Err(SsoError::UserNotAllowed) => abc(StatusCode::FORBIDDEN, "The user is disabled"),
        Err(_) => abc(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
    }
}

async fn post_redeem(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let err = |status: StatusCode, e: &str, d: &str| {
        HttpResponse::build(status)
            .content_type("application/json")
            .body(json!({"error": e, "error_description": d}).to_string())
    };
    let caller = match bearer_client(&state, req.headers()).await {
        Ok(p) => p,
        Err((status, msg)) => return err(status, "invalid_token", msg),
    };
    let Ok(body) = super::read_body(payload).await else {
        return err(StatusCode::BAD_REQUEST, "invalid_request", "the request body cannot be read (at most 64 KiB)");
    };
    let token = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("token").and_then(|t| t.as_str()).map(str::to_string));
    let Some(token) = token else { return err(StatusCode::BAD_REQUEST, "invalid_request", "token is required") };
    let keys = state.keys();
    match minted::redeem(&state.store, &state.verifier(&keys), &caller, &token, state.now()).await {
        Ok(c) => {
            HttpResponse::Ok().content_type("application/json").insert_header((header::CACHE_CONTROL, "no-store")).body(
                json!({
                    "sub": c.sub, "email": c.email, "customer_account_code": c.customer_account_code, "CIINo": c.CIINo,
                    "LOBId": c.LOBId, "Functionality": c.Functionality,
                })
                .to_string(),
            )
        }
        Err(SsoError::Invalid(why)) => err(StatusCode::BAD_REQUEST, "invalid_grant", &why),
        Err(_) => err(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again later"),
    }
}
