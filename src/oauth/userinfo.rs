//! The UserInfo endpoint's rules (OIDC Core §5.3): claims of the token's user, by granted scope.
use serde_json::{json, Value};

use super::tokens::{AccessTokenError, Verifier};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum UserInfoError {
    /// RFC 6750 §3.1 invalid_token: bad, expired, revoked; or its user or client is gone or disabled.
    #[error("{0}")]
    InvalidToken(&'static str),
    /// A client-credentials token, or no `openid` scope.
    #[error("the openid scope is required")]
    InsufficientScope,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn userinfo(store: &Store, verifier: &Verifier<'_>, token: &str, now: i64) -> Result<Value, UserInfoError> {
    let claims = match verifier.access_token(store, token, now).await {
        Ok(c) => c,
        Err(AccessTokenError::Store(e)) => return Err(e.into()),
        Err(_) => return Err(UserInfoError::InvalidToken("the access token is invalid, expired or revoked")),
    };
    if claims.is_client_token() || !claims.has_scope("openid") {
        return Err(UserInfoError::InsufficientScope);
    }
    if store.find_client(&claims.client_id).await?.is_none_or(|c| c.disabled) {
        return Err(UserInfoError::InvalidToken("the client of this token is disabled"));
    }
    let user = store
        .find_user(&claims.sub)
        .await?
        .filter(|u| !u.disabled)
        .ok_or(UserInfoError::InvalidToken("the user no longer exists or is disabled"))?;
    let mut body = json!({ "sub": user.id });
    if claims.has_scope("email") {
        body["email"] = json!(user.email);
        body["email_verified"] = json!(user.email_verified);
    }
    if claims.has_scope("profile") {
        body["name"] = json!(user.name);
    }
    if let Some(code) = claims.customer_account_code {
        body["customer_account_code"] = json!(code);
    }
    Ok(body)
}
