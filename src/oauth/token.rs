//! The token endpoint's rules (RFC 6749 §3.2, §4.1.3, §4.4, §6; RFC 8693): a typed request, already parsed at the
//! edge, for an authenticated client, answered with tokens or an RFC 6749 §5.2 error.
use serde::Serialize;

use super::claims::{self, AuthContext, Subject};
use super::code::{self, CodeRedemption, RedeemError};
use super::exchange::{self, ExchangeRequest};
use super::refresh;
use super::scope::Scope;
use super::tokens::Signer;
use crate::crypto::jwt::JwtError;
use crate::crypto::secrets::{hash_token, random_token, random_uuid};
use crate::model::{Grant, OAuthClient};
use crate::store::grants::RefreshOffer;
use crate::store::{Store, StoreError};

/// A token request by grant type (RFC 6749 §4.1.3, §6, §4.4; RFC 8693 §2.1).
#[derive(Debug)]
pub enum TokenRequest {
    AuthorizationCode { code: String, redirect_uri: Option<String>, code_verifier: Option<String> },
    RefreshToken { refresh_token: String, scope: Option<String> },
    ClientCredentials { scope: Option<String> },
    TokenExchange(ExchangeRequest),
}

/// RFC 6749 §5.2 errors (and RFC 8693's `invalid_target`). A storage or signing failure is the server's, never the
/// client's: it is answered 503 / 500, not as a bad grant.
#[derive(Debug, thiserror::Error)]
pub enum TokenEndpointError {
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
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing a token failed: {0}")]
    Signing(#[from] JwtError),
}

impl From<RedeemError> for TokenEndpointError {
    fn from(e: RedeemError) -> Self {
        match e {
            RedeemError::Invalid(why) => TokenEndpointError::InvalidGrant(why.into()),
            RedeemError::Store(s) => TokenEndpointError::Store(s),
        }
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

fn allowed(client: &OAuthClient, grant: Grant) -> Result<(), TokenEndpointError> {
    if client.allows(grant) {
        Ok(())
    } else {
        Err(TokenEndpointError::UnauthorizedClient(format!("this client may not use the {} grant", grant.as_str())))
    }
}

pub async fn exchange(
    store: &Store,
    signer: &Signer<'_>,
    client: &OAuthClient,
    req: TokenRequest,
    now: i64,
) -> Result<TokenResponse, TokenEndpointError> {
    match req {
        TokenRequest::AuthorizationCode { code, redirect_uri, code_verifier } => {
            allowed(client, Grant::AuthorizationCode)?;
            authorization_code(store, signer, client, &code, redirect_uri.as_deref(), code_verifier.as_deref(), now)
                .await
        }
        TokenRequest::RefreshToken { refresh_token, scope } => {
            allowed(client, Grant::RefreshToken)?;
            refresh::refresh(store, signer, client, &refresh_token, scope.as_deref(), now).await
        }
        TokenRequest::ClientCredentials { scope } => {
            allowed(client, Grant::ClientCredentials)?;
            client_credentials(signer, client, scope.as_deref(), now)
        }
        TokenRequest::TokenExchange(x) => exchange::exchange(store, signer, client, &x, now).await,
    }
}

async fn authorization_code(
    store: &Store,
    signer: &Signer<'_>,
    client: &OAuthClient,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: i64,
) -> Result<TokenResponse, TokenEndpointError> {
    // The refresh token is made before the claim and offered with it: it is stored atomically with the claim when
    // the code's scope holds offline_access (the store's rule) and the client may refresh (offered only then).
    let refresh_token = random_token();
    let (refresh_id, refresh_hash) = (random_uuid().to_string(), hash_token(&refresh_token));
    let offer = RefreshOffer { id: &refresh_id, token_hash: &refresh_hash, expires_at: now + client.refresh_token_ttl };
    let offer = client.allows(Grant::RefreshToken).then_some(&offer);
    let redemption = CodeRedemption { code, redirect_uri, code_verifier, redirect_uri_optional: false };
    let r = code::redeem(store, client, &redemption, offer, now).await?;
    let scope = Scope::parse(&r.code.scope).map_err(|e| StoreError::Corrupt(format!("code scope: {e}")))?;
    let refresh_token = r.refreshed.then_some(refresh_token);
    let ctx = AuthContext {
        auth_time: r.code.auth_time,
        sid: r.code.session_id.as_deref(),
        grant_id: Some(&r.code.id),
        amr: r.code.amr.as_deref(),
        idp: r.code.idp.as_deref(),
    };
    user_tokens(
        signer,
        client,
        &Subject::of(&r.user, &r.account),
        &scope,
        ctx,
        r.code.nonce.as_deref(),
        refresh_token,
        now,
    )
}

/// Access token, id_token (with `openid`) and the refresh token (if any) of a user grant.
#[allow(clippy::too_many_arguments)]
pub(super) fn user_tokens(
    signer: &Signer<'_>,
    client: &OAuthClient,
    sub: &Subject,
    scope: &Scope,
    ctx: AuthContext<'_>,
    nonce: Option<&str>,
    refresh_token: Option<String>,
    now: i64,
) -> Result<TokenResponse, TokenEndpointError> {
    // Signed one after the other on this worker: on two cores, signing the id_token on the blocking pool at the
    // same time cost more CPU per redemption than it saved in latency (docs/PERFORMANCE.md, "Tried and reverted").
    let access_token = signer.access_token(&claims::user_access(signer.issuer, client, sub, scope, ctx, now))?;
    // at_hash only from the authorization endpoint (OIDC Core §3.2.2.10); the token endpoint's is optional.
    let id_token = if scope.has("openid") {
        Some(signer.id_token(&claims::id_token(
            signer.issuer,
            client,
            sub,
            scope,
            ctx,
            claims::Echo { nonce, access_token: None },
            now,
        ))?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: client.access_token_ttl,
        refresh_token,
        id_token,
        scope: scope.as_string(),
        issued_token_type: None,
    })
}

/// RFC 6749 §4.4: the client is the subject; there is no user, so no openid or offline_access.
fn client_credentials(
    signer: &Signer<'_>,
    client: &OAuthClient,
    scope: Option<&str>,
    now: i64,
) -> Result<TokenResponse, TokenEndpointError> {
    if client.is_public() {
        return Err(TokenEndpointError::UnauthorizedClient("public clients cannot use client_credentials".into()));
    }
    let scope = Scope::parse(scope.unwrap_or("")).map_err(TokenEndpointError::InvalidScope)?;
    if scope.has("openid") || scope.has("offline_access") {
        return Err(TokenEndpointError::InvalidScope(
            "client_credentials tokens have no user: openid and offline_access do not apply".into(),
        ));
    }
    let claims = claims::client_access(signer.issuer, client, client.client_id.as_str(), &scope, now);
    Ok(TokenResponse {
        access_token: signer.access_token(&claims)?,
        token_type: "Bearer",
        expires_in: client.access_token_ttl,
        refresh_token: None,
        id_token: None,
        scope: scope.as_string(),
        issued_token_type: None,
    })
}
