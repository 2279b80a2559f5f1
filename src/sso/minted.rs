//! Minted SSO tokens for linked products (ABC GenerateSSOToken, SPEC §6.3): an RS256 JWT for the target product,
//! valid 1 h, whose id is stored hashed and can be redeemed once by the target product.
use serde::{Deserialize, Serialize};

use super::{SsoError, KIND_MINTED};
use crate::audit::{self, Actor};
use crate::crypto::jwt::{self, Expect};
use crate::crypto::secrets::hash_token;
use crate::model::{LicenseUser, OAuthClient};
use crate::oauth::tokens::{Signer, Verifier};
use crate::store::audit::AuditEvent;
use crate::store::one_time::NewOneTime;
use crate::store::Store;

pub const MINTED_TTL: i64 = 3600;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(non_snake_case)]
pub struct MintedClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub CIINo: String,
    pub LOBId: String,
    pub Functionality: String,
    /// ISO-8601 time of issue, as in the document's example token.
    pub Date: String,
    pub email: String,
    pub customer_account_code: String,
}

pub struct Minted {
    pub token: String,
    pub reference: String,
}

/// Who mints and for whom.
pub struct MintFor<'a> {
    pub from: &'a OAuthClient,
    pub target: &'a OAuthClient,
    pub user: &'a LicenseUser,
    pub account_code: &'a str,
    pub cii_no: &'a str,
    pub functionality: &'a str,
}

pub async fn mint(store: &Store, signer: &Signer<'_>, m: &MintFor<'_>, now: i64) -> Result<Minted, SsoError> {
    if m.user.disabled {
        return Err(SsoError::UserNotAllowed);
    }
    let jti = crate::crypto::secrets::random_uuid().simple().to_string();
    let claims = MintedClaims {
        iss: signer.issuer.to_string(),
        aud: m.target.client_id.to_string(),
        sub: m.user.id.clone(),
        jti: jti.clone(),
        iat: now,
        exp: now + MINTED_TTL,
        CIINo: m.cii_no.to_string(),
        LOBId: m.target.short_code.clone(),
        Functionality: m.functionality.to_string(),
        Date: crate::license::response::iso_millis(now).unwrap_or_default(),
        email: m.user.email.clone(),
        customer_account_code: m.account_code.to_string(),
    };
    let token = jwt::sign(signer.keys.signer(), "JWT", &claims).map_err(|e| SsoError::Invalid(e.to_string()))?;
    let hash = hash_token(&jti);
    store
        .insert_one_time(
            &NewOneTime {
                token_hash: &hash,
                kind: KIND_MINTED,
                user_id: &m.user.id,
                payload: None,
                expires_at: now + MINTED_TTL,
            },
            now,
        )
        .await?;
    let who = Actor::client(m.from.client_id.as_str());
    let outcome = format!("success for {}", m.target.client_id);
    audit::record(
        store,
        AuditEvent {
            actor: who.as_str(),
            action: "sso.minted.issue",
            subject: &m.user.id,
            client_ip: None,
            outcome: &outcome,
        },
        now,
    )
    .await;
    // A numeric reference like the document's `TokenRefNo`: issue time and a random suffix.
    let reference = format!("{now}{:06}", u32::from_str_radix(&jti[..5], 16).unwrap_or(0) % 1_000_000);
    Ok(Minted { token, reference })
}

/// The target product redeems a minted token once (signature, audience = itself, expiry, single use).
pub async fn redeem(
    store: &Store,
    verifier: &Verifier<'_>,
    caller: &OAuthClient,
    token: &str,
    now: i64,
) -> Result<MintedClaims, SsoError> {
    let expect = Expect { issuer: verifier.issuer, audience: Some(caller.client_id.as_str()), typ: None, now };
    let claims: MintedClaims = jwt::verify(verifier.keys, token, &expect)
        .map_err(|_| SsoError::Invalid("the token is invalid, expired or not for this product".into()))?;
    let who = Actor::client(caller.client_id.as_str());
    if store.claim_one_time(&hash_token(&claims.jti), KIND_MINTED, now).await?.is_none() {
        audit::record(
            store,
            AuditEvent {
                actor: who.as_str(),
                action: "sso.minted.redeem",
                subject: &claims.sub,
                client_ip: None,
                outcome: "failure: used or expired",
            },
            now,
        )
        .await;
        return Err(SsoError::Invalid("the token was already used".into()));
    }
    audit::record(
        store,
        AuditEvent {
            actor: who.as_str(),
            action: "sso.minted.redeem",
            subject: &claims.sub,
            client_ip: None,
            outcome: "success",
        },
        now,
    )
    .await;
    Ok(claims)
}
