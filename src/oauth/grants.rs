//! Token endpoint logic (RFC 6749 §4.1.3, §4.4, §6; RFC 7636 §4.6; RFC 9700 §4.14): client authentication,
//! code redemption, refresh rotation, client credentials.
use serde::Serialize;

use crate::crypto::secrets::{hash_token, random_token, s256, secrets_equal};
use crate::oauth::authorize::Scope;
use crate::oauth::client::{verify_client_secret, GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN};
use crate::oauth::issue::id_claims;
use crate::oauth::tokens::{self, AccessClaims, Subject};
use crate::params::Params;
use crate::state::AppState;
use crate::store::entity::{customer_account, license_user, product};
use crate::store::grants::{ClaimError, CodeRecord, RefreshRecord};
use crate::store::StoreError;

/// How the client presented itself (RFC 6749 §2.3.1).
#[derive(Debug)]
pub enum ClientCredentials {
    Basic { id: String, secret: String },
    Post { id: String, secret: String },
    /// Public client: client_id only (RFC 6749 §3.2.1).
    None { id: String },
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("client authentication failed")]
    InvalidClient { basic: bool },
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("unsupported grant_type")]
    UnsupportedGrantType,
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    InvalidTarget(String),
    #[error("internal error")]
    Server,
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidRequest(_) => "invalid_request",
            TokenError::InvalidClient { .. } => "invalid_client",
            TokenError::InvalidGrant(_) => "invalid_grant",
            TokenError::UnauthorizedClient(_) => "unauthorized_client",
            TokenError::UnsupportedGrantType => "unsupported_grant_type",
            TokenError::InvalidScope(_) => "invalid_scope",
            TokenError::InvalidTarget(_) => "invalid_target",
            TokenError::Server => "server_error",
        }
    }
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "token endpoint storage error");
        TokenError::Server
    }
}

impl From<crate::crypto::jwt::JwtError> for TokenError {
    fn from(e: crate::crypto::jwt::JwtError) -> Self {
        tracing::error!(error = %e, "token signing failed");
        TokenError::Server
    }
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// Authenticates the client; confidential clients must prove their secret, public ones may only name themselves.
pub async fn authenticate_client(state: &AppState, creds: &ClientCredentials) -> Result<product::Model, TokenError> {
    let (id, secret, basic) = match creds {
        ClientCredentials::Basic { id, secret } => (id, Some(secret), true),
        ClientCredentials::Post { id, secret } => (id, Some(secret), false),
        ClientCredentials::None { id } => (id, None, false),
    };
    let product = state.store.find_product_by_client_id(id).await?;
    // Compare against a dummy when the client is unknown, so timing does not reveal client ids.
    let stored = product.as_ref().and_then(|p| p.client_secret_hash.clone());
    let ok = match (secret, &stored) {
        (Some(s), Some(h)) => verify_client_secret(s, h),
        (Some(s), None) => {
            let _ = secrets_equal(hash_token(s).as_bytes(), &[0u8; 64]);
            false
        }
        // A public client authenticates by id alone (and PKCE).
        (None, None) => product.is_some(),
        (None, Some(_)) => false,
    };
    match product {
        Some(p) if ok => Ok(p),
        _ => Err(TokenError::InvalidClient { basic }),
    }
}

/// A redeemed code with the user it was issued for.
pub struct Redeemed {
    pub code: CodeRecord,
    pub user: license_user::Model,
    pub account: customer_account::Model,
}

/// What a redemption without `redirect_uri` means when the authorization request had one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectUriRule {
    /// RFC 6749 §4.1.3 (the token endpoint): then it is required, and must be identical.
    Required,
    /// The License API (`activate_license`, `user_licenses`; docs/SDK-FIELDS.md): the request is
    /// HMAC-authenticated, so an absent `redirect_uri` stands for the one the code was issued for; a given one must
    /// still be identical. PKCE is checked either way.
    IssuedIfAbsent,
}

