//! The one password check of every surface that takes a password (hosted login, portal, License API
//! username/password activation). Unknown e-mail, wrong password and disabled user get the same answer after the same
//! work: an argon2 verification always runs, against a dummy hash if need be. Attempts are counted per (account,
//! normalised e-mail) before the hash is checked, atomically in the database, so no burst of concurrent guesses gets
//! more than the threshold checked; a browser that signed in as the user before has its own, higher limit. A reserved
//! attempt is released only by its result: one the server could not finish (the database went away after the
//! reservation) stays counted until the next success on that key, as a failure would be.
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use super::device::DeviceToken;
use crate::audit::{self, Actor};
use crate::crypto::password::Passwords;
use crate::crypto::secrets::hex;
use crate::model::{CustomerAccount, LicenseUser};
use crate::store::audit::AuditEvent;
use crate::store::mfa::UserFactors;
use crate::store::sign_in::SignInRecord;
use crate::store::throttle::{Limits, Reservation};
use crate::store::{Store, StoreError};

/// The lockout limits: for browsers without a device token of the user (shared), and per known browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    pub untrusted: Limits,
    pub known_device: Limits,
}

/// What the check needs.
#[derive(Clone, Copy)]
pub struct PasswordCheck<'a> {
    pub store: &'a Store,
    pub passwords: &'a Passwords,
    pub lockout: &'a Lockout,
}

/// Where the user is looked up: one customer account (hosted login), every account of an organization (the License
/// API's `username`, which names no account), or the accounts with a code (the portal, optionally within one
/// organization): codes are unique per organization only, so the e-mail address picks among them.
#[derive(Debug, Clone, Copy)]
pub enum Realm<'a> {
    Account(&'a CustomerAccount),
    Organization(&'a str),
    AccountCode { code: &'a str, organization_id: Option<&'a str> },
}

/// Which surface asked, for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    HostedLogin,
    Portal,
    LicenseApi,
    /// The portal's password change, which asks for the current password.
    PasswordChange,
}

impl Surface {
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::HostedLogin => "hosted_login",
            Surface::Portal => "portal",
            Surface::LicenseApi => "license_api",
            Surface::PasswordChange => "password_change",
        }
    }
}

pub struct Attempt<'a> {
    pub email: &'a str,
    pub password: &'a str,
    /// The browser's verified device tokens (none for the License API).
    pub devices: &'a [DeviceToken],
    pub surface: Surface,
    pub client_ip: Option<&'a str>,
}

#[derive(Debug)]
pub enum Outcome {
    /// Signed in (boxed: the other outcomes are a few bytes).
    Success(Box<Success>),
    /// Unknown e-mail, wrong password, or disabled user: one answer for all.
    Failed,
    /// Too many attempts: not checked. Shown alike for known and unknown e-mail addresses.
    Locked { until: i64 },
}

/// A verified password.
#[derive(Debug)]
pub struct Success {
    pub user: LicenseUser,
    /// The browser's token for this user (its old one, or a new one to set).
    pub device: DeviceToken,
    /// Still to be written by the caller ([`Store::record_sign_in`]), with the session the sign-in starts where there
    /// is one.
    pub owed: SignInOwed,
    /// The user's second factors as read with the user (None when that lookup did not read them).
    pub factors: Option<UserFactors>,
}

/// What a verified password owes the store, not yet written: its attempt count starts over and the sign-in is
/// audited. Written by [`Store::record_sign_in`] together with what the sign-in starts (a session, a code), in one
/// commit (issue 16), or alone where it starts nothing here (a second factor comes next; a License API activation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInOwed {
    throttle_key: String,
    actor: String,
    subject: String,
    client_ip: Option<String>,
    outcome: String,
}

impl SignInOwed {
    /// The throttle key whose count the verified password starts over.
    pub fn throttle_key(&self) -> &str {
        &self.throttle_key
    }

    pub fn record(&self) -> SignInRecord<'_> {
        SignInRecord {
            throttle_key: &self.throttle_key,
            event: AuditEvent {
                actor: &self.actor,
                action: "login",
                subject: &self.subject,
                client_ip: self.client_ip.as_deref(),
                outcome: &self.outcome,
            },
        }
    }
}

/// The longest e-mail address (RFC 5321 §4.5.3.1.3 path limit); longer input is never looked up.
const MAX_EMAIL: usize = 254;

