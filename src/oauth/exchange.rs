//! RFC 8693 token exchange: a product trades a user's access token (issued to it) for an access token of a linked
//! product (`audience`: client_id or short code). The standard form of ABC's GenerateSSOToken (SPEC §6.3).
use super::claims::{self, AccessClaims};
use super::scope::Scope;
use super::token::{TokenEndpointError, TokenResponse};
use super::tokens::{AccessTokenError, Signer};
use crate::audit::{self, Actor};
use crate::model::OAuthClient;
use crate::store::audit::AuditEvent;
use crate::store::{Store, StoreError};

pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// RFC 8693 §2.1 parameters (delegation is not supported).
#[derive(Debug)]
pub struct ExchangeRequest {
    pub subject_token: String,
    pub subject_token_type: String,
    pub requested_token_type: Option<String>,
    pub audience: Option<String>,
    pub scope: Option<String>,
}

pub async fn exchange(
    store: &Store,
    signer: &Signer<'_>,
    client: &OAuthClient,
    x: &ExchangeRequest,
    now: i64,
) -> Result<TokenResponse, TokenEndpointError> {
    if client.is_public() {
        return Err(TokenEndpointError::UnauthorizedClient("public clients cannot exchange tokens".into()));
    }
    if client.linked_products.is_empty() {
        return Err(TokenEndpointError::UnauthorizedClient(
            "this client has no linked products to exchange tokens for".into(),
        ));
    }
    if x.subject_token_type != ACCESS_TOKEN_TYPE {
        return Err(TokenEndpointError::InvalidRequest(format!("subject_token_type must be {ACCESS_TOKEN_TYPE}")));
    }
    if x.requested_token_type.as_deref().is_some_and(|t| t != ACCESS_TOKEN_TYPE) {
        return Err(TokenEndpointError::InvalidRequest("only access tokens can be requested".into()));
    }
    // RFC 8693 §2.2.2: an unusable subject_token is invalid_request.
    let sub = match signer.verifier().access_token(store, &x.subject_token, now).await {
        Ok(c) => c,
        Err(AccessTokenError::Store(e)) => return Err(e.into()),
        Err(_) => {
            return Err(TokenEndpointError::InvalidRequest("subject_token is invalid, expired or revoked".into()))
        }
    };
    if sub.client_id != client.client_id.as_str() || sub.is_client_token() {
        return Err(TokenEndpointError::InvalidRequest(
            "subject_token must be a user's access token issued to this client".into(),
        ));
    }
    let audience =
        x.audience.as_deref().ok_or_else(|| TokenEndpointError::InvalidTarget("audience is required".into()))?;
    let target = match store.find_client(audience).await? {
        Some(t) => Some(t),
        None => store.find_product_by_code(&client.organization_id, audience).await?,
    };
    let target = target.filter(|t| client.links_to(t) && !t.disabled).ok_or_else(|| {
        TokenEndpointError::InvalidTarget("the audience is not a product linked to this client".into())
    })?;
    let granted = Scope::parse(&sub.scope).map_err(|e| StoreError::Corrupt(format!("access token scope: {e}")))?;
    let scope = match x.scope.as_deref() {
        None => granted,
        Some(s) => {
            let asked = Scope::parse(s).map_err(TokenEndpointError::InvalidScope)?;
            if !asked.is_subset_of(&granted) {
                return Err(TokenEndpointError::InvalidScope("the requested scope exceeds the subject token's".into()));
            }
            asked
        }
    };
    let user = store
        .find_user(&sub.sub)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| TokenEndpointError::InvalidRequest("the subject no longer exists".into()))?;
    let claims = AccessClaims {
        sub: user.id.clone(),
        aud: target.client_id.to_string(),
        exp: now + target.access_token_ttl.min(client.access_token_ttl),
        client_id: client.client_id.to_string(),
        auth_time: sub.auth_time,
        gid: sub.gid.clone(),
        sid: sub.sid.clone(),
        customer_account_code: sub.customer_account_code.clone(),
        ..claims::client_access(signer.issuer, &target, &user.id, &scope, now)
    };
    let actor = Actor::client(client.client_id.as_str());
    let subject = format!("{} -> {}", user.id, target.client_id);
    audit::record(
        store,
        AuditEvent {
            actor: actor.as_str(),
            action: "token.exchange",
            subject: &subject,
            client_ip: None,
            outcome: "success",
        },
        now,
    )
    .await;
    Ok(TokenResponse {
        access_token: signer.access_token(&claims)?,
        token_type: "Bearer",
        expires_in: claims.exp - now,
        refresh_token: None,
        id_token: None,
        scope: scope.as_string(),
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
    })
}
