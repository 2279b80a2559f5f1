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
}

/// The session a cookie value names, if it is current and its user still allowed in.
pub async fn load(store: &Store, cookie_value: &str, now: i64) -> Result<Option<ActiveSession>, StoreError> {
    let Some(s) = store.find_session(&hash_token(cookie_value), now).await? else { return Ok(None) };
    let Some(user) = store.find_user(&s.license_user_id).await?.filter(|u| !u.disabled) else { return Ok(None) };
    let Some(account) = store.find_customer_account(&s.customer_account_id).await? else { return Ok(None) };
    Ok(Some(ActiveSession { sid: s.sid, auth_time: s.auth_time, user, account }))
}

/// A new session for a user who has just authenticated; `replaces` is the browser's previous session cookie, which
/// ends in the same transaction. Returns the new cookie value (shown to the browser only) and the session.
pub async fn create(
    store: &Store,
    user: LicenseUser,
    account: Arc<CustomerAccount>,
    replaces: Option<&str>,
    ttl: i64,
    now: i64,
) -> Result<(String, ActiveSession), StoreError> {
    let cookie = random_token();
    let record = SessionRecord {
        id_hash: hash_token(&cookie),
        sid: uuid::Uuid::new_v4().to_string(),
        license_user_id: user.id.clone(),
        customer_account_id: account.id.clone(),
        auth_time: now,
        expires_at: now + ttl,
        created_at: now,
    };
    let old = replaces.map(hash_token);
    store.insert_session(&record, old.as_deref()).await?;
    Ok((cookie, ActiveSession { sid: record.sid, auth_time: now, user, account }))
}

pub async fn end(store: &Store, cookie_value: &str) -> Result<(), StoreError> {
    store.delete_session(&hash_token(cookie_value)).await
}
