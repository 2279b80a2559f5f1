//! Redeeming an authorization code (RFC 6749 §4.1.3; RFC 7636 §4.6): shared by the token endpoint and SSO license
//! activation. Exactly one caller wins a code; a replay revokes everything issued from it (RFC 6749 §4.1.2).
use std::sync::Arc;

use super::pkce;
use crate::crypto::secrets::{hash_token, s256};
use crate::model::{CustomerAccount, LicenseUser, OAuthClient};
use crate::store::grants::{CodeClaim, CodeClaimed, CodeRecord, RefreshOffer};
use crate::store::{Store, StoreError};

/// What the caller presents with the code.
pub struct CodeRedemption<'a> {
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
    /// The License API may omit redirect_uri (issue 18); the token endpoint may not (RFC 6749 §4.1.3).
    pub redirect_uri_optional: bool,
}

/// A redeemed code with the user it was issued for.
#[derive(Debug)]
pub struct Redeemed {
    pub code: CodeRecord,
    pub user: LicenseUser,
    pub account: Arc<CustomerAccount>,
    /// Whether the refresh token offered with the redemption was stored (the code's scope asked for one).
    pub refreshed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    /// invalid_grant, with the reason (RFC 6749 §5.2).
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const INVALID: &str = "the authorization code is invalid, expired or was issued to another client";
const REPLAYED: &str = "the authorization code was already used";

pub async fn redeem(
    store: &Store,
    client: &OAuthClient,
    r: &CodeRedemption<'_>,
    refresh: Option<&RefreshOffer<'_>>,
    now: i64,
) -> Result<Redeemed, RedeemError> {
    if r.code_verifier.is_some_and(|v| !pkce::valid_value(v)) {
        return Err(RedeemError::Invalid("code_verifier does not match the code_challenge"));
    }
    let code_hash = hash_token(r.code);
    let verifier_s256 = r.code_verifier.map(s256);
    let claim = CodeClaim {
        code_hash: &code_hash,
        product_id: &client.id,
        redirect_uri: r.redirect_uri,
        redirect_uri_optional: r.redirect_uri_optional,
        verifier_s256: verifier_s256.as_deref(),
    };
    match store.claim_code(&claim, refresh, now).await? {
        CodeClaimed::Won { code, user, refreshed } => {
            let user = user.filter(|u| !u.disabled).ok_or(RedeemError::Invalid(INVALID))?;
            let account =
                store.find_customer_account(&user.customer_account_id).await?.ok_or(RedeemError::Invalid(INVALID))?;
            Ok(Redeemed { code: *code, user: *user, account, refreshed })
        }
        CodeClaimed::Lost => Err(why_not(store, client, r, &code_hash, now).await?),
    }
}

/// Why a claim failed, read from the stored code; a replay also revokes the grant.
async fn why_not(
    store: &Store,
    client: &OAuthClient,
    r: &CodeRedemption<'_>,
    code_hash: &str,
    now: i64,
) -> Result<RedeemError, StoreError> {
    let Some(code) = store.find_code(code_hash).await? else { return Ok(RedeemError::Invalid(INVALID)) };
    if code.product_id != client.id || code.expires_at <= now {
        return Ok(RedeemError::Invalid(INVALID));
    }
    // Consumed or revoked before: a replay. Revoke the grant (RFC 6749 §4.1.2) and refuse.
    if code.consumed_at.is_some() || code.revoked_at.is_some() {
        store.revoke_grant(&code.id, now).await?;
        return Ok(RedeemError::Invalid(REPLAYED));
    }
    if let Some(expected) = &code.redirect_uri {
        let absent_allowed = r.redirect_uri.is_none() && r.redirect_uri_optional;
        if r.redirect_uri != Some(expected.as_str()) && !absent_allowed {
            return Ok(RedeemError::Invalid("redirect_uri does not match the authorization request"));
        }
    }
    Ok(RedeemError::Invalid(match (&code.code_challenge, r.code_verifier) {
        (Some(_), None) => "code_verifier is required",
        (Some(_), Some(_)) => "code_verifier does not match the code_challenge",
        // RFC 9700 §4.8.2: a verifier for a code issued without challenge signals a PKCE downgrade attempt.
        (None, Some(_)) => "code_verifier given for a code issued without code_challenge",
        // Every condition holds on this read: the claim raced with a change we cannot name; refuse plainly.
        (None, None) => INVALID,
    }))
}
