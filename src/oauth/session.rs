//! Hosted-UI sessions: the cookie carries a random id, the database its hash (SPEC §5). A new id after every login
//! prevents fixation; `sid` is the public handle used in id_tokens and for RP-initiated logout.
use crate::crypto::secrets::{hash_token, random_token};
use crate::state::AppState;
use crate::store::entity::{customer_account, license_user};
use crate::store::sessions::SessionRecord;
use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct ActiveSession {
    pub sid: String,
    pub auth_time: i64,
    pub user: license_user::Model,
    pub account: customer_account::Model,
}

/// The session a cookie value names, if it is current and its user still allowed in.
pub async fn load(state: &AppState, cookie_value: &str) -> Result<Option<ActiveSession>, StoreError> {
    let now = state.now();
    let Some(s) = state.store.find_session(&hash_token(cookie_value), now).await? else { return Ok(None) };
    let Some(user) = state.store.find_user(&s.license_user_id).await? else { return Ok(None) };
    if user.disabled {
        return Ok(None);
    }
    let Some(account) = state.store.find_customer_account(&s.customer_account_id).await? else { return Ok(None) };
    Ok(Some(ActiveSession { sid: s.sid, auth_time: s.auth_time, user, account }))
}

/// Starts a session and returns the cookie value (shown to the browser only).
pub async fn create(state: &AppState, user: license_user::Model, account: customer_account::Model) -> Result<(String, ActiveSession), StoreError> {
    let now = state.now();
    let cookie = random_token();
    let sid = uuid::Uuid::new_v4().to_string();
    state
        .store
        .insert_session(SessionRecord {
            id_hash: hash_token(&cookie),
            sid: sid.clone(),
            license_user_id: user.id.clone(),
            customer_account_id: account.id.clone(),
            auth_time: now,
            expires_at: now + state.config.session_ttl,
            created_at: now,
        })
        .await?;
    Ok((cookie, ActiveSession { sid, auth_time: now, user, account }))
}

pub async fn end(state: &AppState, cookie_value: &str) -> Result<(), StoreError> {
    state.store.delete_session(&hash_token(cookie_value)).await
}