pub async fn authenticate(
    check: &PasswordCheck<'_>,
    realm: Realm<'_>,
    a: &Attempt<'_>,
    now: i64,
) -> Result<Outcome, StoreError> {
    let email = a.email.trim();
    let looked_up = email.len() <= MAX_EMAIL;
    // An account that signs in through its identity provider only takes keyway's password on no surface: its users
    // are not looked up (the same work and answer as for an unknown address), or someone the customer removed at
    // their IdP would still get in with a keyway password set before.
    match realm {
        Realm::Account(account) => {
            let looked_up = looked_up && account.password_login();
            // The user's second factors come with the row: the MFA decision after a good password needs them.
            let found =
                if looked_up { check.store.find_user_by_email_with_factors(&account.id, email).await? } else { None };
            let (user, factors) = found.map_or((None, None), |(u, f)| (Some(u), Some(f)));
            check_one(check, &account.id, Found { user, factors }, a, now).await
        }
        Realm::Organization(org) => {
            let users = if looked_up {
                password_users(check.store, check.store.find_users_by_email_in_org(org, email).await?).await?
            } else {
                Vec::new()
            };
            if users.is_empty() && looked_up {
                // Not a user's address, but perhaps a variant of one that only NFKC folds (full-width letters): it
                // names no user, yet must count toward that user's lock and be refused by it, as on the hosted login
                // where the account is known (issue 13). Otherwise it would be counted under `org:` apart.
                if let Some(folded) = Some(normalise(email)).filter(|f| *f != email.to_lowercase()) {
                    if let Some(u) = check.store.find_users_by_email_in_org(org, &folded).await?.first() {
                        return check_one(check, &u.customer_account_id, Found::NONE, a, now).await;
                    }
                }
            }
            check_candidates(check, &format!("org:{org}"), users, a, now).await
        }
        Realm::AccountCode { code, organization_id } => {
            let accounts: Vec<_> = check
                .store
                .find_customer_accounts_by_code(code)
                .await?
                .into_iter()
                .filter(|acc| organization_id.is_none_or(|o| acc.organization_id == o) && acc.password_login())
                .collect();
            let mut users = Vec::new();
            if looked_up {
                for acc in &accounts {
                    users.extend(check.store.find_user_by_email(&acc.id, email).await?);
                }
            }
            // As above: a variant of a user's address counts toward that user's lock (with one account the key below
            // is that account's anyway).
            if let Some(folded) = Some(normalise(email))
                .filter(|f| users.is_empty() && looked_up && accounts.len() > 1 && *f != email.to_lowercase())
            {
                for acc in &accounts {
                    if check.store.find_user_by_email(&acc.id, &folded).await?.is_some() {
                        return check_one(check, &acc.id, Found::NONE, a, now).await;
                    }
                }
            }
            let realm_key = match accounts.as_slice() {
                [one] => one.id.clone(),
                _ => format!("code:{}:{code}", organization_id.unwrap_or("")),
            };
            check_candidates(check, &realm_key, users, a, now).await
        }
    }
}

/// The users the address names (usually one): each is checked with its own lock until one signs in; none at all
/// costs the same work against `unknown_realm`'s counter.
async fn check_candidates(
    check: &PasswordCheck<'_>,
    unknown_realm: &str,
    users: Vec<LicenseUser>,
    a: &Attempt<'_>,
    now: i64,
) -> Result<Outcome, StoreError> {
    if users.is_empty() {
        return check_one(check, unknown_realm, Found::NONE, a, now).await;
    }
    let mut locked = None;
    for user in users {
        let account_id = user.customer_account_id.clone();
        match check_one(check, &account_id, Found { user: Some(user), factors: None }, a, now).await? {
            success @ Outcome::Success(_) => return Ok(success),
            Outcome::Locked { until } => locked = Some(until),
            Outcome::Failed => {}
        }
    }
    Ok(locked.map_or(Outcome::Failed, |until| Outcome::Locked { until }))
}

/// The users whose account takes keyway's password (not one that signs in through its identity provider only).
pub(crate) async fn password_users(store: &Store, users: Vec<LicenseUser>) -> Result<Vec<LicenseUser>, StoreError> {
    let mut kept = Vec::with_capacity(users.len());
    for u in users {
        if store.find_customer_account(&u.customer_account_id).await?.is_some_and(|a| a.password_login()) {
            kept.push(u);
        }
    }
    Ok(kept)
}

/// The user an address named, if any, and their second factors when the lookup read them.
struct Found {
    user: Option<LicenseUser>,
    factors: Option<UserFactors>,
}

impl Found {
    const NONE: Found = Found { user: None, factors: None };
}

