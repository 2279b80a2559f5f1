//! Passkeys (WebAuthn Level 3 through webauthn-rs): registration in the portal, and assertion either as the second
//! factor of a known user or as a passwordless sign-in with a discoverable credential (the authenticator names the
//! user). User verification is required (a PIN or biometric on the authenticator), so a passkey sign-in is
//! multi-factor by itself (possession + knowledge/inherence). The RP id is the issuer's host.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use crate::model::LicenseUser;
use crate::store::mfa::PasskeyRecord;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("the issuer is not a valid WebAuthn relying party: {0}")]
    Config(String),
    /// The browser's answer failed verification (signature, challenge, origin, user verification…), or names a
    /// credential that is unknown or not the expected user's.
    #[error("the passkey was refused: {0}")]
    Refused(String),
    #[error("this passkey is registered already")]
    Duplicate,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The relying party of `issuer`: RP id = its host (WebAuthn §5.1.4.1 requires it to be a registrable suffix of the
/// origin's host; the host itself always is), origin = the issuer's origin.
pub fn relying_party(issuer: &str) -> Result<Webauthn, PasskeyError> {
    let url = Url::parse(issuer).map_err(|e| PasskeyError::Config(e.to_string()))?;
    let host = url.host_str().ok_or_else(|| PasskeyError::Config("the issuer has no host".into()))?.to_string();
    let origin = Url::parse(&url.origin().ascii_serialization()).map_err(|e| PasskeyError::Config(e.to_string()))?;
    WebauthnBuilder::new(&host, &origin)
        .and_then(|b| b.rp_name("keyway").build())
        .map_err(|e| PasskeyError::Config(e.to_string()))
}

/// The WebAuthn user handle of a user (WebAuthn §14.6.1: no personal data): their id when it is a UUID, else
/// derived from it.
pub fn user_handle(user_id: &str) -> Uuid {
    Uuid::parse_str(user_id).unwrap_or_else(|_| {
        let d = Sha256::digest(user_id.as_bytes());
        let mut b = [0u8; 16];
        b.copy_from_slice(&d[..16]);
        Uuid::from_bytes(b)
    })
}

fn cred_id_text(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, PasskeyError> {
    serde_json::to_string(v).map_err(|e| PasskeyError::Config(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, PasskeyError> {
    serde_json::from_str(s).map_err(|e| PasskeyError::Refused(format!("malformed: {e}")))
}

/// Options for `navigator.credentials.create` (JSON) and the state to keep server-side. The credential is asked
/// to be discoverable (resident), so it can sign in without a user name, and the user's passkeys are excluded.
pub async fn start_registration(
    wa: &Webauthn,
    store: &Store,
    user: &LicenseUser,
) -> Result<(String, String), PasskeyError> {
    let existing = store.passkeys_of(&user.id).await?;
    let exclude = existing
        .iter()
        .filter_map(|p| serde_json::from_str::<Passkey>(&p.passkey).ok())
        .map(|p| p.cred_id().clone())
        .collect::<Vec<_>>();
    let (mut ccr, reg) = wa
        .start_passkey_registration(user_handle(&user.id), &user.email, &user.name, Some(exclude))
        .map_err(|e| PasskeyError::Config(e.to_string()))?;
    if let Some(sel) = ccr.public_key.authenticator_selection.as_mut() {
        // WebAuthn §5.4.4: residentKey=required makes the credential discoverable (passwordless sign-in).
        sel.resident_key = Some(ResidentKeyRequirement::Required);
        sel.require_resident_key = true;
    }
    Ok((json(&ccr)?, json(&reg)?))
}

/// Verifies the browser's attestation and stores the passkey under `name`; its RFC 8176 method (`swk` for a passkey
/// that may be synced, backup-eligible; `hwk` for one bound to its device).
pub async fn finish_registration(
    wa: &Webauthn,
    store: &Store,
    user: &LicenseUser,
    name: &str,
    response: &str,
    state: &str,
    now: i64,
) -> Result<&'static str, PasskeyError> {
    let reg: RegisterPublicKeyCredential = parse(response)?;
    let state: PasskeyRegistration = parse(state)?;
    let pk = wa.finish_passkey_registration(&reg, &state).map_err(|e| PasskeyError::Refused(e.to_string()))?;
    let name: String = name.trim().chars().take(64).collect();
    let rec = PasskeyRecord {
        credential_id: cred_id_text(pk.cred_id()),
        license_user_id: user.id.clone(),
        name: if name.is_empty() { "Passkey".into() } else { name },
        passkey: json(&pk)?,
        created_at: now,
        last_used_at: None,
    };
    // WebAuthn §7.1 step 22: a credential id registered to anyone already is refused.
    // The BE flag (WebAuthn §6.1) as webauthn-rs keeps it in the credential it serialises (its `Credential` type is
    // behind a "danger" feature); unknown reads as the weaker claim.
    let backup_eligible = serde_json::to_value(&pk).ok().and_then(|v| v["cred"]["backup_eligible"].as_bool());
    let method = if backup_eligible.unwrap_or(true) { "swk" } else { "hwk" };
    match store.insert_passkey(&rec).await {
        Ok(()) => Ok(method),
        Err(StoreError::Conflict(_)) => Err(PasskeyError::Duplicate),
        Err(e) => Err(e.into()),
    }
}

/// A passkey assertion that passed: the user and the RFC 8176 method (`hwk` for a device-bound key, `swk` for a
/// synced passkey that may live in software).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asserted {
    pub user_id: String,
    pub method: &'static str,
}

/// Options for a passwordless sign-in (`allowCredentials` empty: the authenticator offers its discoverable
/// credentials) and the state to keep.
pub fn start_discoverable(wa: &Webauthn) -> Result<(String, String), PasskeyError> {
    let (mut rcr, state) = wa.start_discoverable_authentication().map_err(|e| PasskeyError::Config(e.to_string()))?;
    // A modal sign-in on a button press, not conditional mediation (autofill).
    rcr.mediation = None;
    Ok((json(&rcr)?, json(&state)?))
}

/// Options for the second factor of a known user (their credentials allowed).
pub async fn start_second_factor(
    wa: &Webauthn,
    store: &Store,
    user_id: &str,
) -> Result<Option<(String, String)>, PasskeyError> {
    let keys: Vec<Passkey> =
        store.passkeys_of(user_id).await?.iter().filter_map(|p| serde_json::from_str(&p.passkey).ok()).collect();
    if keys.is_empty() {
        return Ok(None);
    }
    let (rcr, state) = wa.start_passkey_authentication(&keys).map_err(|e| PasskeyError::Config(e.to_string()))?;
    Ok(Some((json(&rcr)?, json(&state)?)))
}

/// Verifies a passwordless assertion: the credential must be registered, and to the user the authenticator names.
pub async fn finish_discoverable(
    wa: &Webauthn,
    store: &Store,
    response: &str,
    state: &str,
    now: i64,
) -> Result<Asserted, PasskeyError> {
    let cred: PublicKeyCredential = parse(response)?;
    let state: DiscoverableAuthentication = parse(state)?;
    let (handle, cred_id) =
        wa.identify_discoverable_authentication(&cred).map_err(|e| PasskeyError::Refused(e.to_string()))?;
    let rec = store
        .find_passkey(&cred_id_text(cred_id))
        .await?
        .ok_or_else(|| PasskeyError::Refused("unknown credential".into()))?;
    if user_handle(&rec.license_user_id) != handle {
        return Err(PasskeyError::Refused("the credential belongs to another user".into()));
    }
    let mut pk: Passkey = parse(&rec.passkey)?;
    let res = wa
        .finish_discoverable_authentication(&cred, state, &[DiscoverableKey::from(&pk)])
        .map_err(|e| PasskeyError::Refused(e.to_string()))?;
    pk.update_credential(&res);
    store.update_passkey(&rec.credential_id, &json(&pk)?, now).await?;
    Ok(Asserted { user_id: rec.license_user_id, method: if res.backup_eligible() { "swk" } else { "hwk" } })
}

/// Verifies a second-factor assertion for `user_id`: a credential of anyone else is refused.
pub async fn finish_second_factor(
    wa: &Webauthn,
    store: &Store,
    user_id: &str,
    response: &str,
    state: &str,
    now: i64,
) -> Result<Asserted, PasskeyError> {
    let cred: PublicKeyCredential = parse(response)?;
    let state: PasskeyAuthentication = parse(state)?;
    let rec = store
        .find_passkey(&cred_id_text(cred.get_credential_id()))
        .await?
        .filter(|r| r.license_user_id == user_id)
        .ok_or_else(|| PasskeyError::Refused("not a credential of this user".into()))?;
    let mut pk: Passkey = parse(&rec.passkey)?;
    let res = wa.finish_passkey_authentication(&cred, &state).map_err(|e| PasskeyError::Refused(e.to_string()))?;
    pk.update_credential(&res);
    store.update_passkey(&rec.credential_id, &json(&pk)?, now).await?;
    Ok(Asserted { user_id: rec.license_user_id, method: if res.backup_eligible() { "swk" } else { "hwk" } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relying_party_from_issuer_and_handles() {
        assert!(relying_party("http://localhost:8080").is_ok());
        assert!(relying_party("https://login.example.com/base").is_ok());
        let id = "8c0a5c55-3d5e-4a0e-9a34-0c8d0e7e5b11";
        assert_eq!(user_handle(id).to_string(), id);
        assert_eq!(user_handle("not-a-uuid"), user_handle("not-a-uuid"));
        assert_ne!(user_handle("a"), user_handle("b"));
    }
}
