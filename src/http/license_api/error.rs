//! License API errors (SPEC §3.2): status >= 400 and `{"status","code","message"}`. Client mistakes are always 4xx
//! because the SDKs treat a 5xx as "server offline".
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

#[derive(Debug, thiserror::Error)]
pub enum LicenseApiError {
    #[error("{0}")]
    MissingHeaders(String),
    #[error("Some parameters are missing in the authorization: {}", .0.join(", "))]
    AuthorizationMissingParams(Vec<&'static str>),
    #[error("Only the date header may be signed: headers=\"date\"")]
    AuthorizationInvalidHeaders,
    #[error("The algorithm must be hmac-sha256")]
    HmacRequired,
    #[error("The Date header is not an IMF-fixdate within 15 minutes of the server time")]
    DateHeaderDiff,
    #[error("Unknown or revoked API key")]
    InvalidApiKey,
    #[error("The request signature does not match")]
    SignatureMismatch,
    #[error("The OAuth access token has expired")]
    OauthTokenExpired,
    #[error("The OAuth access token is malformed or not valid here")]
    OauthTokenMalformed,
    #[error("Some parameters are missing: {}", .0.join(", "))]
    MissingParams(Vec<String>),
    #[error("{0}")]
    InvalidParams(String),
    #[error("Provided product was not found")]
    UnknownProduct,
    #[error("Provided customer account was not found")]
    UnknownCustomerAccount,
    #[error("response_type must be code or token")]
    InvalidResponseType,
    #[error("redirect_uri is not registered for this product")]
    InvalidRedirectUri,
    #[error("The authorization code is invalid, expired, already used or was not issued for this request")]
    InvalidCode,
    #[error("The id_token is invalid, expired, already used or was not issued for this product")]
    InvalidIdToken,
    #[error("No license for this user and product was found")]
    LicenseNotFound,
    #[error("The license is disabled")]
    LicenseNotEnabled,
    #[error("The license has expired")]
    LicenseExpired,
    #[error("The license is not active on this device")]
    LicenseNotActive,
    #[error("The license has reached its maximum number of activations")]
    LicenseActivatedMaxTimes,
    #[error("The user is disabled")]
    UserDisabled,
    #[error("The username or password is wrong")]
    InvalidCredentials,
    #[error("Too many failed sign-in attempts: the user is locked for a while")]
    UserLocked,
    #[error("The request body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("Unknown endpoint")]
    NotFound,
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("The server could not complete the request")]
    Internal,
    /// A storage failure: the SDKs treat a 5xx as "server unreachable" (offline grace), never as a final refusal.
    #[error("The service is temporarily unavailable; try again later")]
    Unavailable,
    /// Over the rate limit for this address or API key (issue 15 item 4).
    #[error("Too many requests; retry after {} seconds", .0.seconds())]
    TooManyRequests(crate::ratelimit::RetryAfter),
}

impl LicenseApiError {
    pub fn code(&self) -> &'static str {
        use LicenseApiError::*;
        match self {
            MissingHeaders(_) => "missing_headers",
            AuthorizationMissingParams(_) => "authorization_missing_params",
            AuthorizationInvalidHeaders => "authorization_invalid_headers",
            HmacRequired => "hmac_required",
            DateHeaderDiff => "date_header_diff",
            InvalidApiKey => "invalid_api_key",
            SignatureMismatch => "signature_mismatch",
            OauthTokenExpired => "oauth_token_expired",
            OauthTokenMalformed => "oauth_token_malformed",
            MissingParams(_) => "missing_params",
            InvalidParams(_) => "invalid_params",
            UnknownProduct => "unknown_product",
            UnknownCustomerAccount => "unknown_customer_account",
            InvalidResponseType => "invalid_response_type",
            InvalidRedirectUri => "invalid_redirect_uri",
            InvalidCode => "invalid_code",
            InvalidIdToken => "invalid_id_token",
            LicenseNotFound => "license_not_found",
            LicenseNotEnabled => "license_not_enabled",
            LicenseExpired => "license_expired",
            LicenseNotActive => "license_not_active",
            LicenseActivatedMaxTimes => "license_activated_max_times",
            UserDisabled => "user_disabled",
            InvalidCredentials => "invalid_credentials",
            UserLocked => "user_locked",
            PayloadTooLarge => "payload_too_large",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            Internal => "internal_server_error",
            Unavailable => "service_unavailable",
            TooManyRequests(_) => "too_many_requests",
        }
    }
}

impl ResponseError for LicenseApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            LicenseApiError::OauthTokenExpired | LicenseApiError::OauthTokenMalformed => StatusCode::UNAUTHORIZED,
            LicenseApiError::NotFound => StatusCode::NOT_FOUND,
            LicenseApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            LicenseApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            LicenseApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            LicenseApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            LicenseApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let body = serde_json::json!({ "status": status.as_u16(), "code": self.code(), "message": self.to_string() });
        let mut b = HttpResponse::build(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            b.insert_header((actix_web::http::header::RETRY_AFTER, "5"));
        }
        if let LicenseApiError::TooManyRequests(wait) = self {
            b.insert_header((actix_web::http::header::RETRY_AFTER, wait.seconds()));
        }
        b.content_type("application/json").body(body.to_string())
    }
}

impl From<crate::store::StoreError> for LicenseApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "License API storage failure");
        if e.is_unavailable() {
            LicenseApiError::Unavailable
        } else {
            LicenseApiError::Internal
        }
    }
}

impl From<crate::http::BodyError> for LicenseApiError {
    fn from(e: crate::http::BodyError) -> Self {
        match e {
            crate::http::BodyError::TooLarge => LicenseApiError::PayloadTooLarge,
            crate::http::BodyError::Broken => {
                LicenseApiError::InvalidParams("the request body could not be read".into())
            }
        }
    }
}

impl From<crate::license::activation::ActivationError> for LicenseApiError {
    fn from(e: crate::license::activation::ActivationError) -> Self {
        use crate::license::activation::ActivationError as A;
        match e {
            A::UnknownProduct => LicenseApiError::UnknownProduct,
            A::UnknownCustomerAccount => LicenseApiError::UnknownCustomerAccount,
            A::InvalidCode(_) => LicenseApiError::InvalidCode,
            A::InvalidIdToken => LicenseApiError::InvalidIdToken,
            A::InvalidCredentials => LicenseApiError::InvalidCredentials,
            A::UserLocked { .. } => LicenseApiError::UserLocked,
            A::LicenseNotFound => LicenseApiError::LicenseNotFound,
            A::LicenseNotEnabled => LicenseApiError::LicenseNotEnabled,
            A::LicenseExpired => LicenseApiError::LicenseExpired,
            A::LicenseNotActive => LicenseApiError::LicenseNotActive,
            A::SeatsFull => LicenseApiError::LicenseActivatedMaxTimes,
            A::UserDisabled => LicenseApiError::UserDisabled,
            A::Store(s) => s.into(),
        }
    }
}

impl From<crate::params::ParamError> for LicenseApiError {
    fn from(e: crate::params::ParamError) -> Self {
        LicenseApiError::InvalidParams(e.0)
    }
}

impl From<crate::params::MissingParams> for LicenseApiError {
    fn from(e: crate::params::MissingParams) -> Self {
        LicenseApiError::MissingParams(e.0)
    }
}
