//! Storage: every query, split by aggregate. Nothing outside this module touches the database.
//!
//! One-time things (codes, refresh tokens, nonces, seats, login attempts) are claimed with a single conditional
//! UPDATE checked by rows-affected, so under concurrency exactly one caller wins on SQLite and PostgreSQL alike.
//! Multi-step writes run in one transaction inside the store method that needs them.
pub mod accounts;
pub mod activations;
pub mod audit;
pub mod branding;
pub mod cache;
pub mod clients;
pub(crate) mod db;
pub mod federation;
pub mod grants;
pub mod keys;
pub mod licenses;
pub mod mfa;
pub mod one_time;
pub mod orgs;
pub mod recovery;
pub mod sessions;
pub mod sign_in;
pub(crate) mod sqlite;
pub mod throttle;
pub mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use db::{Db, Pool};
pub use db::{Engine, StatementCount};

use crate::model::{ApiKey, CustomerAccount, OAuthClient};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot serve now (unreachable, shutting down, locked past the timeout, out of disk): a 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A row that does not decode: a bug or a hand-edited database.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Any other database error (a bug in a statement, a constraint other than uniqueness).
    #[error("{0}")]
    Db(String),
}

impl StoreError {
    /// Names the record of a uniqueness conflict.
    pub(crate) fn conflict_as(self, what: &'static str) -> StoreError {
        match self {
            StoreError::Conflict(_) => StoreError::Conflict(what),
            other => other,
        }
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: Db,
    /// Products by client_id, by id and by (organization, short code): read on every authorize, login, token and
    /// License API request.
    pub(crate) clients: cache::TtlCache<Arc<OAuthClient>>,
    /// Customer accounts by id and by (organization, code).
    pub(crate) accounts: cache::TtlCache<Arc<CustomerAccount>>,
    /// License API keys by key: read on every License API request (issue 12 item 7: a code activation in at most five
    /// round trips). A revocation through this process clears it; another process's is seen within `cache::TTL`,
    /// as for a disabled product.
    pub(crate) api_keys: cache::TtlCache<Arc<ApiKey>>,
    /// Branding rows by (organization, product), absent ones too (most products have none): read twice by every
    /// hosted page. Keys come from products and organizations, and the map is bounded, so caching a miss is safe.
    pub(crate) branding: cache::TtlCache<Option<Arc<branding::BrandingRecord>>>,
    /// Customer accounts' MFA policies by account id, absent ones too (the default): read by every password sign-in
    /// and every authorization answered from a session. Keys are accounts' ids; the map is bounded.
    pub(crate) mfa_policies: cache::TtlCache<mfa::MfaPolicy>,
    /// The key-encryption key, once the key set is open: customers' IdP secrets are sealed with it.
    pub(crate) kek: Arc<std::sync::RwLock<Option<Arc<crate::crypto::kek::Kek>>>>,
}

/// The advisory lock key serialising migrations across processes ("kway" in ASCII).
const MIGRATION_LOCK: i64 = 0x6b77_6179;

/// How long a connection attempt to PostgreSQL may take before start-up (or a request) gives up.
const PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle pooled PostgreSQL connection is used without a ping first (see `connect`).
const PG_TRUST_IDLE_CONNECTION_FOR: Duration = Duration::from_millis(250);

impl Store {
    /// Connects and applies the migrations. SQLite: the file and its directory are created; PostgreSQL: the server
    /// must answer within a few seconds, and the error names host and cause.
    pub async fn open(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        // Connecting first creates the SQLite file and fails fast on an unreachable PostgreSQL.
        let store = Self::connect(url, max_connections).await?;
        // Replicas starting together on an empty PostgreSQL database would race to create the same tables: a
        // session-level advisory lock, held on one connection while the migrations run, lets one migrate at a time
        // (the others then find nothing pending). Released when that connection ends, whatever happens.
        let lock = match &store.db.pool {
            Pool::Postgres(pool) => {
                let mut conn = pool.acquire().await.map_err(StoreError::from)?;
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(MIGRATION_LOCK)
                    .execute(&mut *conn)
                    .await
                    .map_err(StoreError::from)?;
                Some(conn)
            }
            Pool::Sqlite(_) => None,
        };
        let migrated = migration::run(url)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migrating {}: {e}", redact_url(url))));
        if let Some(mut conn) = lock {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await;
            if unlocked.is_err() {
                // Do not hand a connection that may still hold the lock back to the pool.
                drop(conn.detach());
            }
        }
        migrated?;
        Ok(store)
    }

