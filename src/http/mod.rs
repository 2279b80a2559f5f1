//! HTTP surfaces: thin actix handlers (parse a typed request, make one domain call, map the result to the surface's
//! response), extractors, and one error type per surface. Every request gets an id (`x-request-id`, also in the
//! access log and on error pages) and is counted in the metrics.
pub mod abc;
pub mod account;
pub mod assets;
pub mod authorize;
pub mod backend_sso;
pub mod branding;
pub mod federation;
pub mod health;
pub mod lang;
pub mod license_api;
pub mod login;
pub mod logout;
pub mod mfa;
pub mod oauth_error;
pub mod portal;
pub mod recovery;
pub mod token;
pub mod userinfo;
pub mod web;
pub mod well_known;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web as aw;
use actix_web::{HttpMessage, HttpRequest};
use futures_util::StreamExt;
use tracing::Instrument;

use crate::state::AppState;

/// Request bodies are small everywhere: 64 KiB is far above any legitimate form or JSON body here.
pub const MAX_BODY: usize = 64 * 1024;

/// Every route; `/metrics` only when `public_metrics` (no `metrics_bind` configured).
pub fn configure(cfg: &mut aw::ServiceConfig, public_metrics: bool) {
    if public_metrics {
        cfg.configure(health::configure_metrics);
    }
    // actix tries the resources in this order and matches a path with `{segments}` by a regex: the surfaces whose
    // paths are all fixed, and the busiest among them (a login flow's token request, the License API), come before
    // those with segments, so they never pay for those regexes (issue 16: 8 regex searches per login flow). No
    // fixed path here is matched by a pattern below it, so the order changes no answer.
    cfg.configure(health::configure)
        .configure(assets::configure)
        .configure(well_known::configure)
        .configure(authorize::configure)
        .configure(login::configure)
        .configure(token::configure)
        .configure(userinfo::configure)
        .configure(license_api::configure)
        .configure(logout::configure)
        .configure(recovery::configure)
        .configure(mfa::configure)
        .configure(abc::configure)
        .configure(account::configure)
        .configure(portal::configure)
        .configure(branding::configure)
        .configure(backend_sso::configure)
        .configure(federation::configure)
        .default_service(aw::to(web::not_found));
}

/// The request's id, as set by the `observe` middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub fn request_id(req: &HttpRequest) -> String {
    req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default()
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request id (from a well-formed incoming `x-request-id`, else a new one), a tracing span for the request, one
/// access-log line (method, route template, status, latency: never the query string, which may hold codes or
/// tokens) and the response metrics.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| crate::crypto::secrets::random_uuid().simple().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let state = req.app_data::<aw::Data<AppState>>().cloned();
    let method = req.method().to_string();
    let started = std::time::Instant::now();
    let span = tracing::info_span!("request", request_id = %id);
    let mut res = next.call(req).instrument(span.clone()).await?;
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID, v);
    }
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(target: "keyway::access", method, route, status, latency_ms, "request"));
    if let Some(s) = state {
        s.metrics.record_response(&method, &route, status, elapsed.as_secs_f64());
    }
    Ok(res)
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("the request body could not be read")]
    Broken,
}

/// Reads the whole body, refusing more than [`MAX_BODY`] bytes; each surface answers the error in its own format
/// (an extractor would answer in actix's plain text).
pub async fn read_body(mut payload: aw::Payload) -> Result<aw::Bytes, BodyError> {
    let mut buf = aw::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Overflow => BodyError::TooLarge,
            _ => BodyError::Broken,
        })?;
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(BodyError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
