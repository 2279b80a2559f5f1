//! Reset and verification links (`auth::recovery`, issue 17): the link is claimed in the same transaction as the
//! change it authorises, so a failure on the way keeps it usable, and a used link works no more.
use keyway::auth::recovery::{self, ResetError, RESET_KIND, VERIFY_KIND};
use keyway::crypto::secrets::hash_token;
use keyway::store::one_time::{Claim, NewOneTime};
use keyway::store::StoreError;

use crate::dual_store;
use crate::fixture::Fixture;

const NEW_PASSWORD: &str = "a-brand-new-passphrase-1";

async fn link(f: &Fixture, token: &str, kind: &str) {
    let t = NewOneTime {
        token_hash: &hash_token(token),
        kind,
        user_id: &f.user.id,
        payload: None,
        expires_at: f.now + 1800,
    };
    f.store.replace_one_time(&t, f.now).await.unwrap();
}

async fn a_reset_link_sets_the_password_once(f: Fixture) {
    link(&f, "reset-1", RESET_KIND).await;
    let reset =
        |token| recovery::reset_password(&f.store, &f.passwords, token, NEW_PASSWORD, NEW_PASSWORD, None, f.now);
    assert_eq!(reset("reset-1").await.unwrap().id, f.user.id);
    let stored = f.store.find_user(&f.user.id).await.unwrap().unwrap();
    assert!(f.passwords.verify(NEW_PASSWORD, stored.password_hash).await, "the new password is stored");
    assert!(matches!(reset("reset-1").await, Err(ResetError::InvalidLink)), "single use");
}

/// The password write fails inside the transaction (here: its user is not there): the claim is rolled back with it.
async fn a_failed_password_write_does_not_burn_the_reset_link(f: Fixture) {
    link(&f, "reset-2", RESET_KIND).await;
    let token_hash = hash_token("reset-2");
    let claim = Claim { token_hash: &token_hash, kind: RESET_KIND, now: f.now };
    let err = f.store.set_password("no-such-user", "x", true, None, &[], Some(&claim)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(f.store.find_one_time(&token_hash, RESET_KIND, f.now).await.unwrap().is_some(), "the link survived");
    let reset = recovery::reset_password(&f.store, &f.passwords, "reset-2", NEW_PASSWORD, NEW_PASSWORD, None, f.now);
    assert!(reset.await.is_ok(), "and still works");
}

async fn a_verification_link_is_claimed_with_the_verification(f: Fixture) {
    link(&f, "verify-1", VERIFY_KIND).await;
    let token_hash = hash_token("verify-1");
    let claim = Claim { token_hash: &token_hash, kind: VERIFY_KIND, now: f.now };
    let err = f.store.verify_email_claiming("no-such-user", &claim).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(f.store.find_one_time(&token_hash, VERIFY_KIND, f.now).await.unwrap().is_some(), "the link survived");
    assert_eq!(recovery::verify_email(&f.store, "verify-1", f.now).await.unwrap().id, f.user.id);
    assert!(matches!(recovery::verify_email(&f.store, "verify-1", f.now).await, Err(ResetError::InvalidLink)));
}

dual_store!(
    a_reset_link_sets_the_password_once,
    a_failed_password_write_does_not_burn_the_reset_link,
    a_verification_link_is_claimed_with_the_verification
);
