//! Seat accounting (`Store::activate` / `Store::deactivate`, SPEC §3.4): the count never passes the limit under
//! concurrency, the same device takes one seat however often it activates, and the count always equals the active
//! rows.
use std::sync::Arc;

use keyway::model::HardwareId;
use keyway::store::activations::{ActivateOutcome, DeviceActivation};
use keyway::store::audit::AuditEvent;
use keyway::store::StoreError;

use crate::dual_store;
use crate::fixture::{Fixture, SEATS};

fn event() -> AuditEvent<'static> {
    AuditEvent { actor: "test", action: "license.activate", subject: "s", client_ip: None, outcome: "success" }
}

async fn activate(f: &Fixture, hw: &str) -> Result<ActivateOutcome, StoreError> {
    let hw = HardwareId::parse(hw).unwrap();
    let d =
        DeviceActivation { license_id: f.license.id, user_id: Some(&f.user.id), hardware_id: &hw, device_info: None };
    f.store.activate(d, event(), f.now).await
}

/// The license's seat count, which must equal its active activation rows.
async fn seats_in_use(f: &Fixture) -> i32 {
    let count = f.store.find_license(f.license.id).await.unwrap().unwrap().times_activated;
    let rows = f.store.active_devices(f.license.id).await.unwrap().len();
    assert_eq!(count as usize, rows, "times_activated agrees with the active rows");
    count
}

async fn concurrent_activations_never_pass_the_seat_limit(f: Fixture) {
    let f = Arc::new(f);
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let f = f.clone();
            tokio::spawn(async move { activate(&f, &format!("device-{i}")).await.unwrap() })
        })
        .collect();
    let outcomes: Vec<ActivateOutcome> =
        futures_util::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
    let taken = outcomes.iter().filter(|o| matches!(o, ActivateOutcome::Activated { .. })).count();
    let full = outcomes.iter().filter(|o| matches!(o, ActivateOutcome::SeatsFull)).count();
    assert_eq!((taken, full), (SEATS as usize, 12 - SEATS as usize));
    assert_eq!(seats_in_use(&f).await, SEATS);
    for o in &outcomes {
        if let ActivateOutcome::Activated { license, .. } = o {
            assert!(license.times_activated <= SEATS, "each returned count is within the limit");
        }
    }
}

async fn the_same_device_takes_one_seat(f: Fixture) {
    let f = Arc::new(f);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let f = f.clone();
            tokio::spawn(async move { activate(&f, "laptop").await.unwrap() })
        })
        .collect();
    let outcomes: Vec<ActivateOutcome> =
        futures_util::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
    let taken = outcomes.iter().filter(|o| matches!(o, ActivateOutcome::Activated { .. })).count();
    let again = outcomes.iter().filter(|o| matches!(o, ActivateOutcome::AlreadyActive { .. })).count();
    assert_eq!((taken, again), (1, 7), "idempotent per device");
    assert_eq!(seats_in_use(&f).await, 1);
}

async fn deactivation_frees_exactly_one_seat(f: Fixture) {
    for hw in ["a", "b", "c"] {
        assert!(matches!(activate(&f, hw).await.unwrap(), ActivateOutcome::Activated { .. }));
    }
    assert_eq!(activate(&f, "d").await.unwrap(), ActivateOutcome::SeatsFull);
    assert!(f.store.deactivate(f.license.id, "b", event(), f.now).await.unwrap());
    assert!(!f.store.deactivate(f.license.id, "b", event(), f.now).await.unwrap(), "only once");
    assert!(!f.store.deactivate(f.license.id, "never-seen", event(), f.now).await.unwrap());
    assert_eq!(seats_in_use(&f).await, 2);
    // The freed seat goes to the next device; the deactivated one is revived in its old row when a seat is free.
    assert!(matches!(activate(&f, "d").await.unwrap(), ActivateOutcome::Activated { .. }));
    assert_eq!(activate(&f, "b").await.unwrap(), ActivateOutcome::SeatsFull);
    assert!(f.store.deactivate(f.license.id, "a", event(), f.now).await.unwrap());
    match activate(&f, "b").await.unwrap() {
        ActivateOutcome::Activated { license, activation } => {
            assert_eq!((license.times_activated, activation.hardware_id.as_str()), (SEATS, "b"));
        }
        other => panic!("expected a revived activation, got {other:?}"),
    }
    assert_eq!(seats_in_use(&f).await, SEATS);
}

async fn concurrent_activate_and_deactivate_keep_the_count_exact(f: Fixture) {
    for hw in ["a", "b"] {
        activate(&f, hw).await.unwrap();
    }
    let f = Arc::new(f);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let _ = f.store.deactivate(f.license.id, if i % 4 == 0 { "a" } else { "b" }, event(), f.now).await;
            } else {
                let _ = activate(&f, &format!("n{i}")).await.unwrap();
            }
        }));
    }
    futures_util::future::join_all(tasks).await;
    let n = seats_in_use(&f).await;
    assert!(n <= SEATS, "{n} seats in use");
}

dual_store!(
    concurrent_activations_never_pass_the_seat_limit,
    the_same_device_takes_one_seat,
    deactivation_frees_exactly_one_seat,
    concurrent_activate_and_deactivate_keep_the_count_exact,
);
