//! Storage: sea-orm entities and every query. Nothing outside this module touches the database.
//!
//! One-time things (codes, refresh tokens, nonces, seats) are claimed with a single conditional UPDATE checked by
//! rows-affected, so under concurrency exactly one caller wins on SQLite and PostgreSQL alike. Transactions that
//! write start with their write, so SQLite takes its write lock up front (and waits for it) instead of failing to
//! upgrade a read lock.
pub mod activations;
pub mod admin;
pub mod audit;
pub mod cache;
pub mod entity;
pub mod grants;
pub mod one_time;
pub mod sessions;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Maps a unique-constraint violation to `Conflict(what)`.
    pub(crate) fn unique(e: DbErr, what: &'static str) -> StoreError {
        let msg = e.to_string().to_ascii_lowercase();
        if msg.contains("unique") || msg.contains("duplicate key") {
            StoreError::Conflict(what)
        } else {
            StoreError::Db(e)
        }
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    /// Products by client_id: read on every authorize, login and token request.
    pub(crate) clients: cache::TtlCache<entity::product::Model>,
    /// Customer accounts by id and by (organization, code): read on every login page, sign-in, session load,
    /// code redemption, refresh and sso_url.
    pub(crate) accounts: cache::TtlCache<entity::customer_account::Model>,
}

impl Store {
    /// Connects; for SQLite the file and its directory are created, WAL mode and a busy timeout set.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let mut url = url.to_string();
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            let file = path.split('?').next().unwrap_or("");
            if !file.is_empty() && file != ":memory:" {
                if let Some(parent) = std::path::Path::new(file).parent() {
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(parent).map_err(|e| StoreError::Db(DbErr::Custom(format!("creating {}: {e}", parent.display()))))?;
                    }
                }
            }
            if !url.contains("mode=") {
                url.push_str(if url.contains('?') { "&mode=rwc" } else { "?mode=rwc" });
            }
        }
        let mut opts = ConnectOptions::new(url);
        opts.max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false);
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                // With WAL every commit by another connection invalidates this connection's page cache, and the
                // pages come back through pread(2); mapped, they are memory reads (https://sqlite.org/mmap.html).
                .pragma("mmap_size", "268435456")
        });
        let db = Database::connect(opts).await?;
        Ok(Store { db, clients: Default::default(), accounts: Default::default() })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// `/readyz`: one round trip.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let backend = self.db.get_database_backend();
        self.db.execute(Statement::from_string(backend, "SELECT 1")).await?;
        Ok(())
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    pub async fn close(self) -> Result<(), StoreError> {
        self.db.close().await?;
        Ok(())
    }
}