    /// Connects without migrating (the schema must be current).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let db = if let Some(path) = sqlite_path(url) {
            let path = path.to_string();
            Pool::Sqlite(Arc::new(
                tokio::task::spawn_blocking(move || sqlite::Pool::open(std::path::Path::new(&path)))
                    .await
                    .map_err(|e| StoreError::Db(e.to_string()))??,
            ))
        } else {
            let opts = sqlx::postgres::PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Unavailable(format!("database_url {}: {e}", redact_url(url))))?;
            // One direct attempt first: the pool retries a refused connection until its timeout and then reports
            // only "pool timed out"; a single connection fails at once with the cause (refused, unknown host,
            // authentication, no such database).
            let target = format!("{}:{}", opts.get_host(), opts.get_port());
            match tokio::time::timeout(
                PG_CONNECT_TIMEOUT,
                <sqlx::postgres::PgConnection as sqlx::Connection>::connect_with(&opts),
            )
            .await
            {
                Ok(Ok(conn)) => {
                    let _ = sqlx::Connection::close(conn).await;
                }
                Ok(Err(e)) => {
                    return Err(StoreError::Unavailable(format!(
                        "connecting to PostgreSQL at {target} ({}): {e}",
                        redact_url(url)
                    )))
                }
                Err(_) => {
                    return Err(StoreError::Unavailable(format!(
                        "connecting to PostgreSQL at {target} ({}): no answer within {} s",
                        redact_url(url),
                        PG_CONNECT_TIMEOUT.as_secs()
                    )))
                }
            }
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(max_connections)
                .min_connections(0)
                .acquire_timeout(PG_CONNECT_TIMEOUT)
                // sqlx pings every connection it hands out (a round trip) and again when it takes it back: three
                // round trips per statement. A connection that answered a moment ago is taken as working; one idle
                // for longer (the database may have restarted meanwhile) is still checked before use, so a dead
                // one is replaced instead of failing a request. A connection that dies under load fails its next
                // statement (503, retried by clients) and is dropped by the ping on release.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PG_TRUST_IDLE_CONNECTION_FOR {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::Unavailable(format!("connecting to {}: {e}", redact_url(url))))?;
            Pool::Postgres(pool)
        };
        Ok(Store {
            db: Db::new(db),
            clients: Default::default(),
            accounts: Default::default(),
            api_keys: Default::default(),
            branding: Default::default(),
            mfa_policies: Default::default(),
            kek: Default::default(),
        })
    }

    /// Whether the database holds keyway's schema (the migrations table), for the commands that must not create an
    /// installation. A failure to reach the database is an error, a missing table is `false`.
    pub async fn has_schema(&self) -> Result<bool, StoreError> {
        match self.db.fetch_optional("SELECT 1 FROM seaql_migrations LIMIT 1", &[], |r| r.int32(0)).await {
            Ok(row) => Ok(row.is_some()),
            Err(e) if e.is_unavailable() => Err(e),
            Err(_) => Ok(false),
        }
    }

    /// `/readyz`: one round trip.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.fetch_optional("SELECT 1", &[], |r| r.int32(0)).await.map(|_| ())
    }

    pub fn engine(&self) -> Engine {
        self.db.engine()
    }

    /// The statements this store (and its clones) has run so far: queries and writes, and transaction control
    /// apart (see `db::Counters`). Read-only; for `/metrics` and the round-trip tests.
    pub fn statement_count(&self) -> StatementCount {
        self.db.counters.snapshot()
    }

    /// Background maintenance for SQLite: WAL checkpoints off the request path (`sqlite::Pool::run_checkpoints`);
    /// runs until the runtime stops. Nothing to do on PostgreSQL.
    pub async fn run_checkpoints(&self) {
        if let Pool::Sqlite(pool) = &self.db.pool {
            pool.clone().run_checkpoints().await;
        }
    }

    pub async fn close(self) {
        if let Pool::Postgres(pool) = self.db.pool {
            pool.close().await;
        }
    }

    /// Seals IdP secrets with `kek` from now on (`crypto::keyset::open`).
    pub fn set_kek(&self, kek: Arc<crate::crypto::kek::Kek>) {
        match self.kek.write() {
            Ok(mut k) => *k = Some(kek),
            Err(poisoned) => *poisoned.into_inner() = Some(kek),
        }
    }

    pub(crate) fn kek(&self) -> Option<Arc<crate::crypto::kek::Kek>> {
        match self.kek.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Forgets cached products and accounts (after a change made through this process).
    pub fn clear_caches(&self) {
        self.clients.clear();
        self.accounts.clear();
        self.api_keys.clear();
        self.branding.clear();
        self.mfa_policies.clear();
    }
}

/// The file of a `sqlite:` URL (`sqlite://data/keyway.db`, `sqlite:data.db`, query options ignored).
pub fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    Some(rest.split('?').next().unwrap_or(rest))
}

/// Database URLs may carry a password: never print it.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// A new random primary key.
pub(crate) fn new_id() -> String {
    crate::crypto::secrets::random_uuid().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_and_redaction() {
        assert_eq!(sqlite_path("sqlite://data/keyway.db"), Some("data/keyway.db"));
        assert_eq!(sqlite_path("sqlite:x.db?mode=rwc"), Some("x.db"));
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("sqlite://data/keyway.db"), "sqlite://data/keyway.db");
    }
}
