//! OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414 §2), built with `openidconnect`'s provider types.
use openidconnect::core::{
    CoreClaimName, CoreClientAuthMethod, CoreGrantType, CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, AuthenticationContextClass, IssuerUrl, JsonWebKeySetUrl, ProviderMetadata,
    ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};

/// The endpoints `CoreProviderMetadata` has no field for (RFC 7009, RFC 7662, RP-Initiated Logout, RFC 9207).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ExtraMetadata {
    pub revocation_endpoint: String,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint: String,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub end_session_endpoint: String,
    pub authorization_response_iss_parameter_supported: bool,
    pub frontchannel_logout_supported: bool,
    /// RFC 8414 §2: only S256; `plain` is refused (RFC 9700 §2.1.1).
    pub code_challenge_methods_supported: Vec<String>,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

pub type KeywayProviderMetadata = ProviderMetadata<
    ExtraMetadata,
    openidconnect::core::CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    openidconnect::core::CoreClaimType,
    CoreGrantType,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJweKeyManagementAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";
pub const TOKEN_PATH: &str = "/oauth2/token";
pub const USERINFO_PATH: &str = "/oauth2/userInfo";
pub const REVOKE_PATH: &str = "/oauth2/revoke";
pub const INTROSPECT_PATH: &str = "/oauth2/introspect";
pub const LOGOUT_PATH: &str = "/oauth2/logout";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The discovery document as JSON bytes, prepared once at start-up.
pub fn document(issuer: &str) -> Result<Vec<u8>, String> {
    let u = |p: &str| format!("{issuer}{p}");
    let err = |e: url::ParseError| e.to_string();
    let auth_methods = vec!["client_secret_basic".to_string(), "client_secret_post".to_string()];
    let meta: KeywayProviderMetadata = ProviderMetadata::new(
        IssuerUrl::new(issuer.to_string()).map_err(err)?,
        AuthUrl::new(u(AUTHORIZE_PATH)).map_err(err)?,
        JsonWebKeySetUrl::new(u(JWKS_PATH)).map_err(err)?,
        vec![
            ResponseTypes::new(vec![CoreResponseType::Code]),
            ResponseTypes::new(vec![CoreResponseType::Token]),
            ResponseTypes::new(vec![CoreResponseType::IdToken]),
            ResponseTypes::new(vec![CoreResponseType::IdToken, CoreResponseType::Token]),
        ],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        ExtraMetadata {
            revocation_endpoint: u(REVOKE_PATH),
            revocation_endpoint_auth_methods_supported: auth_methods
                .iter()
                .cloned()
                .chain(["none".to_string()])
                .collect(),
            introspection_endpoint: u(INTROSPECT_PATH),
            introspection_endpoint_auth_methods_supported: auth_methods,
            end_session_endpoint: u(LOGOUT_PATH),
            authorization_response_iss_parameter_supported: true,
            frontchannel_logout_supported: false,
            code_challenge_methods_supported: vec!["S256".to_string()],
        },
    )
    .set_token_endpoint(Some(TokenUrl::new(u(TOKEN_PATH)).map_err(err)?))
    .set_userinfo_endpoint(Some(UserInfoUrl::new(u(USERINFO_PATH)).map_err(err)?))
    .set_scopes_supported(Some(
        ["openid", "email", "profile", "offline_access"].iter().map(|s| Scope::new(s.to_string())).collect(),
    ))
    .set_response_modes_supported(Some(vec![
        CoreResponseMode::Query,
        CoreResponseMode::Fragment,
        CoreResponseMode::FormPost,
    ]))
    .set_grant_types_supported(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::Implicit,
        CoreGrantType::RefreshToken,
        CoreGrantType::ClientCredentials,
        CoreGrantType::Extension(TOKEN_EXCHANGE_GRANT.to_string()),
    ]))
    .set_token_endpoint_auth_methods_supported(Some(vec![
        CoreClientAuthMethod::ClientSecretBasic,
        CoreClientAuthMethod::ClientSecretPost,
        CoreClientAuthMethod::None,
    ]))
    .set_id_token_signing_alg_values_supported(vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256])
    .set_userinfo_signing_alg_values_supported(None)
    .set_claims_supported(Some(
        [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "sid",
            "email",
            "email_verified",
            "name",
            "customer_account_code",
            "amr",
            "acr",
        ]
        .iter()
        .map(|c| CoreClaimName::new(c.to_string()))
        .collect(),
    ))
    // OIDC Discovery §3: the classes `acr_values` may ask for (issue 17: keyway's MFA and single-factor classes).
    .set_acr_values_supported(Some(vec![
        AuthenticationContextClass::new(crate::auth::mfa::ACR_MFA.to_string()),
        AuthenticationContextClass::new(crate::auth::mfa::ACR_SFA.to_string()),
    ]))
    .set_request_parameter_supported(Some(false))
    .set_request_uri_parameter_supported(Some(false))
    .set_claims_parameter_supported(Some(false));
    serde_json::to_vec(&meta).map_err(|e| e.to_string())
}
