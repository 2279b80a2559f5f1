//! Minted SSO tokens for linked products (ABC GenerateSSOToken, SPEC §6.3): an RS256 JWT for the target product,
//! valid 1 h, whose id is stored hashed and can be redeemed once by the target product.
use serde::{Deserialize, Serialize};

use super::{SsoError, KIND_MINTED};
use crate::crypto::jwt::{self, Expect};
use crate::crypto::secrets::hash_token;
use crate::state::AppState;
use crate::store::entity::{license_user, product};

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

/// Whether `from` declares `to` (by short code) among the products it may mint for.
pub fn linked(from: &product::Model, to: &product::Model) -> bool {
    from.organization_id == to.organization_id && from.linked_product_list().iter().any(|c| c == &to.short_code)
}

pub struct Minted {
    pub token: String,
    pub reference: String,
}

pub async fn mint(state: &AppState, from: &product::Model, target: &product::Model, user: &license_user::Model, account_code: &str, cii_no: &str, functionality: &str) -> Result<Minted, SsoError> {
    if user.disabled {
        return Err(SsoError::UserNotAllowed);
    }
    let now = state.now();
    let jti = uuid::Uuid::new_v4().simple().to_string();
    let claims = MintedClaims {
        iss: state.config.issuer.clone(),
        aud: target.client_id.clone(),
        sub: user.id.clone(),
        jti: jti.clone(),
        iat: now,
        exp: now + MINTED_TTL,
        CIINo: cii_no.to_string(),
        LOBId: target.short_code.clone(),
        Functionality: functionality.to_string(),
        Date: crate::license::response::iso_millis(now).unwrap_or_default(),
        email: user.email.clone(),
        customer_account_code: account_code.to_string(),
    };
    let token = jwt::sign(state.keys().signer(), "JWT", &claims).map_err(|e| SsoError::Invalid(e.to_string()))?;
    state.store.insert_one_time(&hash_token(&jti), KIND_MINTED, &user.id, None, now + MINTED_TTL, now).await?;
    crate::oauth::login::audit(state, "sso.minted.issue", &user.id, None, &format!("by {} for {}", from.client_id, target.client_id), now).await;
    // A numeric reference like the document's `TokenRefNo`: issue time and a random suffix.
    let reference = format!("{now}{:06}", u32::from_str_radix(&jti[..5], 16).unwrap_or(0) % 1_000_000);
    Ok(Minted { token, reference })
}

/// The target product redeems a minted token once (signature, audience = itself, expiry, single use).
pub async fn redeem(state: &AppState, caller: &product::Model, token: &str) -> Result<MintedClaims, SsoError> {
    let expect = Expect { issuer: &state.config.issuer, audience: Some(&caller.client_id), typ: None, now: state.now() };
    let claims: MintedClaims = jwt::verify(&state.keys(), token, &expect).map_err(|_| SsoError::Invalid("the token is invalid, expired or not for this product".into()))?;
    let now = state.now();
    if state.store.claim_one_time(&hash_token(&claims.jti), KIND_MINTED, now).await?.is_none() {
        crate::oauth::login::audit(state, "sso.minted.redeem", &claims.sub, None, "failure: used or expired", now).await;
        return Err(SsoError::Invalid("the token was already used".into()));
    }
    crate::oauth::login::audit(state, "sso.minted.redeem", &claims.sub, None, &format!("success by {}", caller.client_id), now).await;
    Ok(claims)
}
