//! `GET, POST /oauth2/userInfo` (OIDC Core §5.3) with RFC 6750 Bearer errors.
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::oauth::tokens;
use crate::params::Params;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/oauth2/userInfo").route(web::get().to(get_userinfo)).route(web::post().to(post_userinfo)));
}

fn bearer_error(status: StatusCode, error: Option<&str>, description: &str) -> HttpResponse {
    let challenge = match error {
        Some(e) => format!("Bearer realm=\"keyway\", error=\"{e}\", error_description=\"{description}\""),
        // RFC 6750 §3.1: no error code when the request had no token at all.
        None => "Bearer realm=\"keyway\"".to_string(),
    };
    let mut b = HttpResponse::build(status);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        b.insert_header((header::WWW_AUTHENTICATE, v));
    }
    let body = match error {
        Some(e) => json!({"error": e, "error_description": description}),
        None => json!({"error": "invalid_request", "error_description": description}),
    };
    b.content_type("application/json").insert_header((header::CACHE_CONTROL, "no-store")).body(body.to_string())
}

fn header_token(req: &HttpRequest) -> Option<String> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).map(|t| t.trim().to_string())
}

async fn get_userinfo(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    userinfo(&state, header_token(&req)).await
}

/// RFC 6750 §2.2 also allows the token in a form body.
async fn post_userinfo(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let from_body = std::str::from_utf8(&body).ok().and_then(|b| Params::parse(b).ok()).and_then(|p| p.get("access_token").map(str::to_string));
    match (header_token(&req), from_body) {
        (Some(_), Some(_)) => bearer_error(StatusCode::BAD_REQUEST, Some("invalid_request"), "send the token one way only"),
        (h, b) => userinfo(&state, h.or(b)).await,
    }
}

async fn userinfo(state: &AppState, token: Option<String>) -> HttpResponse {
    let Some(token) = token else { return bearer_error(StatusCode::UNAUTHORIZED, None, "an access token is required") };
    let claims = match tokens::verify_access_token(state, &token).await {
        Ok(c) => c,
        Err(_) => return bearer_error(StatusCode::UNAUTHORIZED, Some("invalid_token"), "the access token is invalid, expired or revoked"),
    };
    if claims.is_client_token() || !claims.has_scope("openid") {
        return bearer_error(StatusCode::FORBIDDEN, Some("insufficient_scope"), "the openid scope is required");
    }
    let user = match state.store.find_user(&claims.sub).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => return bearer_error(StatusCode::UNAUTHORIZED, Some("invalid_token"), "the user no longer exists or is disabled"),
        Err(e) => {
            tracing::error!(error = %e, "userinfo storage error");
            return HttpResponse::ServiceUnavailable().finish();
        }
    };
    let mut body = json!({ "sub": user.id });
    if claims.has_scope("email") {
        body["email"] = json!(user.email);
        body["email_verified"] = json!(user.email_verified);
    }
    if claims.has_scope("profile") {
        body["name"] = json!(user.name);
    }
    if let Some(code) = claims.customer_account_code {
        body["customer_account_code"] = json!(code);
    }
    HttpResponse::Ok().content_type("application/json").insert_header((header::CACHE_CONTROL, "no-store")).body(body.to_string())
}
