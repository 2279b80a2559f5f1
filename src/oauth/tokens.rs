//! Token minting and verification (SPEC §4.2): RS256 id_tokens (OIDC Core §2) and RFC 9068 JWT access tokens.
use serde::{Deserialize, Serialize};

use crate::crypto::jwt::{self, Expect, JwtError};
use crate::crypto::keys::{KeyRing, SigningAlg};
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
    /// A fresh access token's claims for `client_id` (also its audience), valid `ttl` seconds from `now`; the
    /// user-related claims (`auth_time`, `gid`, `sid`, `customer_account_code`) are for the caller to fill in.
    pub fn new(issuer: &str, client_id: &str, sub: &str, scope: String, now: i64, ttl: i64) -> AccessClaims {
        AccessClaims {
            iss: issuer.to_string(),
            sub: sub.to_string(),
            aud: client_id.to_string(),
            exp: now + ttl,
            iat: now,
            jti: new_jti(),
            client_id: client_id.to_string(),
            scope,
            auth_time: None,
            gid: None,
            sid: None,
            customer_account_code: None,
        }
    }

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

pub fn sign_access(keys: &KeyRing, alg: SigningAlg, claims: &AccessClaims) -> Result<String, JwtError> {
    // RFC 9068 §2.1: typ "at+jwt" keeps access tokens from being accepted as id_tokens and vice versa.
    jwt::sign(keys.signer_for(alg)?, "at+jwt", claims)
}

pub fn sign_id(keys: &KeyRing, claims: &IdClaims) -> Result<String, JwtError> {
    jwt::sign(keys.signer(), "JWT", claims)
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
    let expect = Expect { issuer: &state.config.issuer, audience: Some(client_id), typ: None, now: state.now() };
    verify_as_id_token(state, token, &expect)
}

/// Verifies an `id_token_hint` (authorization and logout requests): ours by signature and issuer, for any audience,
/// and possibly expired (OIDC Core §3.1.2.1, RP-Initiated Logout §2).
pub fn verify_id_token_hint(state: &AppState, token: &str) -> Result<IdClaims, JwtError> {
    let expect = Expect { issuer: &state.config.issuer, audience: None, typ: None, now: 0 };
    verify_as_id_token(state, token, &expect)
}

fn verify_as_id_token(state: &AppState, token: &str, expect: &Expect<'_>) -> Result<IdClaims, JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    // An access token (typ at+jwt, RFC 9068 §2.1) is never an id_token, even where its claims would parse as one.
    if header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("at+jwt")) {
        return Err(JwtError::Malformed);
    }
    jwt::verify(&state.keys(), token, expect)
}