async fn check_one(
    check: &PasswordCheck<'_>,
    account_id: &str,
    found: Found,
    a: &Attempt<'_>,
    now: i64,
) -> Result<Outcome, StoreError> {
    let Found { user, factors } = found;
    let device = user.as_ref().and_then(|u| a.devices.iter().find(|d| d.user_id == u.id));
    let (key, limits) = match device {
        Some(d) => (throttle_key(account_id, a.email, Some(&d.device_id)), check.lockout.known_device),
        None => (throttle_key(account_id, a.email, None), check.lockout.untrusted),
    };
    let actor = user.as_ref().map_or_else(Actor::anonymous, |u| Actor::user(&u.id));
    let subject = user.as_ref().map_or_else(|| format!("{account_id}/{}", normalise(a.email)), |u| u.id.clone());
    let event = |outcome: &str| format!("{outcome} via {}", a.surface.as_str());
    let attempt = match check.store.reserve_login_attempt(&key, limits, now).await? {
        Reservation::Granted { attempt } => attempt,
        Reservation::Locked { until } => {
            write(check.store, &actor, "login", &subject, a.client_ip, &event("failure: locked"), now).await;
            return Ok(Outcome::Locked { until });
        }
    };
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let verified = check.passwords.verify(a.password, stored).await;
    match user {
        Some(u) if verified && !u.disabled => {
            let device = device.cloned().unwrap_or_else(|| DeviceToken::issue(&u.id));
            let owed = SignInOwed {
                throttle_key: key,
                actor: actor.as_str().to_string(),
                subject,
                client_ip: a.client_ip.map(str::to_string),
                outcome: event("success"),
            };
            Ok(Outcome::Success(Box::new(Success { user: u, device, owed, factors })))
        }
        u => {
            let why = match &u {
                None => "failure: unknown user",
                Some(u) if u.disabled => "failure: disabled",
                Some(_) => "failure: wrong password",
            };
            if check.store.login_attempt_failed(&key, attempt, limits, now).await? {
                write(check.store, &actor, "login.lockout", &subject, a.client_ip, &event("locked"), now).await;
            }
            write(check.store, &actor, "login", &subject, a.client_ip, &event(why), now).await;
            Ok(Outcome::Failed)
        }
    }
}

async fn write(
    store: &Store,
    actor: &Actor,
    action: &str,
    subject: &str,
    client_ip: Option<&str>,
    outcome: &str,
    now: i64,
) {
    audit::record(store, AuditEvent { actor: actor.as_str(), action, subject, client_ip, outcome }, now).await;
}

/// The form of an e-mail address that counts toward one lock: trimmed, Unicode NFKC (full-width and other
/// compatibility forms fold to their plain letters), lower-cased.
pub fn normalise(email: &str) -> String {
    email.trim().nfkc().collect::<String>().to_lowercase()
}

/// The throttle key of (account, e-mail[, device]): hashed, so the table holds no addresses. A device's key is the
/// address's key, `:` and the device's hash, so clearing the address's key clears its devices' too (a password reset
/// proves control of the mailbox: the user's own browsers start over with the rest, `store::throttle`).
pub fn throttle_key(account_id: &str, email: &str, device_id: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(account_id.as_bytes());
    h.update(b"\0");
    h.update(normalise(email).as_bytes());
    let address = hex(&h.finalize());
    match device_id {
        Some(d) => format!("{address}:{}", &hex(&Sha256::digest(d.as_bytes()))[..32]),
        None => address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_of_an_address_share_a_key() {
        let k = throttle_key("acct", "demo@example.com", None);
        assert_eq!(throttle_key("acct", "  Demo@Example.COM ", None), k);
        assert_eq!(throttle_key("acct", "ｄｅｍｏ@example.com", None), k, "full-width letters fold (NFKC)");
        assert_ne!(throttle_key("other", "demo@example.com", None), k, "per account");
        assert_ne!(throttle_key("acct", "demo@example.com", Some("dev1")), k, "a known device counts apart");
        assert_ne!(
            throttle_key("acct", "demo@example.com", Some("dev2")),
            throttle_key("acct", "demo@example.com", Some("dev1"))
        );
        assert!(
            throttle_key("acct", "Demo@example.com", Some("dev1")).starts_with(&format!("{k}:")),
            "a device's key extends its address's, so clearing the address clears it"
        );
        assert_ne!(
            throttle_key("acct", "dеmo@example.com", None),
            k,
            "a Cyrillic look-alike is another (non-existent) address"
        );
    }
}
