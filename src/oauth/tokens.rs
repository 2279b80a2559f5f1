//! Signing and verifying keyway's JWTs (SPEC §4.2) with the current key ring.
use crate::crypto::jwt::{self, Expect, JwtError};
use crate::crypto::keys::{KeyRing, SigningAlg};
use crate::store::{Store, StoreError};

use super::claims::{AccessClaims, IdClaims};

/// What signs keyway's tokens: the issuer, the key ring, and the configured access-token algorithm.
#[derive(Clone, Copy)]
pub struct Signer<'a> {
    pub issuer: &'a str,
    pub keys: &'a KeyRing,
    pub access_alg: SigningAlg,
}

impl Signer<'_> {
    pub fn access_token(&self, claims: &AccessClaims) -> Result<String, JwtError> {
        // RFC 9068 §2.1: typ "at+jwt" keeps access tokens from being accepted as id_tokens and vice versa.
        jwt::sign(self.keys.signer_for(self.access_alg)?, "at+jwt", claims)
    }

    pub fn id_token(&self, claims: &IdClaims) -> Result<String, JwtError> {
        jwt::sign(self.keys.signer(), "JWT", claims)
    }

    pub fn verifier(&self) -> Verifier<'_> {
        Verifier { issuer: self.issuer, keys: self.keys }
    }
}

/// What verifies keyway's tokens.
#[derive(Clone, Copy)]
pub struct Verifier<'a> {
    pub issuer: &'a str,
    pub keys: &'a KeyRing,
}

/// Why an access token is not accepted. A storage failure is not the token's fault: callers answer it with 503.
#[derive(Debug, thiserror::Error)]
pub enum AccessTokenError {
    #[error(transparent)]
    Invalid(#[from] JwtError),
    #[error("token revoked")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AccessTokenError {
    pub fn is_expired(&self) -> bool {
        matches!(self, AccessTokenError::Invalid(e) if e.is_expired())
    }
}

impl Verifier<'_> {
    /// One of our access tokens, not revoked alone (RFC 7009) or with its grant.
    pub async fn access_token(&self, store: &Store, token: &str, now: i64) -> Result<AccessClaims, AccessTokenError> {
        let expect = Expect { issuer: self.issuer, audience: None, typ: Some("at+jwt"), now };
        let claims: AccessClaims = jwt::verify(self.keys, token, &expect)?;
        if store.is_access_token_revoked(&claims.jti, claims.gid.as_deref()).await? {
            return Err(AccessTokenError::Revoked);
        }
        Ok(claims)
    }

    /// An id_token we issued for `client_id` (signature, iss, aud, exp).
    pub fn id_token(&self, token: &str, client_id: &str, now: i64) -> Result<IdClaims, JwtError> {
        self.as_id_token(token, &Expect { issuer: self.issuer, audience: Some(client_id), typ: None, now })
    }

    /// An `id_token_hint` (authorization and logout requests): ours by signature and issuer, for any audience, and
    /// possibly expired (OIDC Core §3.1.2.1, RP-Initiated Logout §2).
    pub fn id_token_hint(&self, token: &str) -> Result<IdClaims, JwtError> {
        self.as_id_token(token, &Expect { issuer: self.issuer, audience: None, typ: None, now: 0 })
    }

    fn as_id_token(&self, token: &str, expect: &Expect<'_>) -> Result<IdClaims, JwtError> {
        // An access token (typ at+jwt, RFC 9068 §2.1) is never an id_token, even where its claims would parse as one.
        jwt::verify_rejecting_typ(self.keys, token, expect, "at+jwt")
    }
}
