//! Account recovery (issue 17 item 2): "forgot password" and e-mail verification links, and setting a new password.
//!
//! A link carries a 256-bit random token; only its SHA-256 is stored (`one_time_tokens`). A reset link lives 30
//! minutes; issuing a newer one invalidates the older (only the latest mail works); using it claims it with one
//! conditional UPDATE, so it works once. A new password ends every session of the user and clears the address's
//! lockout counters, those of the user's own browsers included (the user proved control of the mailbox).
use crate::audit::{self, Actor};
use crate::auth::device::DeviceToken;
use crate::auth::password::{self, throttle_key, Attempt, Outcome, PasswordCheck, Realm, Surface};
use crate::crypto::password::Passwords;
use crate::crypto::secrets::{hash_token, random_token};
use crate::model::{CustomerAccount, LicenseUser};
use crate::store::audit::AuditEvent;
use crate::store::one_time::{Claim, NewOneTime};
use crate::store::{Store, StoreError};

pub const RESET_KIND: &str = "password_reset";
pub const VERIFY_KIND: &str = "email_verify";
/// Issue 17: reset links live 30 minutes.
pub const RESET_TTL: i64 = 30 * 60;
/// Verification links live a week: new users do not always read their mail at once.
pub const VERIFY_TTL: i64 = 7 * 24 * 3600;
/// NIST SP 800-63B §5.1.1.2: at least 8 characters; an upper bound keeps argon2's input sane.
pub const MIN_PASSWORD: usize = 8;
pub const MAX_PASSWORD: usize = 1024;
const MAX_EMAIL: usize = 254;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Reset,
    Verify,
}

impl LinkKind {
    fn kind(self) -> &'static str {
        match self {
            LinkKind::Reset => RESET_KIND,
            LinkKind::Verify => VERIFY_KIND,
        }
    }
    fn ttl(self) -> i64 {
        match self {
            LinkKind::Reset => RESET_TTL,
            LinkKind::Verify => VERIFY_TTL,
        }
    }
    fn path(self) -> &'static str {
        match self {
            LinkKind::Reset => "/password/reset",
            LinkKind::Verify => "/email/verify",
        }
    }
}

/// Issues a link for the user (superseding the user's older links of the kind) and returns its URL. `client_id`,
/// when known, is kept with the link so the page it opens shows that product's branding.
pub async fn issue_link(
    store: &Store,
    issuer: &str,
    user: &LicenseUser,
    kind: LinkKind,
    client_id: Option<&str>,
    now: i64,
) -> Result<String, StoreError> {
    let token = random_token();
    let hash = hash_token(&token);
    let t = NewOneTime {
        token_hash: &hash,
        kind: kind.kind(),
        user_id: &user.id,
        payload: client_id,
        expires_at: now + kind.ttl(),
    };
    store.replace_one_time(&t, now).await?;
    Ok(crate::encoding::with_query(&format!("{issuer}{}", kind.path()), &[("token", &token)]))
}

/// Whether a link can still be used (shown before the form, so an old link says so at once).
pub async fn link_usable(store: &Store, token: &str, kind: LinkKind, now: i64) -> Result<bool, StoreError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(false);
    }
    store.one_time_usable(&hash_token(token), kind.kind(), now).await
}

/// None when the link is not usable; else the product (client id) it was issued for, empty when none.
pub async fn link_client(store: &Store, token: &str, kind: LinkKind, now: i64) -> Result<Option<String>, StoreError> {
    if !link_usable(store, token, kind, now).await? {
        return Ok(None);
    }
    Ok(Some(store.one_time_payload(&hash_token(token), kind.kind()).await?.unwrap_or_default()))
}

/// Who a "forgot password" request is about: the enabled users with this address in the named customer account
/// (by code, within the organization when one is known) or, without a code, in the organization. Accounts that
/// sign in only through their IdP are left out: keyway holds no password for them.
pub async fn users_for_reset(
    store: &Store,
    email: &str,
    account_code: &str,
    organization_id: Option<&str>,
) -> Result<Vec<LicenseUser>, StoreError> {
    let email = email.trim();
    if email.is_empty() || email.len() > MAX_EMAIL || !email.contains('@') {
        return Ok(Vec::new());
    }
    let mut users = Vec::new();
    if !account_code.trim().is_empty() {
        for a in store.find_customer_accounts_by_code(account_code.trim()).await? {
            if organization_id.is_some_and(|o| o != a.organization_id) || !a.password_login() {
                continue;
            }
            users.extend(store.find_user_by_email(&a.id, email).await?);
        }
    } else if let Some(org) = organization_id {
        users = password::password_users(store, store.find_users_by_email_in_org(org, email).await?).await?;
    }
    users.retain(|u| !u.disabled);
    Ok(users)
}

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("the link is not valid (used, expired or superseded)")]
    InvalidLink,
    #[error("the password is too short or too long")]
    WeakPassword,
    #[error("the two passwords differ")]
    Mismatch,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("too many wrong passwords: locked until {until}")]
    Locked { until: i64 },
    #[error("hashing the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn check_new_password(password: &str, confirm: &str) -> Result<(), ResetError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
        return Err(ResetError::WeakPassword);
    }
    if password != confirm {
        return Err(ResetError::Mismatch);
    }
    Ok(())
}

/// The lockout counters a new password clears: the address's counter in its account (with its browsers' under it,
/// `store::throttle::FORGET`) and in its organization (the License API's username realm).
async fn throttle_keys(store: &Store, user: &LicenseUser) -> Result<Vec<String>, StoreError> {
    let mut keys = vec![throttle_key(&user.customer_account_id, &user.email, None)];
    if let Some(a) = store.find_customer_account(&user.customer_account_id).await? {
        keys.push(throttle_key(&format!("org:{}", a.organization_id), &user.email, None));
    }
    Ok(keys)
}

