//! RFC 6749 §5.2 error bodies for the token, revocation and introspection endpoints.
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::oauth::grants::TokenError;

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct OAuthError(#[from] pub TokenError);

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self.0 {
            TokenError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
            TokenError::Server => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = serde_json::json!({ "error": self.0.code(), "error_description": self.0.to_string() });
        let mut b = HttpResponse::build(self.status_code());
        b.content_type("application/json")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if let TokenError::InvalidClient { basic: true } = self.0 {
            // RFC 6749 §5.2: a 401 for Basic authentication names the scheme.
            b.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"keyway\", charset=\"UTF-8\"")));
        }
        b.body(body.to_string())
    }
}
