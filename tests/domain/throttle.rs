//! Login attempt reservation (`Store::reserve_login_attempt`, issue 13 item 3): an attempt is counted before the
//! password is checked, atomically, so no burst gets more than `threshold` checks per window; the attempt over the
//! limit locks the key for `lock_seconds`.
use std::sync::Arc;

use keyway::store::throttle::{Limits, Reservation};

use crate::dual_store;
use crate::fixture::Fixture;

const LIMITS: Limits = Limits { threshold: 5, window: 900, lock_seconds: 300 };

async fn reservations_stop_at_the_threshold_and_lock(f: Fixture) {
    let s = &f.store;
    for i in 1..=5 {
        assert_eq!(s.reserve_login_attempt("k", LIMITS, f.now).await.unwrap(), Reservation::Granted { attempt: i });
    }
    assert_eq!(s.reserve_login_attempt("k", LIMITS, f.now).await.unwrap(), Reservation::Locked { until: f.now + 300 });
    assert_eq!(
        s.reserve_login_attempt("k", LIMITS, f.now + 299).await.unwrap(),
        Reservation::Locked { until: f.now + 300 },
        "still locked, and the lock is not extended by refused attempts"
    );
    assert_eq!(
        s.reserve_login_attempt("other-key", LIMITS, f.now).await.unwrap(),
        Reservation::Granted { attempt: 1 },
        "keys count apart"
    );
    assert_eq!(
        s.reserve_login_attempt("k", LIMITS, f.now + 300).await.unwrap(),
        Reservation::Granted { attempt: 1 },
        "after the lock, a fresh window"
    );
}

async fn concurrent_reservations_grant_at_most_the_threshold(f: Fixture) {
    let f = Arc::new(f);
    f.store.reserve_login_attempt("burst", LIMITS, f.now).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let f = f.clone();
            tokio::spawn(async move { f.store.reserve_login_attempt("burst", LIMITS, f.now).await.unwrap() })
        })
        .collect();
    let results: Vec<Reservation> =
        futures_util::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
    let mut granted: Vec<i32> = results
        .iter()
        .filter_map(|r| match r {
            Reservation::Granted { attempt } => Some(*attempt),
            Reservation::Locked { .. } => None,
        })
        .collect();
    granted.sort_unstable();
    assert_eq!(granted, vec![2, 3, 4, 5], "one before the burst, four in it, each number once");
}

async fn failures_lock_at_the_threshold_and_success_starts_over(f: Fixture) {
    let s = &f.store;
    for i in 1..=4 {
        let Reservation::Granted { attempt } = s.reserve_login_attempt("k", LIMITS, f.now).await.unwrap() else {
            panic!("attempt {i} refused")
        };
        assert!(!s.login_attempt_failed("k", attempt, LIMITS, f.now).await.unwrap(), "below the threshold");
    }
    let Reservation::Granted { attempt: 5 } = s.reserve_login_attempt("k", LIMITS, f.now).await.unwrap() else {
        panic!("the fifth attempt is checked")
    };
    assert!(s.login_attempt_failed("k", 5, LIMITS, f.now).await.unwrap(), "the last allowed failure locks");
    assert!(matches!(s.reserve_login_attempt("k", LIMITS, f.now).await.unwrap(), Reservation::Locked { .. }));

    // A success clears the count.
    for _ in 0..3 {
        s.reserve_login_attempt("j", LIMITS, f.now).await.unwrap();
    }
    s.login_attempt_succeeded("j", f.now).await.unwrap();
    assert_eq!(s.reserve_login_attempt("j", LIMITS, f.now).await.unwrap(), Reservation::Granted { attempt: 1 });
}

/// A success whose attempt was reserved before concurrent attempts locked the key does not lift their lock: the
/// rest of their burst stays unchecked (issue 13 item 3).
async fn a_success_does_not_lift_a_lock_set_meanwhile(f: Fixture) {
    let s = &f.store;
    for _ in 0..4 {
        s.reserve_login_attempt("k", LIMITS, f.now).await.unwrap();
    }
    // The fifth attempt (the right password) is checked while a sixth arrives and locks the key.
    assert_eq!(s.reserve_login_attempt("k", LIMITS, f.now).await.unwrap(), Reservation::Granted { attempt: 5 });
    assert_eq!(s.reserve_login_attempt("k", LIMITS, f.now).await.unwrap(), Reservation::Locked { until: f.now + 300 });
    s.login_attempt_succeeded("k", f.now).await.unwrap();
    assert_eq!(
        s.reserve_login_attempt("k", LIMITS, f.now).await.unwrap(),
        Reservation::Locked { until: f.now + 300 },
        "still locked"
    );
    // Once the lock is over, a success clears the key.
    s.login_attempt_succeeded("k", f.now + 300).await.unwrap();
    assert_eq!(s.reserve_login_attempt("k", LIMITS, f.now + 300).await.unwrap(), Reservation::Granted { attempt: 1 });
}

async fn old_failures_expire_after_the_window(f: Fixture) {
    let s = &f.store;
    for _ in 0..4 {
        s.reserve_login_attempt("k", LIMITS, f.now).await.unwrap();
    }
    assert_eq!(
        s.reserve_login_attempt("k", LIMITS, f.now + 900).await.unwrap(),
        Reservation::Granted { attempt: 1 },
        "the window counts from the last attempt"
    );
}

dual_store!(
    reservations_stop_at_the_threshold_and_lock,
    concurrent_reservations_grant_at_most_the_threshold,
    failures_lock_at_the_threshold_and_success_starts_over,
    a_success_does_not_lift_a_lock_set_meanwhile,
    old_failures_expire_after_the_window,
);
