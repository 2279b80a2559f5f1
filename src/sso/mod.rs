//! Backend-initiated SSO (SPEC §6): trusted backends mint short-lived, single-use credentials for their users; the
//! user's browser (or a linked product) redeems them. Compatibility shapes live in `http`; the logic is here.
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::audit::{self, Actor};
use crate::crypto::secrets::{hash_token, random_token, secrets_equal, Secret};
use crate::model::{CustomerAccount, LicenseUser};
use crate::store::audit::AuditEvent;
use crate::store::one_time::NewOneTime;
use crate::store::users::NewUser;
use crate::store::{Store, StoreError};

pub mod minted;

/// One-time credentials live 60 s (SPEC §6.1, §6.2).
pub const ONE_TIME_TTL: i64 = 60;
pub const KIND_NONCE: &str = "nonce";
pub const KIND_CODE: &str = "sso_code";
pub const KIND_MINTED: &str = "minted";

/// Who is asking: an organization (management token) or the instance admin (`admin-auth`).
#[derive(Debug, Clone)]
pub enum Manager {
    Organization(String),
    InstanceAdmin,
}

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("not authorised")]
    Unauthorized,
    #[error("customer account not found")]
    UnknownAccount,
    #[error("user not found")]
    UnknownUser,
    #[error("the user is not allowed to sign in")]
    UserNotAllowed,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves `Authorization: Bearer <token>` or a raw token (Tyk sends it raw) to its organization.
pub async fn manager_from_token(store: &Store, authorization: Option<&str>) -> Result<Manager, SsoError> {
    let raw = authorization.map(str::trim).filter(|s| !s.is_empty()).ok_or(SsoError::Unauthorized)?;
    let token = raw.strip_prefix("Bearer ").or_else(|| raw.strip_prefix("bearer ")).unwrap_or(raw).trim();
    let t = store.find_management_token(&hash_token(token)).await?.ok_or(SsoError::Unauthorized)?;
    Ok(Manager::Organization(t.organization_id))
}

/// The instance admin secret (Tyk's `admin-auth`), compared in constant time; unset disables it.
pub fn manager_from_admin_secret(admin_secret: Option<&Secret>, presented: Option<&str>) -> Result<Manager, SsoError> {
    match (admin_secret, presented) {
        (Some(secret), Some(p))
            if !secret.expose().is_empty() && secrets_equal(secret.expose().as_bytes(), p.as_bytes()) =>
        {
            Ok(Manager::InstanceAdmin)
        }
        _ => Err(SsoError::Unauthorized),
    }
}

/// The customer account a manager may act on: its own organization's, or (admin) the one account with that code.
pub async fn account_for(store: &Store, manager: &Manager, code: &str) -> Result<Arc<CustomerAccount>, SsoError> {
    match manager {
        Manager::Organization(org) => {
            store.find_customer_account_by_code(org, code).await?.ok_or(SsoError::UnknownAccount)
        }
        Manager::InstanceAdmin => match store.find_customer_accounts_by_code(code).await?.as_slice() {
            [one] => Ok(Arc::new(one.clone())),
            _ => Err(SsoError::UnknownAccount),
        },
    }
}

/// What the credential will do when redeemed.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Landing {
    /// A product short code: go into that product's login flow instead of the portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

pub struct MintRequest<'a> {
    pub email: &'a str,
    pub display_name: Option<&'a str>,
    /// Create the user when unknown (false: only registered users).
    pub just_in_time: bool,
    pub landing: Landing,
}

/// Finds (or, just in time, creates) the user and mints a credential of `kind`. Returns the plain credential.
pub async fn mint(
    store: &Store,
    account: &CustomerAccount,
    kind: &str,
    req: MintRequest<'_>,
    actor: &str,
    now: i64,
) -> Result<String, SsoError> {
    let email = req.email.trim();
    if email.is_empty() || !email.contains('@') || email.len() > 254 {
        return Err(SsoError::Invalid("EmailAddress must be an e-mail address".into()));
    }
    let user = match store.find_user_by_email(&account.id, email).await? {
        Some(u) => u,
        None if req.just_in_time => {
            let new = NewUser {
                customer_account_id: account.id.clone(),
                email: email.to_string(),
                name: req.display_name.unwrap_or("").to_string(),
                password_hash: None,
                email_verified: true,
                external_customer_no: None,
            };
            match store.create_user(new, now).await {
                Ok(u) => {
                    let by = format!("by {actor}");
                    let who = Actor::manager(actor);
                    audit::record(
                        store,
                        AuditEvent {
                            actor: who.as_str(),
                            action: "user.jit_create",
                            subject: &u.id,
                            client_ip: None,
                            outcome: &by,
                        },
                        now,
                    )
                    .await;
                    u
                }
                // Created concurrently by another request: use that one.
                Err(StoreError::Conflict(_)) => {
                    store.find_user_by_email(&account.id, email).await?.ok_or(SsoError::UnknownUser)?
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => return Err(SsoError::UnknownUser),
    };
    mint_for_user(store, &user, kind, &req.landing, actor, now).await
}

pub async fn mint_for_user(
    store: &Store,
    user: &LicenseUser,
    kind: &str,
    landing: &Landing,
    actor: &str,
    now: i64,
) -> Result<String, SsoError> {
    if user.disabled {
        return Err(SsoError::UserNotAllowed);
    }
    let token = random_token();
    let payload = serde_json::to_string(landing).ok();
    let hash = hash_token(&token);
    store
        .insert_one_time(
            &NewOneTime {
                token_hash: &hash,
                kind,
                user_id: &user.id,
                payload: payload.as_deref(),
                expires_at: now + ONE_TIME_TTL,
            },
            now,
        )
        .await?;
    let (who, action) = (Actor::manager(actor), format!("sso.{kind}.issue"));
    audit::record(
        store,
        AuditEvent { actor: who.as_str(), action: &action, subject: &user.id, client_ip: None, outcome: "success" },
        now,
    )
    .await;
    Ok(token)
}

/// Redeems a credential once: the user, their account and where to land. None when invalid, expired or used.
pub async fn redeem(
    store: &Store,
    kind: &str,
    token: &str,
    client_ip: Option<&str>,
    now: i64,
) -> Result<Option<(LicenseUser, Arc<CustomerAccount>, Landing)>, SsoError> {
    let action = format!("sso.{kind}.redeem");
    let Some(rec) = store.claim_one_time(&hash_token(token), kind, now).await? else {
        let who = Actor::anonymous();
        audit::record(
            store,
            AuditEvent {
                actor: who.as_str(),
                action: &action,
                subject: "unknown",
                client_ip,
                outcome: "failure: invalid, expired or used",
            },
            now,
        )
        .await;
        return Ok(None);
    };
    let Some(user) = store.find_user(&rec.license_user_id).await?.filter(|u| !u.disabled) else { return Ok(None) };
    let Some(account) = store.find_customer_account(&user.customer_account_id).await? else { return Ok(None) };
    let who = Actor::user(&user.id);
    audit::record(
        store,
        AuditEvent { actor: who.as_str(), action: &action, subject: &user.id, client_ip, outcome: "success" },
        now,
    )
    .await;
    let landing = rec.payload.as_deref().and_then(|p| serde_json::from_str(p).ok()).unwrap_or_default();
    Ok(Some((user, account, landing)))
}
