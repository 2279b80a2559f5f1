//! The audit trail written with less (issue 16): every sign-in commits an audit event, and on SQLite that event cost
//! two more B-tree pages than its row: `AUTOINCREMENT` updates `sqlite_sequence` on every insert
//! (https://sqlite.org/autoinc.html: "imposes extra CPU, memory, disk space, and disk I/O overhead"), and the
//! `ix_audit_events_at` index, which no query reads (events are listed by id, which follows time), took one more.
//! Measured: ~3 % of a login flow's server CPU on SQLite (docs/PERFORMANCE.md, session 8).
//!
//! Ids stay what they were and keep increasing: without AUTOINCREMENT SQLite gives a new row the largest id plus one,
//! and audit events are never deleted. PostgreSQL keeps its sequence (cheap there) and loses only the index.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_REBUILD: [&str; 4] = [
    "CREATE TABLE audit_events_lean (id INTEGER NOT NULL PRIMARY KEY, at bigint NOT NULL, actor text NOT NULL, \
     action text NOT NULL, subject text NOT NULL, client_ip text NULL, outcome text NOT NULL)",
    "INSERT INTO audit_events_lean (id, at, actor, action, subject, client_ip, outcome) \
     SELECT id, at, actor, action, subject, client_ip, outcome FROM audit_events",
    "DROP TABLE audit_events",
    "ALTER TABLE audit_events_lean RENAME TO audit_events",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        // sea-orm-migration runs SQLite migrations outside a transaction: this one brings its own, and does only what
        // is still to do, so that a stop between its commit and the migration's record is harmless.
        let tx = db.begin().await?;
        tx.execute_unprepared("DROP INDEX IF EXISTS ix_audit_events_at").await?;
        if m.get_database_backend() == DbBackend::Sqlite && sqlite_autoincrements(&tx).await? {
            for sql in SQLITE_REBUILD {
                tx.execute_unprepared(sql).await?;
            }
        }
        tx.commit().await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The table stays without AUTOINCREMENT (the ids it gives are the same); the index comes back.
        m.create_index(
            Index::create().name("ix_audit_events_at").table(AuditEvents::Table).col(AuditEvents::At).to_owned(),
        )
        .await
    }
}

/// Whether SQLite's audit_events still has its AUTOINCREMENT id.
async fn sqlite_autoincrements(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    let row = db
        .query_one(sea_orm_migration::sea_orm::Statement::from_string(
            DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_events'",
        ))
        .await?;
    let sql: String = match row {
        Some(r) => r.try_get("", "sql")?,
        None => return Ok(false),
    };
    Ok(sql.to_ascii_uppercase().contains("AUTOINCREMENT"))
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    At,
}
