//! `POST /oauth2/token` (RFC 6749 §3.2), `POST /oauth2/revoke` (RFC 7009), `POST /oauth2/introspect` (RFC 7662):
//! the form is parsed into typed requests here; the rules are in `oauth::token`, `revocation`, `introspection`.
use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;

use super::oauth_error::{too_many_requests, OAuthError};
use super::web::client_ip_addr;
use crate::crypto::secrets::Secret;
use crate::model::Grant;
use crate::oauth::client::{self, ClientCredentials};
use crate::oauth::exchange::ExchangeRequest;
use crate::oauth::introspection;
use crate::oauth::revocation::{self, TokenTypeHint};
use crate::oauth::token::{self, TokenEndpointError, TokenRequest};
use crate::params::Params;
use crate::ratelimit::Surface;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/oauth2/token").route(web::post().to(post_token)).default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/oauth2/revoke").route(web::post().to(post_revoke)).default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/oauth2/introspect")
            .route(web::post().to(post_introspect))
            .default_service(web::to(method_not_allowed)),
    );
}

/// RFC 6749 §3.2: the token endpoint takes POST only; other methods get the endpoint's JSON error.
async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "POST"))
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(r#"{"error":"invalid_request","error_description":"use POST"}"#)
}

/// The form body: `application/x-www-form-urlencoded`, UTF-8, each parameter once (RFC 6749 §3.2).
async fn form(req: &HttpRequest, payload: web::Payload) -> Result<Params, OAuthError> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    let body = super::read_body(payload).await.map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    let raw = std::str::from_utf8(&body).map_err(|_| OAuthError::invalid_request("the body is not UTF-8"))?;
    Params::parse(raw).map_err(|e| OAuthError::invalid_request(e.0))
}

/// RFC 6749 §2.3.1: HTTP Basic with form-urlencoded id and secret, or both in the body — never both ways.
fn credentials(headers: &HeaderMap, p: &Params) -> Result<ClientCredentials, OAuthError> {
    let invalid = |basic| OAuthError(TokenEndpointError::InvalidClient { basic });
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    if let Some(b64) = basic {
        if p.contains("client_secret") {
            return Err(OAuthError::invalid_request("use one client authentication method"));
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|_| invalid(true))?;
        let decoded = String::from_utf8(decoded).map_err(|_| invalid(true))?;
        let (id, secret) = decoded.split_once(':').ok_or_else(|| invalid(true))?;
        let dec =
            |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8().map(|c| c.into_owned());
        let (id, secret) = (dec(id).map_err(|_| invalid(true))?, dec(secret).map_err(|_| invalid(true))?);
        if p.get("client_id").is_some_and(|body_id| body_id != id) {
            return Err(OAuthError::invalid_request("client_id does not match the Authorization header"));
        }
        return Ok(ClientCredentials::Basic { id, secret: Secret::new(secret) });
    }
    match (p.get("client_id"), p.get("client_secret")) {
        (Some(id), Some(secret)) => Ok(ClientCredentials::Post { id: id.to_string(), secret: Secret::new(secret) }),
        (Some(id), None) => Ok(ClientCredentials::None { id: id.to_string() }),
        _ => Err(invalid(false)),
    }
}

fn required(p: &Params, name: &str) -> Result<String, OAuthError> {
    p.get(name).map(str::to_string).ok_or_else(|| OAuthError::invalid_request(format!("{name} is missing")))
}

/// The typed token request (RFC 6749 §4.1.3, §6, §4.4; RFC 8693 §2.1).
fn token_request(p: &Params) -> Result<TokenRequest, OAuthError> {
    let opt = |n: &str| p.get(n).map(str::to_string);
    let grant = p.get("grant_type").ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
    match Grant::parse(grant) {
        Some(Grant::AuthorizationCode) => Ok(TokenRequest::AuthorizationCode {
            code: required(p, "code")?,
            redirect_uri: opt("redirect_uri"),
            code_verifier: opt("code_verifier"),
        }),
        Some(Grant::RefreshToken) => {
            Ok(TokenRequest::RefreshToken { refresh_token: required(p, "refresh_token")?, scope: opt("scope") })
        }
        Some(Grant::ClientCredentials) => Ok(TokenRequest::ClientCredentials { scope: opt("scope") }),
        Some(Grant::TokenExchange) => {
            if p.contains("actor_token") {
                return Err(OAuthError::invalid_request("delegation (actor_token) is not supported"));
            }
            Ok(TokenRequest::TokenExchange(ExchangeRequest {
                subject_token: required(p, "subject_token")?,
                subject_token_type: required(p, "subject_token_type")?,
                requested_token_type: opt("requested_token_type"),
                audience: opt("audience").or_else(|| opt("resource")),
                scope: opt("scope"),
            }))
        }
        // `implicit` is a response type, not a grant the token endpoint takes.
        Some(Grant::Implicit) | None => Err(OAuthError(TokenEndpointError::UnsupportedGrantType)),
    }
}

fn no_store_json(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .body(body)
}

async fn post_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let p = form(&req, payload).await?;
    let creds = credentials(req.headers(), &p)?;
    let limited = state.rate_limits.check(Surface::Token, client_ip_addr(&req), Some(creds.client_id()));
    if let Err(wait) = limited {
        return Ok(too_many_requests(wait));
    }
    let request = token_request(&p)?;
    let client = client::authenticate(&state.store, &creds).await?;
    let keys = state.keys();
    let resp = token::exchange(&state.store, &state.signer(&keys), &client, request, state.now()).await?;
    crate::metrics::Metrics::inc(&state.metrics.tokens_issued);
    Ok(no_store_json(
        serde_json::to_string(&resp)
            .map_err(|e| OAuthError(TokenEndpointError::Store(crate::store::StoreError::Db(e.to_string()))))?,
    ))
}

/// RFC 7009: 200 for any token, known or not (§2.2), once the client is authenticated.
async fn post_revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let p = form(&req, payload).await?;
    let creds = credentials(req.headers(), &p)?;
    let token = required(&p, "token")?;
    let hint = match p.get("token_type_hint") {
        Some("refresh_token") => Some(TokenTypeHint::RefreshToken),
        Some("access_token") => Some(TokenTypeHint::AccessToken),
        // §2.1: an unknown hint is ignored (the search covers every type).
        _ => None,
    };
    let client = client::authenticate(&state.store, &creds).await?;
    let keys = state.keys();
    revocation::revoke(&state.store, &state.verifier(&keys), &client, &token, hint, state.now()).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).finish())
}

/// RFC 7662: confidential clients may introspect tokens of their own organization's products.
async fn post_introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let p = form(&req, payload).await?;
    let creds = credentials(req.headers(), &p)?;
    let token = required(&p, "token")?;
    let caller = client::authenticate(&state.store, &creds).await?;
    if caller.is_public() {
        return Err(OAuthError(TokenEndpointError::InvalidClient { basic: false }));
    }
    let keys = state.keys();
    let answer = introspection::introspect(&state.store, &state.verifier(&keys), &caller, &token, state.now()).await?;
    Ok(no_store_json(
        serde_json::to_string(&answer)
            .map_err(|e| OAuthError(TokenEndpointError::Store(crate::store::StoreError::Db(e.to_string()))))?,
    ))
}
