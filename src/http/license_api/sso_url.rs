//! `GET /api/v4/sso_url` (SPEC §3.3).
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::auth::LicenseClient;
use super::error::LicenseApiError;
use super::json_ok;
use crate::license::sso_url::{self, SsoUrlError, SsoUrlRequest};
use crate::oauth::discovery::{INTROSPECT_PATH, LOGOUT_PATH, TOKEN_PATH};
use crate::params::Params;
use crate::state::AppState;

pub async fn get_sso_url(
    state: web::Data<AppState>,
    client: LicenseClient,
    req: HttpRequest,
) -> Result<HttpResponse, LicenseApiError> {
    let p = Params::parse(req.query_string())?;
    let [product, account_code] = p.require(["product", "customer_account_code"])?;
    let request = SsoUrlRequest {
        customer_account_code: account_code,
        response_type: p.get("response_type"),
        redirect_uri: p.get("redirect_uri"),
        state: p.get("state"),
        nonce: p.get("nonce"),
        code_challenge: p.get("code_challenge"),
        code_challenge_method: p.get("code_challenge_method"),
        login_hint: p.get("login_hint"),
    };
    let issuer = &state.config.issuer;
    let url = sso_url::for_product(&state.store, issuer, &client.0.organization_id, product, &request).await.map_err(
        |e| match e {
            SsoUrlError::UnknownProduct => LicenseApiError::UnknownProduct,
            SsoUrlError::UnknownCustomerAccount => LicenseApiError::UnknownCustomerAccount,
            SsoUrlError::InvalidResponseType => LicenseApiError::InvalidResponseType,
            SsoUrlError::InvalidRedirectUri => LicenseApiError::InvalidRedirectUri,
            SsoUrlError::InvalidParam(name, why) => LicenseApiError::InvalidParams(format!("{name}: {why}")),
            SsoUrlError::Store(e) => e.into(),
        },
    )?;
    json_ok(&json!({
        "url": url,
        "openid_configuration": {
            "issuer": issuer,
            "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
            "introspection_endpoint": format!("{issuer}{INTROSPECT_PATH}"),
            "end_session_endpoint": format!("{issuer}{LOGOUT_PATH}"),
        },
        "alternate_urls": [],
    }))
}