impl RedirectUriRule {
    /// Whether a redemption with `given` is allowed for a code whose authorization request had `issued`.
    pub fn accepts(self, issued: Option<&str>, given: Option<&str>) -> bool {
        match (issued, given) {
            (None, _) => true,
            (Some(_), None) => self == RedirectUriRule::IssuedIfAbsent,
            (Some(issued), Some(given)) => issued == given,
        }
    }
}

/// Redeems an authorization code for `client` (RFC 6749 §4.1.3 checks, RFC 7636 §4.6). Exactly one caller wins a
/// code; a replay revokes everything issued from it. Shared by the token endpoint and SSO license activation.
pub async fn redeem_code(state: &AppState, client: &product::Model, code: &str, redirect_uri: Option<&str>, rule: RedirectUriRule, verifier: Option<&str>) -> Result<Redeemed, TokenError> {
    let now = state.now();
    let invalid = || TokenError::InvalidGrant("the authorization code is invalid, expired or was issued to another client".into());
    let record = state.store.find_code(&hash_token(code)).await?.ok_or_else(invalid)?;
    if record.product_id != client.id || record.expires_at <= now {
        return Err(invalid());
    }
    // The code was consumed or revoked before: a replay. Revoke the grant (RFC 6749 §4.1.2) and refuse.
    if record.consumed_at.is_some() || record.revoked_at.is_some() {
        state.store.revoke_grant(&record.id, now).await?;
        return Err(TokenError::InvalidGrant("the authorization code was already used".into()));
    }
    if !rule.accepts(record.redirect_uri.as_deref(), redirect_uri) {
        return Err(TokenError::InvalidGrant("redirect_uri does not match the authorization request".into()));
    }
    match (&record.code_challenge, verifier) {
        (Some(challenge), Some(v)) => {
            if !crate::license::sso_url::valid_pkce_value(v) || !secrets_equal(s256(v).as_bytes(), challenge.as_bytes()) {
                return Err(TokenError::InvalidGrant("code_verifier does not match the code_challenge".into()));
            }
        }
        (Some(_), None) => return Err(TokenError::InvalidGrant("code_verifier is required".into())),
        // RFC 9700 §4.8.2: a verifier for a code issued without challenge signals a PKCE downgrade attempt.
        (None, Some(_)) => return Err(TokenError::InvalidGrant("code_verifier given for a code issued without code_challenge".into())),
        (None, None) => {}
    }
    match state.store.claim_code(&record, now).await {
        Ok(()) => {}
        Err(ClaimError::Invalid) => return Err(invalid()),
        Err(ClaimError::Replayed { grant_id }) => {
            state.store.revoke_grant(&grant_id, now).await?;
            return Err(TokenError::InvalidGrant("the authorization code was already used".into()));
        }
    }
    let user = state.store.find_user(&record.license_user_id).await?.filter(|u| !u.disabled).ok_or_else(invalid)?;
    let account = state.store.find_customer_account(&user.customer_account_id).await?.ok_or_else(invalid)?;
    Ok(Redeemed { code: record, user, account })
}

fn subject_of(user: &license_user::Model, account: &customer_account::Model) -> Subject {
    Subject {
        user_id: user.id.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        email_verified: user.email_verified,
        customer_account_code: account.code.clone(),
    }
}

fn allows(client: &product::Model, grant: &str) -> Result<(), TokenError> {
    if client.allowed_grant_list().iter().any(|g| g == grant) {
        Ok(())
    } else {
        Err(TokenError::UnauthorizedClient(format!("this client may not use the {grant} grant")))
    }
}

