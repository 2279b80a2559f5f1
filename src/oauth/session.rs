//! Hosted-UI sessions: the cookie carries a random id, the database its hash (SPEC §5). A new id after every login
//! prevents fixation; `sid` is the public handle used in id_tokens and for RP-initiated logout.
use std::sync::Arc;

use crate::crypto::secrets::{hash_token, random_token};
use crate::model::{CustomerAccount, LicenseUser};
use crate::store::sessions::SessionRecord;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct ActiveSession {
    pub sid: String,
    pub auth_time: i64,
    pub user: LicenseUser,
    pub account: Arc<CustomerAccount>,
    pub how: Authentication,
}

impl ActiveSession {
    /// Whether the user authenticated (the sign-in that started this session) within the last `seconds`.
    pub fn signed_in_within(&self, seconds: i64, now: i64) -> bool {
        now.saturating_sub(self.auth_time) <= seconds
    }
}

/// How a session's user authenticated, for the `amr` and `idp` claims of its id_tokens (OIDC Core §2, RFC 8176).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authentication {
    /// RFC 8176 method references: `pwd` for keyway's password, `fed` (plus the upstream's own) for federation;
    /// empty where keyway does not know (a backend vouched for the user).
    pub amr: Vec<String>,
    /// The upstream issuer or SAML entity id of a federated sign-in.
    pub idp: Option<String>,
}

impl Authentication {
    pub fn password() -> Authentication {
        Authentication { amr: vec!["pwd".into()], idp: None }
    }

    /// A federated sign-in: `fed` and the upstream's own methods (never keyway's `pwd`).
    pub fn federated(idp: &str, upstream_amr: &[String]) -> Authentication {
        let mut amr = vec!["fed".to_string()];
        for m in upstream_amr {
            if !amr.contains(m) {
                amr.push(m.clone());
            }
        }
        Authentication { amr, idp: Some(idp.to_string()) }
    }

    /// The stored form: space-separated (None when empty).
    pub fn amr_text(&self) -> Option<String> {
        (!self.amr.is_empty()).then(|| self.amr.join(" "))
    }

    pub fn from_stored(amr: Option<&str>, idp: Option<&str>) -> Authentication {
        Authentication {
            amr: amr.map(|a| a.split(' ').filter(|m| !m.is_empty()).map(str::to_string).collect()).unwrap_or_default(),
            idp: idp.map(str::to_string),
        }
    }
}

/// The session a cookie value names, if it is current and its user still allowed in.
pub async fn load(store: &Store, cookie_value: &str, now: i64) -> Result<Option<ActiveSession>, StoreError> {
    let Some(s) = store.find_session(&hash_token(cookie_value), now).await? else { return Ok(None) };
    let Some(user) = store.find_user(&s.license_user_id).await?.filter(|u| !u.disabled) else { return Ok(None) };
    let Some(account) = store.find_customer_account(&s.customer_account_id).await? else { return Ok(None) };
    let how = Authentication::from_stored(s.amr.as_deref(), s.idp.as_deref());
    Ok(Some(ActiveSession { sid: s.sid, auth_time: s.auth_time, user, account, how }))
}

/// A new session, not yet stored: the cookie value (random), the row to store (its hash) and the session itself.
/// The caller stores it, alone or together with what it must commit with (a sign-in's record, an SSO link's claim).
pub fn prepare(
    user: LicenseUser,
    account: Arc<CustomerAccount>,
    how: Authentication,
    ttl: i64,
    now: i64,
) -> (String, SessionRecord, ActiveSession) {
    let cookie = random_token();
    let record = SessionRecord {
        id_hash: hash_token(&cookie),
        sid: crate::crypto::secrets::random_uuid().to_string(),
        license_user_id: user.id.clone(),
        customer_account_id: account.id.clone(),
        auth_time: now,
        expires_at: now + ttl,
        created_at: now,
        amr: how.amr_text(),
        idp: how.idp.clone(),
    };
    let session = ActiveSession { sid: record.sid.clone(), auth_time: now, user, account, how };
    (cookie, record, session)
}

pub async fn end(store: &Store, cookie_value: &str) -> Result<(), StoreError> {
    store.delete_session(&hash_token(cookie_value)).await
}
