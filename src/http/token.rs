//! `POST /oauth2/token` (RFC 6749 §3.2), `POST /oauth2/revoke` (RFC 7009), `POST /oauth2/introspect` (RFC 7662).
use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use serde_json::json;

use super::oauth_error::OAuthError;
use crate::crypto::secrets::hash_token;
use crate::oauth::grants::{self, ClientCredentials, TokenError};
use crate::oauth::tokens;
use crate::params::Params;
use crate::state::AppState;
use crate::store::entity::product;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth2/token", web::post().to(post_token))
        .route("/oauth2/revoke", web::post().to(post_revoke))
        .route("/oauth2/introspect", web::post().to(post_introspect));
}

/// The form body: `application/x-www-form-urlencoded`, UTF-8, each parameter once (RFC 6749 §3.2).
fn form(req: &HttpRequest, body: &[u8]) -> Result<Params, TokenError> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(TokenError::InvalidRequest("the body must be application/x-www-form-urlencoded".into()));
    }
    let raw = std::str::from_utf8(body).map_err(|_| TokenError::InvalidRequest("the body is not UTF-8".into()))?;
    Params::parse(raw).map_err(|e| TokenError::InvalidRequest(e.0))
}

/// RFC 6749 §2.3.1: HTTP Basic with form-urlencoded id and secret, or both in the body — never both ways.
fn credentials(headers: &HeaderMap, p: &Params) -> Result<ClientCredentials, TokenError> {
    let basic = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    if let Some(b64) = basic {
        if p.contains("client_secret") {
            return Err(TokenError::InvalidRequest("use one client authentication method".into()));
        }
        let bad = || TokenError::InvalidClient { basic: true };
        let decoded = base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
        let dec = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8().map(|c| c.into_owned());
        let (id, secret) = (dec(id).map_err(|_| bad())?, dec(secret).map_err(|_| bad())?);
        if let Some(body_id) = p.get("client_id") {
            if body_id != id {
                return Err(TokenError::InvalidRequest("client_id does not match the Authorization header".into()));
            }
        }
        return Ok(ClientCredentials::Basic { id, secret });
    }
    match (p.get("client_id"), p.get("client_secret")) {
        (Some(id), Some(secret)) => Ok(ClientCredentials::Post { id: id.to_string(), secret: secret.to_string() }),
        (Some(id), None) => Ok(ClientCredentials::None { id: id.to_string() }),
        _ => Err(TokenError::InvalidClient { basic: false }),
    }
}

async fn client(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<(product::Model, Params), TokenError> {
    let p = form(req, body)?;
    let creds = credentials(req.headers(), &p)?;
    let product = grants::authenticate_client(state, &creds).await?;
    Ok((product, p))
}

fn no_store_json(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .body(body)
}

async fn post_token(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, OAuthError> {
    let (product, p) = client(&state, &req, &body).await?;
    let resp = grants::exchange(&state, &product, &p).await?;
    crate::metrics::Metrics::inc(&state.metrics.tokens_issued);
    Ok(no_store_json(serde_json::to_string(&resp).map_err(|_| TokenError::Server)?))
}

/// RFC 7009: 200 for any token, known or not (§2.2), once the client is authenticated.
async fn post_revoke(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, OAuthError> {
    let (product, p) = client(&state, &req, &body).await?;
    let token = p.get("token").ok_or_else(|| TokenError::InvalidRequest("token is missing".into()))?;
    let now = state.now();
    let as_access = || async {
        if let Ok(c) = tokens::verify_access_token(&state, token).await {
            if c.client_id == product.client_id {
                state.store.revoke_jti(&c.jti, c.exp).await?;
                return Ok::<bool, crate::store::StoreError>(true);
            }
        }
        Ok(false)
    };
    let as_refresh = || async {
        match state.store.find_refresh_token(&hash_token(token)).await? {
            Some(r) if r.product_id == product.id => {
                state.store.revoke_grant(&r.grant_id, now).await?;
                Ok::<bool, crate::store::StoreError>(true)
            }
            _ => Ok(false),
        }
    };
    // The hint only decides the order of lookups (RFC 7009 §2.1).
    let result = if p.get("token_type_hint") == Some("refresh_token") {
        match as_refresh().await { Ok(true) => Ok(true), Ok(false) => as_access().await, Err(e) => Err(e) }
    } else {
        match as_access().await { Ok(true) => Ok(true), Ok(false) => as_refresh().await, Err(e) => Err(e) }
    };
    result.map_err(TokenError::from)?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).finish())
}

/// RFC 7662: confidential clients may introspect tokens of their own organization's products.
async fn post_introspect(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, OAuthError> {
    let (caller, p) = client(&state, &req, &body).await?;
    if caller.is_public_client() {
        return Err(TokenError::InvalidClient { basic: false }.into());
    }
    let token = p.get("token").ok_or_else(|| TokenError::InvalidRequest("token is missing".into()))?;
    let now = state.now();
    let inactive = || no_store_json(r#"{"active":false}"#.to_string());
    if let Ok(c) = tokens::verify_access_token(&state, token).await {
        let owner = state.store.find_product_by_client_id(&c.client_id).await.map_err(TokenError::from)?;
        if owner.is_some_and(|o| o.organization_id == caller.organization_id) {
            let mut body = json!({
                "active": true, "scope": c.scope, "client_id": c.client_id, "token_type": "Bearer",
                "exp": c.exp, "iat": c.iat, "sub": c.sub, "aud": c.aud, "iss": c.iss, "jti": c.jti,
            });
            if let Some(code) = c.customer_account_code {
                body["customer_account_code"] = json!(code);
            }
            return Ok(no_store_json(body.to_string()));
        }
        return Ok(inactive());
    }
    let refresh = state.store.find_refresh_token(&hash_token(token)).await.map_err(TokenError::from)?;
    if let Some(r) = refresh {
        let live = r.product_id == caller.id && r.rotated_at.is_none() && r.revoked_at.is_none() && r.expires_at > now;
        if live && !state.store.is_grant_revoked(&r.grant_id).await.map_err(TokenError::from)? {
            let body = json!({"active": true, "scope": r.scope, "client_id": caller.client_id, "token_type": "refresh_token",
                "exp": r.expires_at, "iat": r.created_at, "sub": r.license_user_id, "iss": state.config.issuer});
            return Ok(no_store_json(body.to_string()));
        }
    }
    Ok(inactive())
}
