//! Upgrading a database that holds data: what a later migration keeps. Each test builds the older schema with the
//! first migrations only, writes through it, then opens the store (which applies the rest), on both engines.
use keyway::store::audit::AuditEvent;
use keyway::store::Store;

use crate::helpers::{pg_admin, pg_url};

/// The migrations before `m20261203_000001_lean_audit`.
const BEFORE_LEAN_AUDIT: u32 = 6;

fn event(action: &str) -> AuditEvent<'_> {
    AuditEvent { actor: "admin", action, subject: "user-1", client_ip: Some("127.0.0.1"), outcome: "success" }
}

/// Issue 16: the audit trail without AUTOINCREMENT and without its unread time index keeps every event and its id,
/// and numbers new events after them.
async fn audit_events_keep_their_ids(url: &str) {
    migration::run_first(url, Some(BEFORE_LEAN_AUDIT)).await.expect("the older schema");
    let old = Store::connect(url, 2).await.expect("connect");
    for action in ["a.one", "a.two", "a.three"] {
        old.audit(&event(action), 1_000).await.expect("audit on the older schema");
    }
    old.close().await;

    let store = Store::open(url, 2).await.expect("open applies the rest");
    store.audit(&event("a.four"), 2_000).await.expect("audit after the upgrade");
    let events = store.audit_events(None).await.expect("events");
    let got: Vec<(i64, &str)> = events.iter().map(|e| (e.id, e.action.as_str())).collect();
    assert_eq!(got, [(1, "a.one"), (2, "a.two"), (3, "a.three"), (4, "a.four")]);
    assert_eq!(events[3].at, 2_000);
    store.close().await;
}

#[tokio::test]
async fn audit_events_keep_their_ids_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keyway.db");
    let url = format!("sqlite://{}", path.display());
    // The file must exist for the migration crate's own connection.
    Store::connect(&url, 1).await.expect("create the file").close().await;
    audit_events_keep_their_ids(&url).await;

    let conn = rusqlite::Connection::open(&path).expect("open");
    let table: String = conn
        .query_row("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_events'", [], |r| r.get(0))
        .expect("table");
    assert!(!table.to_ascii_uppercase().contains("AUTOINCREMENT"), "{table}");
    let indexes: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events'", [], |r| {
            r.get(0)
        })
        .expect("indexes");
    assert_eq!(indexes, 0);
    // Applying the migrations again finds nothing to do.
    migration::run(&url).await.expect("idempotent");
}

#[tokio::test]
async fn audit_events_keep_their_ids_postgres() {
    let name = format!("keyway_test_{}", uuid::Uuid::new_v4().simple());
    pg_admin(&format!("CREATE DATABASE \"{name}\"")).await.expect("PostgreSQL at 127.0.0.1:5432");
    let url = pg_url(&name, None);
    audit_events_keep_their_ids(&url).await;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.expect("connect");
    let (indexes,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_indexes WHERE tablename = 'audit_events' AND indexname <> 'audit_events_pkey'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("indexes");
    assert_eq!(indexes, 0);
    drop(conn);
    let _ = pg_admin(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
}
