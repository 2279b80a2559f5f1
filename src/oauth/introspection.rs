//! Token introspection (RFC 7662): confidential clients ask about tokens of their own organization's products. A
//! token is active only while everything it stands for is: not expired or revoked, its user enabled, its client
//! (product) enabled.
use serde::Serialize;

use super::tokens::{AccessTokenError, Verifier};
use crate::crypto::secrets::hash_token;
use crate::model::OAuthClient;
use crate::store::{Store, StoreError};

/// The RFC 7662 §2.2 response; an inactive token is `{"active": false}` and nothing else.
#[derive(Debug, Serialize, PartialEq, Eq, Default)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_account_code: Option<String>,
}

pub fn inactive() -> Introspection {
    Introspection::default()
}

pub async fn introspect(
    store: &Store,
    verifier: &Verifier<'_>,
    caller: &OAuthClient,
    token: &str,
    now: i64,
) -> Result<Introspection, StoreError> {
    match verifier.access_token(store, token, now).await {
        Ok(c) => {
            let Some(owner) = store.find_client(&c.client_id).await? else { return Ok(inactive()) };
            if owner.organization_id != caller.organization_id
                || owner.disabled
                || !subject_enabled(store, &c.sub, c.is_client_token()).await?
            {
                return Ok(inactive());
            }
            Ok(Introspection {
                active: true,
                scope: Some(c.scope),
                client_id: Some(c.client_id),
                token_type: Some("Bearer"),
                exp: Some(c.exp),
                iat: Some(c.iat),
                sub: Some(c.sub),
                aud: Some(c.aud),
                iss: Some(c.iss),
                jti: Some(c.jti),
                customer_account_code: c.customer_account_code,
            })
        }
        Err(AccessTokenError::Store(e)) => Err(e),
        Err(_) => introspect_refresh(store, verifier, caller, token, now).await,
    }
}

async fn introspect_refresh(
    store: &Store,
    verifier: &Verifier<'_>,
    caller: &OAuthClient,
    token: &str,
    now: i64,
) -> Result<Introspection, StoreError> {
    let Some((r, grant_revoked)) = store.find_refresh_token(&hash_token(token)).await? else { return Ok(inactive()) };
    let live = r.product_id == caller.id
        && r.rotated_at.is_none()
        && r.revoked_at.is_none()
        && r.expires_at > now
        && !grant_revoked;
    if !live || caller.disabled || !subject_enabled(store, &r.license_user_id, false).await? {
        return Ok(inactive());
    }
    Ok(Introspection {
        active: true,
        scope: Some(r.scope),
        client_id: Some(caller.client_id.to_string()),
        token_type: Some("refresh_token"),
        exp: Some(r.expires_at),
        iat: Some(r.created_at),
        sub: Some(r.license_user_id),
        iss: Some(verifier.issuer.to_string()),
        ..Introspection::default()
    })
}

/// A user's token is active only while the user exists and is enabled; a client's own token has no user.
async fn subject_enabled(store: &Store, sub: &str, client_token: bool) -> Result<bool, StoreError> {
    if client_token {
        return Ok(true);
    }
    Ok(store.find_user(sub).await?.is_some_and(|u| !u.disabled))
}
