//! RFC 6749 §5.2 error bodies for the token, revocation and introspection endpoints. A storage failure is a 503
//! `temporarily_unavailable` with `Retry-After` (the client may retry), any other server fault a 500
//! `server_error`: never a 4xx, which a client treats as its own, final mistake.
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::oauth::client::ClientAuthError;
use crate::oauth::token::TokenEndpointError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct OAuthError(#[from] pub TokenEndpointError);

impl From<ClientAuthError> for OAuthError {
    fn from(e: ClientAuthError) -> Self {
        OAuthError(match e {
            ClientAuthError::Invalid { basic } => TokenEndpointError::InvalidClient { basic },
            ClientAuthError::Store(s) => TokenEndpointError::Store(s),
        })
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        OAuthError(TokenEndpointError::Store(e))
    }
}

impl OAuthError {
    pub fn invalid_request(why: impl Into<String>) -> OAuthError {
        OAuthError(TokenEndpointError::InvalidRequest(why.into()))
    }

    fn code(&self) -> &'static str {
        match &self.0 {
            TokenEndpointError::InvalidRequest(_) => "invalid_request",
            TokenEndpointError::InvalidClient { .. } => "invalid_client",
            TokenEndpointError::InvalidGrant(_) => "invalid_grant",
            TokenEndpointError::UnauthorizedClient(_) => "unauthorized_client",
            TokenEndpointError::UnsupportedGrantType => "unsupported_grant_type",
            TokenEndpointError::InvalidScope(_) => "invalid_scope",
            TokenEndpointError::InvalidTarget(_) => "invalid_target",
            TokenEndpointError::Store(e) if e.is_unavailable() => "temporarily_unavailable",
            TokenEndpointError::Store(_) | TokenEndpointError::Signing(_) => "server_error",
        }
    }

    fn description(&self) -> String {
        match &self.0 {
            // Internal details stay in the log.
            TokenEndpointError::Store(e) if e.is_unavailable() => {
                "the server is temporarily unavailable; try again".into()
            }
            TokenEndpointError::Store(_) | TokenEndpointError::Signing(_) => {
                "the server could not complete the request".into()
            }
            other => other.to_string(),
        }
    }
}

/// Too many token requests from this address or for this client: 429 (RFC 6585 §4) with `Retry-After` and an
/// RFC 6749 §5.2-shaped body. The error code is `slow_down`, the one OAuth defines for "you are asking too often"
/// (RFC 8628 §3.5); clients that do not know it still see a non-success and the description.
pub fn too_many_requests(wait: crate::ratelimit::RetryAfter) -> HttpResponse {
    let body = serde_json::json!({
        "error": "slow_down",
        "error_description": format!("too many requests; retry after {} seconds", wait.seconds()),
    });
    HttpResponse::TooManyRequests()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::RETRY_AFTER, wait.seconds()))
        .body(body.to_string())
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            TokenEndpointError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
            TokenEndpointError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            TokenEndpointError::Store(_) | TokenEndpointError::Signing(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self.0, "token endpoint server fault");
        }
        let body = serde_json::json!({ "error": self.code(), "error_description": self.description() });
        let mut b = HttpResponse::build(status);
        b.content_type("application/json")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if let TokenEndpointError::InvalidClient { basic: true } = self.0 {
            // RFC 6749 §5.2: a 401 for Basic authentication names the scheme.
            b.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"keyway\", charset=\"UTF-8\""),
            ));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            b.insert_header((header::RETRY_AFTER, "5"));
        }
        b.body(body.to_string())
    }
}