/// Lifts every lockout of the user (support staff: `keyway user unlock`): the address's counts in its account (its
/// browsers' with it) and organization, and the second factor's; audited as `lockout.cleared` by `actor`.
pub async fn unlock(store: &Store, user: &LicenseUser, actor: &Actor, now: i64) -> Result<(), StoreError> {
    let mut keys = throttle_keys(store, user).await?;
    keys.push(crate::auth::mfa::throttle_key(&user.id));
    store.clear_login_throttles(&keys).await?;
    let event = AuditEvent {
        actor: actor.as_str(),
        action: "lockout.cleared",
        subject: &user.id,
        client_ip: None,
        outcome: "success",
    };
    audit::record(store, event, now).await;
    Ok(())
}

/// Sets a new password through a reset link: the link is claimed (once), the password stored, every session of
/// the user ended and the lockout cleared.
pub async fn reset_password(
    store: &Store,
    passwords: &Passwords,
    token: &str,
    password: &str,
    confirm: &str,
    client_ip: Option<&str>,
    now: i64,
) -> Result<LicenseUser, ResetError> {
    check_new_password(password, confirm)?;
    if token.is_empty() || token.len() > 128 {
        return Err(ResetError::InvalidLink);
    }
    // Hash first: a link is consumed only when the password can be stored.
    let hash = passwords.hash(password).await.map_err(|e| ResetError::Hash(e.to_string()))?;
    // Looked at first, claimed with the new password in one transaction: a failure on the way keeps the link.
    let token_hash = hash_token(token);
    let link = store.find_one_time(&token_hash, RESET_KIND, now).await?.ok_or(ResetError::InvalidLink)?;
    let user = store.find_user(&link.license_user_id).await?.ok_or(ResetError::InvalidLink)?;
    let keys = throttle_keys(store, &user).await?;
    let claim = Claim { token_hash: &token_hash, kind: RESET_KIND, now };
    if !store.set_password(&user.id, &hash, true, None, &keys, Some(&claim)).await? {
        return Err(ResetError::InvalidLink);
    }
    record(store, &user, "password_reset", client_ip, now).await;
    Ok(user)
}

/// A password change asked for on the portal.
pub struct PasswordChange<'a> {
    pub current: &'a str,
    pub password: &'a str,
    pub confirm: &'a str,
    /// The browser's verified device tokens (its own lockout count, as at sign-in).
    pub devices: &'a [DeviceToken],
    /// The id hash of the session that asked: it stays, the user's others end.
    pub keep: &'a str,
    pub client_ip: Option<&'a str>,
}

/// The portal's password change. The new password's rules are checked first (a typo there costs no attempt); the
/// current password goes through the one password check (`auth::password`, issue 13), counted toward the address's
/// lockout and refused while it is locked, so a session cookie in other hands cannot guess it without limit. Then the
/// new password is stored, the lockout counts cleared and the user's other sessions ended, in one transaction.
pub async fn change_password(
    check: &PasswordCheck<'_>,
    account: &CustomerAccount,
    user: &LicenseUser,
    change: &PasswordChange<'_>,
    now: i64,
) -> Result<(), ResetError> {
    check_new_password(change.password, change.confirm)?;
    let attempt = Attempt {
        email: &user.email,
        password: change.current,
        devices: change.devices,
        surface: Surface::PasswordChange,
        client_ip: change.client_ip,
    };
    let verified = match password::authenticate(check, Realm::Account(account), &attempt, now).await? {
        Outcome::Success(s) if s.user.id == user.id => s,
        Outcome::Success(_) | Outcome::Failed => return Err(ResetError::WrongPassword),
        Outcome::Locked { until } => return Err(ResetError::Locked { until }),
    };
    let hash = check.passwords.hash(change.password).await.map_err(|e| ResetError::Hash(e.to_string()))?;
    // The address's keys, and with them the key this check counted on (the address's or one of its devices').
    let keys = throttle_keys(check.store, user).await?;
    debug_assert!(keys.iter().any(|k| verified.owed.throttle_key().starts_with(k.as_str())));
    check.store.set_password(&user.id, &hash, false, Some(change.keep), &keys, None).await?;
    record(check.store, user, "password_change", change.client_ip, now).await;
    Ok(())
}

/// Confirms an address through a verification link (claimed once).
pub async fn verify_email(store: &Store, token: &str, now: i64) -> Result<LicenseUser, ResetError> {
    if token.is_empty() || token.len() > 128 {
        return Err(ResetError::InvalidLink);
    }
    let token_hash = hash_token(token);
    let link = store.find_one_time(&token_hash, VERIFY_KIND, now).await?.ok_or(ResetError::InvalidLink)?;
    let user = store.find_user(&link.license_user_id).await?.ok_or(ResetError::InvalidLink)?;
    if !store.verify_email_claiming(&user.id, &Claim { token_hash: &token_hash, kind: VERIFY_KIND, now }).await? {
        return Err(ResetError::InvalidLink);
    }
    record(store, &user, "email_verified", None, now).await;
    Ok(user)
}

async fn record(store: &Store, user: &LicenseUser, action: &str, client_ip: Option<&str>, now: i64) {
    let actor = Actor::user(&user.id);
    audit::record(
        store,
        AuditEvent { actor: actor.as_str(), action, subject: &user.id, client_ip, outcome: "ok" },
        now,
    )
    .await;
}
