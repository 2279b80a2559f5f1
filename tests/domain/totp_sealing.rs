//! TOTP secrets at rest (issue 17 item 3 with issue 15's KEK): sealed with the KEK and bound to their user, opened
//! only under a KEK that sealed them, and re-sealed by `keys rewrap` so the old KEK can go.
use std::sync::Arc;

use keyway::crypto::kek::{is_sealed, Kek};

use crate::dual_store;
use crate::fixture::Fixture;

async fn totp_secrets_are_sealed_bound_to_the_user_and_rewrapped(f: Fixture) {
    let s = &f.store;
    let secret = b"0123456789abcdefghij".to_vec();
    // Without a KEK nothing is stored (never a plaintext fallback).
    assert!(s.insert_totp(&f.user.id, &secret, 1, f.now).await.is_err());

    let old = Kek::generate();
    s.set_kek(Arc::new(Kek::parse(&old).unwrap()));
    assert!(s.insert_totp(&f.user.id, &secret, 1, f.now).await.unwrap());
    let rec = s.find_totp(&f.user.id).await.unwrap().unwrap();
    assert!(is_sealed(&rec.secret_enc), "sealed with the KEK");
    assert_eq!(s.open_totp_secret(&rec).unwrap(), Some(secret.clone()));

    // Moved to another user's row, it does not open.
    let mut moved = rec.clone();
    moved.license_user_id = "someone-else".into();
    assert!(s.open_totp_secret(&moved).is_err());

    // KEK rotation: rewrap under a new first KEK, then the old one can be dropped.
    let new = Kek::generate();
    let both = Kek::parse(&format!("{new},{old}")).unwrap();
    s.set_kek(Arc::new(Kek::parse(&format!("{new},{old}")).unwrap()));
    assert_eq!(s.rewrap_totp_secrets(&both).await.unwrap(), 1);
    assert_eq!(s.rewrap_totp_secrets(&both).await.unwrap(), 0, "already current");
    s.set_kek(Arc::new(Kek::parse(&new).unwrap()));
    let rec = s.find_totp(&f.user.id).await.unwrap().unwrap();
    assert_eq!(s.open_totp_secret(&rec).unwrap(), Some(secret));
    s.set_kek(Arc::new(Kek::parse(&old).unwrap()));
    assert!(s.open_totp_secret(&rec).is_err(), "the old KEK alone no longer opens it");
}

dual_store!(totp_secrets_are_sealed_bound_to_the_user_and_rewrapped);
