//! The refresh_token grant (RFC 6749 §6) with rotation (RFC 9700 §4.14.2): each use returns a new refresh token;
//! reusing a rotated one revokes the whole grant.
use super::claims::{AuthContext, Subject};
use super::scope::Scope;
use super::token::{user_tokens, TokenEndpointError, TokenResponse};
use super::tokens::Signer;
use crate::crypto::secrets::{hash_token, random_token};
use crate::model::OAuthClient;
use crate::store::grants::RefreshRecord;
use crate::store::{Store, StoreError};

const INVALID: &str = "the refresh token is invalid, expired or was issued to another client";
const REPLAYED: &str = "the refresh token was already used";

fn invalid() -> TokenEndpointError {
    TokenEndpointError::InvalidGrant(INVALID.into())
}

pub async fn refresh(
    store: &Store,
    signer: &Signer<'_>,
    client: &OAuthClient,
    token: &str,
    requested_scope: Option<&str>,
    now: i64,
) -> Result<TokenResponse, TokenEndpointError> {
    let (old, grant_revoked) = store.find_refresh_token(&hash_token(token)).await?.ok_or_else(invalid)?;
    if old.product_id != client.id {
        return Err(invalid());
    }
    if old.rotated_at.is_some() {
        store.revoke_grant(&old.grant_id, now).await?;
        return Err(TokenEndpointError::InvalidGrant(REPLAYED.into()));
    }
    if old.revoked_at.is_some() || old.expires_at <= now || grant_revoked {
        return Err(invalid());
    }
    let granted = Scope::parse(&old.scope).map_err(|e| StoreError::Corrupt(format!("refresh token scope: {e}")))?;
    // RFC 6749 §6: `scope` is the scope of this access request: at most the granted one, and when given, the tokens
    // carry exactly that (a client asking for less must not get more); omitted, the whole grant.
    let scope = match requested_scope {
        Some(asked) => {
            let asked = Scope::parse(asked).map_err(TokenEndpointError::InvalidScope)?;
            if !asked.is_subset_of(&granted) {
                return Err(TokenEndpointError::InvalidScope("the requested scope exceeds the granted scope".into()));
            }
            asked
        }
        None => granted,
    };
    let user = store.find_user(&old.license_user_id).await?.filter(|u| !u.disabled).ok_or_else(invalid)?;
    let account = store.find_customer_account(&user.customer_account_id).await?.ok_or_else(invalid)?;
    let new_token = random_token();
    // RFC 6749 §6: the new refresh token carries exactly the scope of the one it replaces (the whole grant).
    let new = RefreshRecord {
        id: crate::crypto::secrets::random_uuid().to_string(),
        token_hash: hash_token(&new_token),
        rotated_at: None,
        revoked_at: None,
        created_at: now,
        expires_at: now + client.refresh_token_ttl,
        ..old.clone()
    };
    if !store.rotate_refresh_token(&old, &new, now).await? {
        // Another request rotated it first (or it expired or was revoked meanwhile).
        return match store.find_refresh_token(&old.token_hash).await? {
            Some((r, _)) if r.rotated_at.is_some() => {
                store.revoke_grant(&r.grant_id, now).await?;
                Err(TokenEndpointError::InvalidGrant(REPLAYED.into()))
            }
            _ => Err(invalid()),
        };
    }
    let ctx = AuthContext {
        auth_time: old.auth_time,
        sid: old.session_id.as_deref(),
        grant_id: Some(&old.grant_id),
        amr: old.amr.as_deref(),
        idp: old.idp.as_deref(),
    };
    user_tokens(signer, client, &Subject::of(&user, &account), &scope, ctx, None, Some(new_token), now)
}
