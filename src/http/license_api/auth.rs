//! License API request authentication (SPEC §3.1) as an actix extractor: HMAC-signed `Date`, or a Bearer access
//! token from keyway's own client-credentials grant (the SDKs' OAuth mode).
use actix_web::dev::Payload;
use actix_web::http::header::{HeaderMap, AUTHORIZATION, DATE};
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::error::LicenseApiError;
use crate::crypto::hmac_auth::{self, AuthorizationParseError, DateError};
use crate::license::activation::Caller;
use crate::oauth::tokens::AccessTokenError;
use crate::state::AppState;

/// The authenticated caller: always one organization.
#[derive(Debug, Clone)]
pub struct LicenseClient(pub Caller);

/// The single value of a header; absent or repeated headers are `missing_headers`.
fn single_header<'a>(
    headers: &'a HeaderMap,
    name: &actix_web::http::header::HeaderName,
) -> Result<&'a str, LicenseApiError> {
    let mut values = headers.get_all(name);
    let first = values.next().ok_or_else(|| {
        LicenseApiError::MissingHeaders("Some headers are missing: Date and Authorization are required".into())
    })?;
    if values.next().is_some() {
        return Err(LicenseApiError::MissingHeaders(format!("The {name} header must be sent exactly once")));
    }
    first.to_str().map_err(|_| LicenseApiError::MissingHeaders(format!("The {name} header must be visible ASCII")))
}

impl FromRequest for LicenseClient {
    type Error = LicenseApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let headers = req.headers().clone();
        let ip = crate::http::web::client_ip_addr(req);
        Box::pin(async move {
            let state = state.ok_or(LicenseApiError::Internal)?;
            // Counted before any lookup: a flood of unknown keys or bad signatures is limited too.
            let api_key = single_header(&headers, &AUTHORIZATION)
                .ok()
                .and_then(|a| hmac_auth::parse_authorization(a).ok())
                .map(|a| a.api_key);
            state
                .rate_limits
                .check(crate::ratelimit::Surface::License, ip, api_key.as_deref())
                .map_err(LicenseApiError::TooManyRequests)?;
            authenticate(&state, &headers).await.map(LicenseClient)
        })
    }
}

pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, LicenseApiError> {
    let authorization = single_header(headers, &AUTHORIZATION)?;
    if let Some(token) = authorization.strip_prefix("Bearer ").or_else(|| authorization.strip_prefix("bearer ")) {
        return bearer(state, token.trim()).await;
    }
    let date = single_header(headers, &DATE)?;
    let auth = hmac_auth::parse_authorization(authorization)
        .map_err(|AuthorizationParseError::MissingParams(p)| LicenseApiError::AuthorizationMissingParams(p))?;
    if !auth.headers.trim().eq_ignore_ascii_case("date") {
        return Err(LicenseApiError::AuthorizationInvalidHeaders);
    }
    if !auth.algorithm.eq_ignore_ascii_case("hmac-sha256") {
        return Err(LicenseApiError::HmacRequired);
    }
    hmac_auth::check_date(date, state.now(), state.config.date_skew).map_err(|e| match e {
        DateError::Unparseable | DateError::OutOfWindow => LicenseApiError::DateHeaderDiff,
    })?;
    let key =
        state.store.find_api_key(&auth.api_key).await?.filter(|k| !k.revoked).ok_or(LicenseApiError::InvalidApiKey)?;
    if !hmac_auth::verify_signature(key.shared_key.expose(), date, &auth.signature) {
        return Err(LicenseApiError::SignatureMismatch);
    }
    Ok(Caller { organization_id: key.organization_id, principal: key.api_key })
}

async fn bearer(state: &AppState, token: &str) -> Result<Caller, LicenseApiError> {
    let keys = state.keys();
    let claims = match state.verifier(&keys).access_token(&state.store, token, state.now()).await {
        Ok(c) => c,
        Err(AccessTokenError::Store(e)) => return Err(e.into()),
        Err(e) if e.is_expired() => return Err(LicenseApiError::OauthTokenExpired),
        Err(_) => return Err(LicenseApiError::OauthTokenMalformed),
    };
    // Only the product backend's own client-credentials token: a license user's access token (visible in their
    // browser after the hosted login) must never open the vendor's License API.
    if !claims.is_client_token() {
        return Err(LicenseApiError::OauthTokenMalformed);
    }
    let product = state
        .store
        .find_client(&claims.client_id)
        .await?
        .filter(|p| !p.disabled)
        .ok_or(LicenseApiError::OauthTokenMalformed)?;
    Ok(Caller { organization_id: product.organization_id.clone(), principal: product.client_id.to_string() })
}
