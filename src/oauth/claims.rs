//! Token claims in one place (SPEC §4.2): RFC 9068 access tokens and OIDC Core §2 id_tokens, built from the
//! signed-in subject and the client.
use serde::{Deserialize, Serialize};

use super::scope::Scope;
use crate::crypto::jwt::half_hash;
use crate::model::{CustomerAccount, LicenseUser, OAuthClient};

/// RFC 9068 §2.2 claims, plus keyway's: `gid` (the grant id, so that revoking a grant kills its access tokens),
/// `sid` and `customer_account_code`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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
    /// OIDC Core §2: the authentication methods used (RFC 8176 values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// The upstream identity provider that authenticated the user (federation, SPEC §4.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// OIDC Core §2 authentication context class: `urn:keyway:mfa` after a second factor, else `urn:keyway:sfa`;
    /// absent when keyway does not know how the user authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

/// The signed-in person a token is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub email_verified: bool,
    pub customer_account_code: String,
}

impl Subject {
    pub fn of(user: &LicenseUser, account: &CustomerAccount) -> Subject {
        Subject {
            user_id: user.id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            email_verified: user.email_verified,
            customer_account_code: account.code.clone(),
        }
    }
}

/// How a user authenticated, for the claims: when, in which session, under which grant, by which methods.
#[derive(Debug, Clone, Copy)]
pub struct AuthContext<'a> {
    pub auth_time: i64,
    pub sid: Option<&'a str>,
    /// The code or refresh family the tokens belong to (revocation); None for implicit responses.
    pub grant_id: Option<&'a str>,
    /// RFC 8176 `amr` values (space-separated as stored); None or empty: not said.
    pub amr: Option<&'a str>,
    /// The upstream IdP of a federated sign-in.
    pub idp: Option<&'a str>,
}

pub fn new_jti() -> String {
    crate::crypto::secrets::random_uuid().simple().to_string()
}

/// A user's access token for `client` (its audience), valid for the client's access token lifetime.
pub fn user_access(
    issuer: &str,
    client: &OAuthClient,
    sub: &Subject,
    scope: &Scope,
    ctx: AuthContext<'_>,
    now: i64,
) -> AccessClaims {
    AccessClaims {
        auth_time: Some(ctx.auth_time),
        gid: ctx.grant_id.map(str::to_string),
        sid: ctx.sid.map(str::to_string),
        customer_account_code: Some(sub.customer_account_code.clone()),
        ..client_access(issuer, client, &sub.user_id, scope, now)
    }
}

/// An access token with no user claims: client credentials (the client is the subject), or the base of a user's.
pub fn client_access(issuer: &str, client: &OAuthClient, sub: &str, scope: &Scope, now: i64) -> AccessClaims {
    AccessClaims {
        iss: issuer.to_string(),
        sub: sub.to_string(),
        aud: client.client_id.to_string(),
        exp: now + client.access_token_ttl,
        iat: now,
        jti: new_jti(),
        client_id: client.client_id.to_string(),
        scope: scope.as_string(),
        auth_time: None,
        gid: None,
        sid: None,
        customer_account_code: None,
    }
}

/// What an id_token echoes from its request: the `nonce`, and the access token issued beside it at the
/// authorization endpoint (for `at_hash`, OIDC Core §3.2.2.10).
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo<'a> {
    pub nonce: Option<&'a str>,
    pub access_token: Option<&'a str>,
}

/// id_token claims (OIDC Core §2, §5.4): profile and email claims follow the granted scopes.
pub fn id_token(
    issuer: &str,
    client: &OAuthClient,
    sub: &Subject,
    scope: &Scope,
    ctx: AuthContext<'_>,
    echo: Echo<'_>,
    now: i64,
) -> IdClaims {
    IdClaims {
        iss: issuer.to_string(),
        sub: sub.user_id.clone(),
        aud: client.client_id.to_string(),
        exp: now + client.id_token_ttl,
        iat: now,
        auth_time: ctx.auth_time,
        jti: new_jti(),
        nonce: echo.nonce.map(str::to_string),
        at_hash: echo.access_token.map(half_hash),
        c_hash: None,
        sid: ctx.sid.map(str::to_string),
        azp: Some(client.client_id.to_string()),
        email: scope.has("email").then(|| sub.email.clone()),
        email_verified: scope.has("email").then_some(sub.email_verified),
        name: scope.has("profile").then(|| sub.name.clone()),
        customer_account_code: Some(sub.customer_account_code.clone()),
        amr: ctx
            .amr
            .map(|a| a.split(' ').filter(|m| !m.is_empty()).map(str::to_string).collect::<Vec<_>>())
            .filter(|v| !v.is_empty()),
        idp: ctx.idp.map(str::to_string),
        acr: ctx
            .amr
            .filter(|a| !a.trim().is_empty())
            .map(|a| crate::auth::mfa::acr_for(&a.split(' ').collect::<Vec<_>>()).to_string()),
    }
}
