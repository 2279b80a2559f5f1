//! Token minting and verification (SPEC §4.2): RS256 id_tokens (OIDC Core §2) and RFC 9068 JWT access tokens.
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::crypto::jwt::{self, Expect, JwtError};
use crate::crypto::keys::{KeyError, KeyRing};
use crate::state::AppState;

/// RFC 9068 §2.2 claims, plus keyway's: `gid` (the grant id, so that revoking a grant kills its access tokens),
/// `sid` and `customer_account_code`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_account_code: Option<String>,
}

impl AccessClaims {
    pub fn has_scope(&self, s: &str) -> bool {
        self.scope.split(' ').any(|x| x == s)
    }

    /// Client-credentials tokens have the client as subject and no user.
    pub fn is_client_token(&self) -> bool {
        self.sub == self.client_id && self.auth_time.is_none()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_account_code: Option<String>,
}

/// The signed-in person a token is about.
#[derive(Debug, Clone)]
pub struct Subject {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub email_verified: bool,
    pub customer_account_code: String,
}

pub fn new_jti() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub fn sign_access(keys: &KeyRing, claims: &AccessClaims) -> Result<String, JwtError> {
    // RFC 9068 §2.1: typ "at+jwt" keeps access tokens from being accepted as id_tokens and vice versa.
    jwt::sign(keys.signer(), "at+jwt", claims)
}

pub fn sign_id(keys: &KeyRing, claims: &IdClaims) -> Result<String, JwtError> {
    jwt::sign(keys.signer(), "JWT", claims)
}

/// Signs an access token and, when asked for, an id_token at the same time: the id_token on the blocking pool, the
/// access token on this thread. Two RSA-2048 signatures are most of a redemption's latency; side by side they take
/// the time of one. Only for token-endpoint responses, whose id_token may omit `at_hash` (OIDC Core §3.1.3.6), which
/// is what makes the two independent.
pub async fn sign_access_and_id(keys: Arc<KeyRing>, access: &AccessClaims, id: Option<IdClaims>) -> Result<(String, Option<String>), JwtError> {
    let Some(id) = id else { return Ok((sign_access(&keys, access)?, None)) };
    let ring = keys.clone();
    let id_job = tokio::task::spawn_blocking(move || sign_id(&ring, &id));
    let access_token = sign_access(&keys, access);
    let id_token = id_job.await.map_err(|_| JwtError::Key(KeyError::Sign))??;
    Ok((access_token?, Some(id_token)))
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Jwt(#[from] JwtError),
    #[error("token revoked")]
    Revoked,
    #[error("storage: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl TokenError {
    pub fn is_expired(&self) -> bool {
        matches!(self, TokenError::Jwt(e) if e.is_expired())
    }
}

/// Verifies one of our access tokens and checks it has not been revoked, alone (RFC 7009) or with its grant.
pub async fn verify_access_token(state: &AppState, token: &str) -> Result<AccessClaims, TokenError> {
    let keys = state.keys();
    let expect = Expect { issuer: &state.config.issuer, audience: None, typ: Some("at+jwt"), now: state.now() };
    let claims: AccessClaims = jwt::verify(&keys, token, &expect)?;
    if state.store.is_jti_revoked(&claims.jti).await? {
        return Err(TokenError::Revoked);
    }
    if let Some(gid) = &claims.gid {
        if state.store.is_grant_revoked(gid).await? {
            return Err(TokenError::Revoked);
        }
    }
    Ok(claims)
}

/// Verifies an id_token we issued for `client_id` (signature, iss, aud, exp).
pub fn verify_id_token(state: &AppState, token: &str, client_id: &str) -> Result<IdClaims, JwtError> {
    let keys = state.keys();
    let expect = Expect { issuer: &state.config.issuer, audience: Some(client_id), typ: None, now: state.now() };
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    // An access token (typ at+jwt) is never an id_token.
    if header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("at+jwt")) {
        return Err(JwtError::Malformed);
    }
    jwt::verify(&keys, token, &expect)
}