pub async fn exchange(state: &AppState, client: &product::Model, p: &Params) -> Result<TokenResponse, TokenError> {
    match p.get("grant_type") {
        None => Err(TokenError::InvalidRequest("grant_type is missing".into())),
        Some(GRANT_AUTHORIZATION_CODE) => {
            allows(client, GRANT_AUTHORIZATION_CODE)?;
            let code = p.get("code").ok_or_else(|| TokenError::InvalidRequest("code is missing".into()))?;
            let r = redeem_code(state, client, code, p.get("redirect_uri"), RedirectUriRule::Required, p.get("code_verifier")).await?;
            let scope = Scope::parse(&r.code.scope).map_err(|_| TokenError::Server)?;
            let sub = subject_of(&r.user, &r.account);
            mint_user_tokens(state, client, &sub, &scope, &r.code.id, r.code.session_id.as_deref(), r.code.auth_time, r.code.nonce.clone(), None).await
        }
        Some(GRANT_REFRESH_TOKEN) => {
            allows(client, GRANT_REFRESH_TOKEN)?;
            let token = p.get("refresh_token").ok_or_else(|| TokenError::InvalidRequest("refresh_token is missing".into()))?;
            refresh(state, client, token, p.get("scope")).await
        }
        Some(GRANT_CLIENT_CREDENTIALS) => {
            allows(client, GRANT_CLIENT_CREDENTIALS)?;
            if client.is_public_client() {
                return Err(TokenError::UnauthorizedClient("public clients cannot use client_credentials".into()));
            }
            let scope = match p.get("scope") {
                Some(s) => Scope::parse(s).map_err(TokenError::InvalidScope)?,
                None => Scope::parse("").map_err(TokenError::InvalidScope)?,
            };
            if scope.has("openid") || scope.has("offline_access") {
                return Err(TokenError::InvalidScope("client_credentials tokens have no user: openid and offline_access do not apply".into()));
            }
            let now = state.now();
            // The client is the subject: there is no user.
            let claims = AccessClaims::new(&state.config.issuer, &client.client_id, &client.client_id, scope.as_string(), now, client.access_token_ttl);
            Ok(TokenResponse {
                access_token: tokens::sign_access(&state.keys(), state.config.access_token_signing_alg, &claims)?,
                token_type: "Bearer",
                expires_in: client.access_token_ttl,
                refresh_token: None,
                id_token: None,
                scope: scope.as_string(),
                issued_token_type: None,
            })
        }
        Some(crate::oauth::client::GRANT_TOKEN_EXCHANGE) => token_exchange(state, client, p).await,
        Some(_) => Err(TokenError::UnsupportedGrantType),
    }
}

/// Access token, id_token (with `openid`) and a refresh token (with `offline_access`) for a user grant.
#[allow(clippy::too_many_arguments)]
async fn mint_user_tokens(
    state: &AppState,
    client: &product::Model,
    sub: &Subject,
    scope: &Scope,
    grant_id: &str,
    sid: Option<&str>,
    auth_time: i64,
    nonce: Option<String>,
    rotated_from: Option<&RefreshRecord>,
) -> Result<TokenResponse, TokenError> {
    let now = state.now();
    let keys = state.keys();
    let claims = AccessClaims {
        auth_time: Some(auth_time),
        gid: Some(grant_id.to_string()),
        sid: sid.map(str::to_string),
        customer_account_code: Some(sub.customer_account_code.clone()),
        ..AccessClaims::new(&state.config.issuer, &client.client_id, &sub.user_id, scope.as_string(), now, client.access_token_ttl)
    };
    // Signed one after the other on this worker: on two cores, signing the id_token on the blocking pool at the
    // same time cost more CPU per redemption than it saved in latency (docs/PERFORMANCE.md, "Tried and reverted").
    let access_token = tokens::sign_access(&keys, state.config.access_token_signing_alg, &claims)?;
    let id_token = if scope.has("openid") {
        let c = id_claims(state, client, sub, auth_time, sid, nonce, Some(&access_token), scope, now);
        Some(tokens::sign_id(&keys, &c)?)
    } else {
        None
    };
    let refresh_token = if scope.has("offline_access") && client.allowed_grant_list().iter().any(|g| g == GRANT_REFRESH_TOKEN) {
        let token = random_token();
        let record = RefreshRecord {
            id: uuid::Uuid::new_v4().to_string(),
            token_hash: hash_token(&token),
            grant_id: grant_id.to_string(),
            product_id: client.id.clone(),
            license_user_id: sub.user_id.clone(),
            session_id: sid.map(str::to_string),
            scope: scope.as_string(),
            auth_time,
            expires_at: now + client.refresh_token_ttl,
            rotated_at: None,
            revoked_at: None,
            created_at: now,
        };
        match rotated_from {
            None => state.store.insert_refresh_token(record).await?,
            Some(old) => match state.store.rotate_refresh_token(old, record, now).await {
                Ok(()) => {}
                Err(ClaimError::Invalid) => return Err(TokenError::InvalidGrant("the refresh token is invalid or expired".into())),
                Err(ClaimError::Replayed { grant_id }) => {
                    state.store.revoke_grant(&grant_id, now).await?;
                    return Err(TokenError::InvalidGrant("the refresh token was already used".into()));
                }
            },
        }
        Some(token)
    } else {
        None
    };
    Ok(TokenResponse { access_token, token_type: "Bearer", expires_in: client.access_token_ttl, refresh_token, id_token, scope: scope.as_string(), issued_token_type: None })
}

