//! SSO-link redemption (`sso::redeem`, SPEC §6): the link is claimed together with the session it starts, in one
//! transaction, so a failure on the way cannot burn it without signing the user in (issue 14's leftover), and of
//! concurrent redemptions exactly one gets a session.
use std::sync::Arc;

use keyway::crypto::secrets::hash_token;
use keyway::oauth::session::{self, Authentication};
use keyway::sso::{self, Landing, RedeemContext, KIND_NONCE};
use keyway::store::one_time::Claim;
use keyway::store::StoreError;

use crate::dual_store;
use crate::fixture::Fixture;

const TTL: i64 = 3600;

fn ctx(replaces: Option<&str>) -> RedeemContext<'_> {
    RedeemContext { issuer: "https://id.example.com", client_ip: None, replaces, session_ttl: TTL }
}

async fn a_link_starts_one_session_once(f: Fixture) {
    let s = &f.store;
    let link = sso::mint_for_user(s, &f.user, KIND_NONCE, &Landing::default(), "test", f.now).await.unwrap();
    let r = sso::redeem(s, KIND_NONCE, &link, &ctx(None), f.now).await.unwrap().expect("redeemed");
    assert_eq!(r.to, "/account");
    assert_eq!(r.session.user.id, f.user.id);
    let stored = s.find_session(&hash_token(&r.cookie), f.now).await.unwrap().expect("the session is stored");
    assert_eq!(stored.license_user_id, f.user.id);
    assert!(sso::redeem(s, KIND_NONCE, &link, &ctx(None), f.now).await.unwrap().is_none(), "single use");
    assert!(sso::redeem(s, KIND_NONCE, "forged", &ctx(None), f.now).await.unwrap().is_none());
}

/// The session insert fails (its id collides with an existing session's: a unique-key violation inside the
/// transaction): the error reaches the caller and the link is still unclaimed, so the user can try again.
async fn a_failed_session_start_does_not_burn_the_link(f: Fixture) {
    let s = &f.store;
    let link = sso::mint_for_user(s, &f.user, KIND_NONCE, &Landing::default(), "test", f.now).await.unwrap();
    let (_, taken, _) = session::prepare(f.user.clone(), f.account.clone(), Authentication::default(), TTL, f.now);
    s.insert_session(&taken, None).await.unwrap();
    let token_hash = hash_token(&link);
    let claim = Claim { token_hash: &token_hash, kind: KIND_NONCE, now: f.now };
    let err = s.claim_one_time_into_session(&claim, &taken, None).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(s.find_one_time(&hash_token(&link), KIND_NONCE, f.now).await.unwrap().is_some(), "the link survived");
    assert!(sso::redeem(s, KIND_NONCE, &link, &ctx(None), f.now).await.unwrap().is_some(), "and still works");
}

/// The browser's previous session ends in the same transaction as the new one starts (no fixation).
async fn redeeming_replaces_the_browsers_session(f: Fixture) {
    let s = &f.store;
    let (old_cookie, old, _) =
        session::prepare(f.user.clone(), f.account.clone(), Authentication::default(), TTL, f.now);
    s.insert_session(&old, None).await.unwrap();
    let link = sso::mint_for_user(s, &f.user, KIND_NONCE, &Landing::default(), "test", f.now).await.unwrap();
    let r = sso::redeem(s, KIND_NONCE, &link, &ctx(Some(&old_cookie)), f.now).await.unwrap().expect("redeemed");
    assert!(s.find_session(&old.id_hash, f.now).await.unwrap().is_none(), "the old session ended");
    assert!(s.find_session(&hash_token(&r.cookie), f.now).await.unwrap().is_some());
}

async fn concurrent_redemptions_start_exactly_one_session(f: Fixture) {
    let f = Arc::new(f);
    let link = sso::mint_for_user(&f.store, &f.user, KIND_NONCE, &Landing::default(), "test", f.now).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (f, link) = (f.clone(), link.clone());
            tokio::spawn(async move { sso::redeem(&f.store, KIND_NONCE, &link, &ctx(None), f.now).await.unwrap() })
        })
        .collect();
    let won: Vec<_> = futures_util::future::join_all(tasks).await.into_iter().filter_map(|r| r.unwrap()).collect();
    assert_eq!(won.len(), 1, "one redemption wins");
    let cookie = &won[0].cookie;
    assert!(f.store.find_session(&hash_token(cookie), f.now).await.unwrap().is_some());
}

/// A disabled user's link signs nobody in (and is not spent on it).
async fn a_disabled_users_link_starts_no_session(f: Fixture) {
    let s = &f.store;
    let link = sso::mint_for_user(s, &f.user, KIND_NONCE, &Landing::default(), "test", f.now).await.unwrap();
    s.set_user_disabled(&f.user.id, true).await.unwrap();
    assert!(sso::redeem(s, KIND_NONCE, &link, &ctx(None), f.now).await.unwrap().is_none());
}

dual_store!(
    a_link_starts_one_session_once,
    a_failed_session_start_does_not_burn_the_link,
    redeeming_replaces_the_browsers_session,
    concurrent_redemptions_start_exactly_one_session,
    a_disabled_users_link_starts_no_session
);
