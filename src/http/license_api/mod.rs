//! The LicenseSpring-compatible License API under `/api/v4` (SPEC §3). Every response, errors included, is compact
//! JSON signed with the license signing key in the `LicenseSignature` header.
mod activation;
pub mod auth;
pub mod error;
mod sso_url;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpResponse, ResponseError};

pub use error::LicenseApiError;

use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v4")
            .wrap(from_fn(sign_response))
            .route("/sso_url", web::get().to(sso_url::get_sso_url))
            .route("/activate_license", web::post().to(activation::post_activate_license))
            .route("/check_license", web::get().to(activation::get_check_license))
            .route("/deactivate_license", web::post().to(activation::post_deactivate_license))
            .route("/user_licenses", web::get().to(activation::get_user_licenses))
            .route("/oauth_url", web::get().to(activation::get_oauth_url))
            .default_service(web::to(not_found)),
    );
}

async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, LicenseApiError> {
    let known = [
        "/api/v4/sso_url",
        "/api/v4/activate_license",
        "/api/v4/check_license",
        "/api/v4/deactivate_license",
        "/api/v4/user_licenses",
        "/api/v4/oauth_url",
    ];
    if known.contains(&req.path()) {
        Err(LicenseApiError::MethodNotAllowed)
    } else {
        Err(LicenseApiError::NotFound)
    }
}

/// A 200 response with a compact JSON body (serde_json's default writer, as the SDKs' signature checks need).
pub fn json_ok<T: serde::Serialize>(value: &T) -> Result<HttpResponse, LicenseApiError> {
    let body = serde_json::to_vec(value).map_err(|_| LicenseApiError::Internal)?;
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}

/// Signs the final body bytes (SPEC §3.2): base64 RSASSA-PKCS1-v1_5/SHA-256 in `LicenseSignature`.
async fn sign_response(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    // Handler and extractor errors arrive here already rendered as responses; an `Err` can only come from
    // middleware, and is passed on as is.
    let res = next.call(req).await?.map_into_boxed_body();
    let (http_req, res) = res.into_parts();
    let (mut head, body) = res.into_parts();
    let bytes = match actix_web::body::to_bytes(body).await {
        Ok(b) => b,
        Err(_) => return Ok(ServiceResponse::new(http_req, LicenseApiError::Internal.error_response())),
    };
    let signed = state.as_ref().ok_or(()).and_then(|s| s.license_signer().sign_b64(&bytes).map_err(|_| ()));
    match signed.ok().and_then(|sig| HeaderValue::from_str(&sig).ok()) {
        Some(sig) => {
            head.headers_mut().insert(HeaderName::from_static("licensesignature"), sig);
            if !head.headers().contains_key(CONTENT_TYPE) {
                head.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Ok(ServiceResponse::new(http_req, head.set_body(bytes).map_into_boxed_body()))
        }
        None => {
            tracing::error!("signing a License API response failed");
            Ok(ServiceResponse::new(http_req, LicenseApiError::Internal.error_response()))
        }
    }
}
