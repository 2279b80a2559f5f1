//! Issue 15: a keyway process killed with SIGKILL in the middle of concurrent activations and sign-ins leaves the
//! database consistent. PostgreSQL: two processes on one database, A is killed, B serves on. SQLite: the one
//! process is killed and started again on the same file. Afterwards, for every license, seats used = active
//! activations <= max_activations; every activation or deactivation a client saw succeed is in the database; every
//! code was redeemed at most once, and every token a client received is usable.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::process::{Client, Install, Server};

/// What the clients saw, per device: the last answer that was a definite success.
#[derive(Default)]
struct Seen {
    /// hardware_id → true (activation succeeded last) / false (deactivation succeeded last).
    devices: HashMap<String, bool>,
    /// Devices with a request whose outcome the client does not know (connection cut by the kill).
    unknown: Vec<String>,
    /// Codes redeemed with a 200, with their refresh tokens.
    redeemed: Vec<(String, String)>,
    successes: usize,
}

/// `workers` tasks, each on its own devices, alternating activate/deactivate and signing in + redeeming the code,
/// against whichever server `target()` names at that moment, until `stop` is set.
async fn load(
    client: Client,
    bases: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    worker: usize,
) {
    let mut i = 0usize;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let base = {
            let b = bases.lock().unwrap();
            b[(worker + i) % b.len()].clone()
        };
        let hw = format!("hw-{worker}-{}", i % 4);
        let op =
            if seen.lock().unwrap().devices.get(&hw).copied().unwrap_or(false) { "deactivate" } else { "activate" };
        match client.license(&base, op, &hw).await {
            Ok(r) if r.status() == 200 => {
                let mut s = seen.lock().unwrap();
                s.devices.insert(hw.clone(), op == "activate");
                s.successes += 1;
            }
            // A definite refusal (seats full) changes nothing; a 5xx or a cut connection may or may not have.
            Ok(r) if r.status().is_client_error() => {}
            _ => seen.lock().unwrap().unknown.push(hw.clone()),
        }
        if i.is_multiple_of(2) {
            if let Ok(code) = client.code(&base).await {
                if let Ok(r) = client.redeem(&base, &code).await {
                    if r.status() == 200 {
                        let v: serde_json::Value = r.json().await.unwrap_or_default();
                        if let Some(rt) = v["refresh_token"].as_str() {
                            let mut s = seen.lock().unwrap();
                            s.redeemed.push((code, rt.to_string()));
                            s.successes += 1;
                        }
                    }
                }
            }
        }
        i += 1;
    }
}

/// Runs the load until `successes` definite successes, calls `fault`, then runs on until `after` more.
async fn run_load_with_fault<F, Fut>(client: &Client, bases: Arc<Mutex<Vec<String>>>, fault: F) -> Arc<Mutex<Seen>>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks: Vec<_> =
        (0..8).map(|w| tokio::spawn(load(client.clone(), bases.clone(), seen.clone(), stop.clone(), w))).collect();
    let wait_for = |n: usize| {
        let seen = seen.clone();
        async move {
            for _ in 0..1200 {
                if seen.lock().unwrap().successes >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("the load made no progress");
        }
    };
    wait_for(40).await;
    fault().await;
    let now = seen.lock().unwrap().successes;
    wait_for(now + 40).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    seen
}

