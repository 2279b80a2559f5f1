//! Token revocation (RFC 7009): the client revokes one of its own tokens. Revoking a refresh token revokes its
//! whole grant (§2.1 "SHOULD also invalidate all access tokens" of the same grant).
use super::tokens::{AccessTokenError, Verifier};
use crate::crypto::secrets::hash_token;
use crate::model::OAuthClient;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTypeHint {
    AccessToken,
    RefreshToken,
}

/// Revokes `token` if it is this client's; an unknown or foreign token is not an error (RFC 7009 §2.2). The hint
/// only decides the order of lookups (§2.1).
pub async fn revoke(
    store: &Store,
    verifier: &Verifier<'_>,
    client: &OAuthClient,
    token: &str,
    hint: Option<TokenTypeHint>,
    now: i64,
) -> Result<(), StoreError> {
    if hint == Some(TokenTypeHint::RefreshToken) {
        if !revoke_refresh(store, client, token, now).await? {
            revoke_access(store, verifier, client, token, now).await?;
        }
    } else if !revoke_access(store, verifier, client, token, now).await? {
        revoke_refresh(store, client, token, now).await?;
    }
    Ok(())
}

async fn revoke_access(
    store: &Store,
    verifier: &Verifier<'_>,
    client: &OAuthClient,
    token: &str,
    now: i64,
) -> Result<bool, StoreError> {
    match verifier.access_token(store, token, now).await {
        Ok(c) if c.client_id == client.client_id.as_str() => {
            store.revoke_jti(&c.jti, c.exp).await?;
            Ok(true)
        }
        Err(AccessTokenError::Store(e)) => Err(e),
        _ => Ok(false),
    }
}

async fn revoke_refresh(store: &Store, client: &OAuthClient, token: &str, now: i64) -> Result<bool, StoreError> {
    match store.find_refresh_token(&hash_token(token)).await? {
        Some((r, _)) if r.product_id == client.id => {
            store.revoke_grant(&r.grant_id, now).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}
