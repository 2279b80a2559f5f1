//! Backend-initiated SSO (SPEC §6): trusted backends mint short-lived, single-use credentials for their users; the
//! user's browser (or a linked product) redeems them. Compatibility shapes live in `http`; the logic is here.
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::audit::{self, Actor};
use crate::crypto::secrets::{hash_token, random_token, secrets_equal, Secret};
use crate::license::sso_url::{self, SsoUrlError, SsoUrlRequest};
use crate::model::{CustomerAccount, LicenseUser};
use crate::oauth::session::{self, ActiveSession, Authentication};
use crate::store::audit::AuditEvent;
use crate::store::one_time::{Claim, NewOneTime};
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

/// What redeeming a credential gives the browser: a new hosted session (the cookie value to set) and where to go.
pub struct Redeemed {
    pub cookie: String,
    pub session: ActiveSession,
    pub to: String,
}

/// The request around a redemption: `replaces` is the browser's current session cookie (ended by the new session).
pub struct RedeemContext<'a> {
    pub issuer: &'a str,
    pub client_ip: Option<&'a str>,
    pub replaces: Option<&'a str>,
    pub session_ttl: i64,
}

/// Redeems a credential once and starts the session it grants. The credential is looked at first (user, account,
/// landing), then claimed together with the new session in one transaction, so nothing that fails on the way can
/// burn the link without signing the user in. None when invalid, expired, used or its user may not sign in.
pub async fn redeem(
    store: &Store,
    kind: &str,
    token: &str,
    ctx: &RedeemContext<'_>,
    now: i64,
) -> Result<Option<Redeemed>, SsoError> {
    let action = format!("sso.{kind}.redeem");
    let refused = |outcome: &'static str| {
        let action = action.clone();
        async move {
            let who = Actor::anonymous();
            let event = AuditEvent {
                actor: who.as_str(),
                action: &action,
                subject: "unknown",
                client_ip: ctx.client_ip,
                outcome,
            };
            audit::record(store, event, now).await;
        }
    };
    let token_hash = hash_token(token);
    let Some(rec) = store.find_one_time(&token_hash, kind, now).await? else {
        refused("failure: invalid, expired or used").await;
        return Ok(None);
    };
    let Some(user) = store.find_user(&rec.license_user_id).await?.filter(|u| !u.disabled) else {
        refused("failure: user disabled or gone").await;
        return Ok(None);
    };
    let Some(account) = store.find_customer_account(&user.customer_account_id).await? else {
        refused("failure: user disabled or gone").await;
        return Ok(None);
    };
    let landing: Landing = rec.payload.as_deref().and_then(|p| serde_json::from_str(p).ok()).unwrap_or_default();
    let to = landing_url(store, ctx.issuer, &account, &landing).await?;
    let user_id = user.id.clone();
    // A trusted backend vouched for the user: keyway cannot say how they authenticated (no `amr`).
    let (cookie, record, session) = session::prepare(user, account, Authentication::default(), ctx.session_ttl, now);
    let old = ctx.replaces.map(hash_token);
    let claim = Claim { token_hash: &token_hash, kind, now };
    if !store.claim_one_time_into_session(&claim, &record, old.as_deref()).await? {
        refused("failure: invalid, expired or used").await; // another redemption won the race
        return Ok(None);
    }
    let who = Actor::user(&user_id);
    let event = AuditEvent {
        actor: who.as_str(),
        action: &action,
        subject: &user_id,
        client_ip: ctx.client_ip,
        outcome: "success",
    };
    audit::record(store, event, now).await;
    Ok(Some(Redeemed { cookie, session, to }))
}

/// Where a redeemed credential lands: the portal, or the product's login flow as its sso_url would start it (the new
/// session answers it at once). A product that is gone or no longer allows it: the portal.
async fn landing_url(
    store: &Store,
    issuer: &str,
    account: &CustomerAccount,
    landing: &Landing,
) -> Result<String, StoreError> {
    let Some(code) = landing.product.as_deref() else { return Ok("/account".to_string()) };
    let request = SsoUrlRequest { customer_account_code: &account.code, ..Default::default() };
    match sso_url::for_product(store, issuer, &account.organization_id, code, &request).await {
        Ok(url) => Ok(url),
        Err(SsoUrlError::Store(e)) => Err(e),
        Err(_) => Ok("/account".to_string()),
    }
}