/// The assertions on the surviving server `base`, with the database read directly by `licenses`.
async fn assert_consistent(
    client: &Client,
    base: &str,
    seen: &Seen,
    licenses: Vec<(i64, i64, i64)>,
    active: Vec<String>,
) {
    assert!(!licenses.is_empty());
    for (times_activated, max, active_count) in &licenses {
        assert_eq!(times_activated, active_count, "seats used = active activations");
        assert!(active_count <= max, "active activations {active_count} <= max {max}");
    }
    for (hw, activated) in &seen.devices {
        if seen.unknown.contains(hw) {
            continue;
        }
        assert_eq!(
            active.contains(hw),
            *activated,
            "{hw}: the client saw it {}",
            if *activated { "activated" } else { "deactivated" }
        );
    }
    assert!(!seen.redeemed.is_empty());
    for (code, refresh) in &seen.redeemed {
        let r = client.token(base, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await.unwrap();
        assert_eq!(r.status(), 200, "the refresh token the client received is in the database");
        // Last: a replayed code revokes what it issued (RFC 6749 §4.1.2).
        let again = client.redeem(base, code).await.unwrap();
        assert_eq!(again.status(), 400, "a redeemed code is never redeemed again");
    }
}

async fn pg_rows(url: &str) -> (Vec<(i64, i64, i64)>, Vec<String>) {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let licenses = sqlx::query(
        "SELECT l.times_activated::BIGINT, l.max_activations::BIGINT, \
         (SELECT COUNT(*) FROM activations a WHERE a.license_id = l.id AND a.active) FROM licenses l",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1), r.get::<i64, _>(2)))
    .collect();
    let active = sqlx::query("SELECT hardware_id FROM activations WHERE active")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    (licenses, active)
}

fn sqlite_rows(path: &std::path::Path) -> (Vec<(i64, i64, i64)>, Vec<String>) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut st = conn
        .prepare(
            "SELECT l.times_activated, l.max_activations, \
             (SELECT COUNT(*) FROM activations a WHERE a.license_id = l.id AND a.active) FROM licenses l",
        )
        .unwrap();
    let licenses =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
    let mut st = conn.prepare("SELECT hardware_id FROM activations WHERE active").unwrap();
    let active = st.query_map([], |r| r.get(0)).unwrap().collect::<Result<Vec<String>, _>>().unwrap();
    (licenses, active)
}

/// PostgreSQL, two processes: A is killed with SIGKILL under load, B takes all traffic and the data is consistent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replica_killed_under_load_leaves_consistent_data_and_the_survivor_serves() {
    let install = Install::new(true).await;
    let demo = install.demo().await;
    let mut a = install.serve(&[]).await;
    let b = install.serve(&[]).await;
    let client = Client::new(&demo);
    let bases = Arc::new(Mutex::new(vec![a.base.clone(), b.base.clone()]));
    let targets = bases.clone();
    let a_ref = &mut a;
    let b_base = b.base.clone();
    let seen = run_load_with_fault(&client, bases, || async move {
        a_ref.kill9().await;
        // Clients fail over to B, as a load balancer's health check would send them.
        *targets.lock().unwrap() = vec![b_base];
    })
    .await;
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let (licenses, active) = pg_rows(&install.database_url).await;
    assert_consistent(&client, &b.base, &seen, licenses, active).await;
    assert_eq!(reqwest::get(b.url("/readyz")).await.unwrap().status(), 200);
}

/// SQLite, one process: killed with SIGKILL under load, started again on the same file: consistent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_process_killed_under_load_restarts_consistent() {
    let install = Install::new(false).await;
    let demo = install.demo().await;
    let mut first = install.serve(&[]).await;
    let client = Client::new(&demo);
    let bases = Arc::new(Mutex::new(vec![first.base.clone()]));
    let targets = bases.clone();
    let restarted: Arc<Mutex<Option<Server>>> = Arc::new(Mutex::new(None));
    let slot = restarted.clone();
    let install_ref = &install;
    let first_ref = &mut first;
    let seen = run_load_with_fault(&client, bases, || async move {
        first_ref.kill9().await;
        let second = install_ref.serve(&[]).await;
        *targets.lock().unwrap() = vec![second.base.clone()];
        *slot.lock().unwrap() = Some(second);
    })
    .await;
    let second = restarted.lock().unwrap().take().unwrap();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let (licenses, active) = sqlite_rows(&install.path().join("data/keyway.db"));
    assert_consistent(&client, &second.base, &seen, licenses, active).await;
}
