//! `GET, POST /oauth2/userInfo` (OIDC Core §5.3) with RFC 6750 Bearer errors. A storage failure is a 503, never an
//! `invalid_token` (a relying party would sign its user out).
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::oauth::userinfo::{self, UserInfoError};
use crate::params::Params;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/oauth2/userInfo")
            .route(web::get().to(get_userinfo))
            .route(web::post().to(post_userinfo))
            .default_service(web::to(|| async {
                bearer_error(StatusCode::METHOD_NOT_ALLOWED, Some("invalid_request"), "use GET or POST")
            })),
    );
}

fn bearer_error(status: StatusCode, error: Option<&str>, description: &str) -> HttpResponse {
    let challenge = match error {
        Some(e) => format!("Bearer realm=\"keyway\", error=\"{e}\", error_description=\"{description}\""),
        // RFC 6750 §3.1: no error code when the request had no token at all.
        None => "Bearer realm=\"keyway\"".to_string(),
    };
    let mut b = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            b.insert_header((header::WWW_AUTHENTICATE, v));
        }
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        b.insert_header((header::RETRY_AFTER, "5"));
    }
    let body = json!({"error": error.unwrap_or("invalid_request"), "error_description": description});
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
async fn post_userinfo(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let body = match super::read_body(payload).await {
        Ok(b) => b,
        Err(e) => return bearer_error(StatusCode::BAD_REQUEST, Some("invalid_request"), &e.to_string()),
    };
    let from_body = std::str::from_utf8(&body)
        .ok()
        .and_then(|b| Params::parse(b).ok())
        .and_then(|p| p.get("access_token").map(str::to_string));
    match (header_token(&req), from_body) {
        (Some(_), Some(_)) => {
            bearer_error(StatusCode::BAD_REQUEST, Some("invalid_request"), "send the token one way only")
        }
        (h, b) => userinfo(&state, h.or(b)).await,
    }
}

async fn userinfo(state: &AppState, token: Option<String>) -> HttpResponse {
    let Some(token) = token else { return bearer_error(StatusCode::UNAUTHORIZED, None, "an access token is required") };
    let keys = state.keys();
    match userinfo::userinfo(&state.store, &state.verifier(&keys), &token, state.now()).await {
        Ok(body) => HttpResponse::Ok()
            .content_type("application/json")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body.to_string()),
        Err(UserInfoError::InvalidToken(why)) => bearer_error(StatusCode::UNAUTHORIZED, Some("invalid_token"), why),
        Err(UserInfoError::InsufficientScope) => {
            bearer_error(StatusCode::FORBIDDEN, Some("insufficient_scope"), "the openid scope is required")
        }
        Err(UserInfoError::Store(e)) => {
            tracing::error!(error = %e, "userinfo storage failure");
            let status =
                if e.is_unavailable() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
            let code = if e.is_unavailable() { "temporarily_unavailable" } else { "server_error" };
            bearer_error(status, Some(code), "the server could not answer; try again")
        }
    }
}