/// RFC 6749 §6 with rotation (RFC 9700 §4.14.2): each use returns a new refresh token; reusing a rotated one
/// revokes the whole grant.
async fn refresh(state: &AppState, client: &product::Model, token: &str, requested_scope: Option<&str>) -> Result<TokenResponse, TokenError> {
    let now = state.now();
    let invalid = || TokenError::InvalidGrant("the refresh token is invalid, expired or was issued to another client".into());
    let record = state.store.find_refresh_token(&hash_token(token)).await?.ok_or_else(invalid)?;
    if record.product_id != client.id {
        return Err(invalid());
    }
    if record.rotated_at.is_some() {
        state.store.revoke_grant(&record.grant_id, now).await?;
        return Err(TokenError::InvalidGrant("the refresh token was already used".into()));
    }
    if record.revoked_at.is_some() || record.expires_at <= now || state.store.is_grant_revoked(&record.grant_id).await? {
        return Err(invalid());
    }
    let granted = Scope::parse(&record.scope).map_err(|_| TokenError::Server)?;
    if let Some(asked) = requested_scope {
        let asked = Scope::parse(asked).map_err(TokenError::InvalidScope)?;
        if !asked.is_subset_of(&granted) {
            return Err(TokenError::InvalidScope("the requested scope exceeds the granted scope".into()));
        }
    }
    let user = state.store.find_user(&record.license_user_id).await?.filter(|u| !u.disabled).ok_or_else(invalid)?;
    let account = state.store.find_customer_account(&user.customer_account_id).await?.ok_or_else(invalid)?;
    let sub = subject_of(&user, &account);
    // RFC 6749 §6: the new refresh token carries exactly the scope of the one it replaces; so do its tokens.
    mint_user_tokens(state, client, &sub, &granted, &record.grant_id, record.session_id.as_deref(), record.auth_time, None, Some(&record)).await
}

