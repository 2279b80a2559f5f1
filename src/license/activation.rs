//! SSO license activation (SPEC §3.4): identify the license user from an authorization code or id_token, pick
//! their license for the product, and activate it on the device without ever exceeding the seat limit.
use crate::oauth::grants;
use crate::oauth::tokens;
use crate::state::AppState;
use crate::store::activations::ActivateOutcome;
use crate::store::entity::{activation, customer_account, license, license_user, product};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error("invalid code")]
    InvalidCode,
    #[error("invalid id_token")]
    InvalidIdToken,
    #[error("license not found")]
    LicenseNotFound,
    #[error("license not enabled")]
    LicenseNotEnabled,
    #[error("license expired")]
    LicenseExpired,
    #[error("license not active")]
    LicenseNotActive,
    #[error("seats full")]
    SeatsFull,
    #[error("user disabled")]
    UserDisabled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How the caller proves who the license user is.
pub enum SsoProof<'a> {
    Code { code: &'a str, redirect_uri: Option<&'a str>, code_verifier: Option<&'a str> },
    IdToken(&'a str),
}

/// Resolves the proof to a user of `account`. A code is redeemed as at the token endpoint (single use, client,
/// redirect_uri, PKCE), except that an absent redirect_uri means the one it was issued for; an id_token is verified
/// and may be used once (its `jti` is recorded).
pub async fn identify(state: &AppState, product: &product::Model, account: &customer_account::Model, proof: SsoProof<'_>) -> Result<license_user::Model, ActivationError> {
    let (user_id, invalid) = match proof {
        SsoProof::Code { code, redirect_uri, code_verifier } => {
            // An absent redirect_uri stands for the code's own (HMAC-authenticated request: docs/SDK-FIELDS.md).
            let r = grants::redeem_code(state, product, code, redirect_uri, grants::RedirectUriRule::IssuedIfAbsent, code_verifier).await.map_err(|_| ActivationError::InvalidCode)?;
            if r.account.id != account.id {
                return Err(ActivationError::InvalidCode);
            }
            (r.user.id, ActivationError::InvalidCode)
        }
        SsoProof::IdToken(token) => {
            let claims = tokens::verify_id_token(state, token, &product.client_id).map_err(|_| ActivationError::InvalidIdToken)?;
            if claims.customer_account_code.as_deref() != Some(account.code.as_str()) {
                return Err(ActivationError::InvalidIdToken);
            }
            if !state.store.claim_id_token(&claims.jti, claims.exp).await? {
                return Err(ActivationError::InvalidIdToken);
            }
            (claims.sub, ActivationError::InvalidIdToken)
        }
    };
    let user = state.store.find_user(&user_id).await?.ok_or(invalid)?;
    if user.customer_account_id != account.id {
        return Err(ActivationError::InvalidCode);
    }
    if user.disabled {
        return Err(ActivationError::UserDisabled);
    }
    Ok(user)
}

/// Why a license cannot be used now, if it cannot.
pub fn usability(l: &license::Model, now: i64) -> Result<(), ActivationError> {
    if !l.enabled {
        return Err(ActivationError::LicenseNotEnabled);
    }
    if l.expires_at.is_some_and(|e| e <= now) || l.starts_at.is_some_and(|s| s > now) {
        return Err(ActivationError::LicenseExpired);
    }
    Ok(())
}

/// Activates the user's license for the product on `hardware_id`. Among several licenses, one already active on
/// the device wins (idempotent), then the first usable one with a free seat.
pub async fn activate_for_user(state: &AppState, product: &product::Model, user: &license_user::Model, hardware_id: &str, device_info: Option<String>) -> Result<(license::Model, activation::Model), ActivationError> {
    let now = state.now();
    let licenses = state.store.licenses_for_user(&product.id, user).await?;
    if licenses.is_empty() {
        return Err(ActivationError::LicenseNotFound);
    }
    let mut first_problem = None;
    let mut candidates = Vec::new();
    for l in licenses {
        match usability(&l, now) {
            Ok(()) => candidates.push(l),
            Err(e) => {
                first_problem.get_or_insert(e);
            }
        }
    }
    if candidates.is_empty() {
        return Err(first_problem.unwrap_or(ActivationError::LicenseNotFound));
    }
    for l in &candidates {
        if let Some(a) = state.store.find_activation(l.id, hardware_id).await?.filter(|a| a.active) {
            return Ok((l.clone(), a));
        }
    }
    for l in candidates {
        match activate_license(state, &l, Some(&user.id), hardware_id, device_info.clone()).await {
            Ok(done) => return Ok(done),
            Err(ActivationError::SeatsFull) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ActivationError::SeatsFull)
}

/// Activates one license on a device (key-based activation and the SSO path share it).
pub async fn activate_license(state: &AppState, l: &license::Model, user_id: Option<&str>, hardware_id: &str, device_info: Option<String>) -> Result<(license::Model, activation::Model), ActivationError> {
    let now = state.now();
    usability(l, now)?;
    let a = match state.store.activate(l.id, user_id, hardware_id, device_info, now).await? {
        ActivateOutcome::Activated(a) | ActivateOutcome::AlreadyActive(a) => a,
        ActivateOutcome::SeatsFull => return Err(ActivationError::SeatsFull),
    };
    // Re-read for the current seat count.
    let fresh = state.store.find_license(l.id).await?.unwrap_or_else(|| l.clone());
    Ok((fresh, a))
}