const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// RFC 8693 token exchange: a product trades a user's access token (issued to it) for an access token of a
/// linked product (`audience`: client_id or short code). The standard form of ABC's GenerateSSOToken.
async fn token_exchange(state: &AppState, client: &product::Model, p: &Params) -> Result<TokenResponse, TokenError> {
    if client.is_public_client() {
        return Err(TokenError::UnauthorizedClient("public clients cannot exchange tokens".into()));
    }
    if client.linked_product_list().is_empty() {
        return Err(TokenError::UnauthorizedClient("this client has no linked products to exchange tokens for".into()));
    }
    let subject = p.get("subject_token").ok_or_else(|| TokenError::InvalidRequest("subject_token is missing".into()))?;
    match p.get("subject_token_type") {
        Some(ACCESS_TOKEN_TYPE) => {}
        Some(_) => return Err(TokenError::InvalidRequest("subject_token_type must be urn:ietf:params:oauth:token-type:access_token".into())),
        None => return Err(TokenError::InvalidRequest("subject_token_type is missing".into())),
    }
    if p.get("requested_token_type").is_some_and(|t| t != ACCESS_TOKEN_TYPE) {
        return Err(TokenError::InvalidRequest("only access tokens can be requested".into()));
    }
    if p.contains("actor_token") {
        return Err(TokenError::InvalidRequest("delegation (actor_token) is not supported".into()));
    }
    // RFC 8693 §2.2.2: an unusable subject_token is invalid_request.
    let sub = tokens::verify_access_token(state, subject).await.map_err(|_| TokenError::InvalidRequest("subject_token is invalid, expired or revoked".into()))?;
    if sub.client_id != client.client_id || sub.is_client_token() {
        return Err(TokenError::InvalidRequest("subject_token must be a user's access token issued to this client".into()));
    }
    let audience = p.get("audience").or_else(|| p.get("resource")).ok_or_else(|| TokenError::InvalidTarget("audience is required".into()))?;
    let target = match state.store.find_product_by_client_id(audience).await? {
        Some(t) => Some(t),
        None => state.store.find_product_by_code(&client.organization_id, audience).await?,
    };
    let target = target
        .filter(|t| crate::sso::minted::linked(client, t))
        .ok_or_else(|| TokenError::InvalidTarget("the audience is not a product linked to this client".into()))?;
    let granted = Scope::parse(&sub.scope).map_err(|_| TokenError::Server)?;
    let scope = match p.get("scope") {
        None => granted,
        Some(s) => {
            let asked = Scope::parse(s).map_err(TokenError::InvalidScope)?;
            if !asked.is_subset_of(&granted) {
                return Err(TokenError::InvalidScope("the requested scope exceeds the subject token's".into()));
            }
            asked
        }
    };
    let user = state.store.find_user(&sub.sub).await?.filter(|u| !u.disabled).ok_or_else(|| TokenError::InvalidRequest("the subject no longer exists".into()))?;
    let now = state.now();
    let claims = AccessClaims {
        iss: state.config.issuer.clone(),
        sub: user.id.clone(),
        aud: target.client_id.clone(),
        exp: now + target.access_token_ttl.min(client.access_token_ttl),
        iat: now,
        jti: tokens::new_jti(),
        client_id: client.client_id.clone(),
        scope: scope.as_string(),
        auth_time: sub.auth_time,
        gid: sub.gid.clone(),
        sid: sub.sid.clone(),
        customer_account_code: sub.customer_account_code.clone(),
    };
    crate::oauth::login::audit(state, "token.exchange", &user.id, None, &format!("{} -> {}", client.client_id, target.client_id), now).await;
    Ok(TokenResponse {
        access_token: tokens::sign_access(&state.keys(), state.config.access_token_signing_alg, &claims)?,
        token_type: "Bearer",
        expires_in: claims.exp - now,
        refresh_token: None,
        id_token: None,
        scope: scope.as_string(),
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
    })
}

#[cfg(test)]
mod redirect_uri_rule_tests {
    use super::RedirectUriRule::{IssuedIfAbsent, Required};

    const CB: &str = "http://127.0.0.1:8765/callback";

    #[test]
    fn token_endpoint_requires_the_issued_redirect_uri() {
        assert!(Required.accepts(Some(CB), Some(CB)));
        assert!(!Required.accepts(Some(CB), None));
        assert!(!Required.accepts(Some(CB), Some("http://127.0.0.1:8765/other")));
        assert!(!Required.accepts(Some(CB), Some("http://127.0.0.1:8765/callback/")));
        // The authorization request had none (RFC 6749 §4.1.3 then asks for none).
        assert!(Required.accepts(None, None));
    }

    #[test]
    fn license_api_takes_an_absent_redirect_uri_as_the_issued_one() {
        assert!(IssuedIfAbsent.accepts(Some(CB), None));
        assert!(IssuedIfAbsent.accepts(Some(CB), Some(CB)));
        assert!(!IssuedIfAbsent.accepts(Some(CB), Some("http://127.0.0.1:8765/other")));
        assert!(!IssuedIfAbsent.accepts(Some(CB), Some("")));
        assert!(IssuedIfAbsent.accepts(None, None));
    }
}
