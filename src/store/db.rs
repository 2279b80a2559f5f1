//! The executor under `store`: one SQL text per query for both engines.
//!
//! * **SQLite** runs in the calling thread through rusqlite (`sqlite.rs`): a statement costs microseconds, so
//!   handing each one to a worker thread and back (what sqlx's SQLite driver does) cost more CPU than the statement
//!   itself (docs/PERFORMANCE.md). Writers are serialised in-process by an async mutex, so concurrent requests queue
//!   without blocking a worker thread and SQLite never has to retry a busy write lock.
//! * **PostgreSQL** runs through sqlx's pool, with prepared statements cached per connection.
//!
//! SQL is written with PostgreSQL's numbered parameters `$1, $2, …`, numbered in order of first appearance; SQLite
//! reads `$1` as a named parameter whose index is its order of first appearance, so both engines bind by position.
//! `sqlite::Conn::prepare` checks that rule on every statement in debug builds (so the whole test suite does).
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, Row as _};

use super::sqlite;
use super::StoreError;

/// A bound parameter. The types are explicit because PostgreSQL types a parameter by its Rust type (a NULL text is
/// not a NULL bigint).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    I64(i64),
    OptI64(Option<i64>),
    I32(i32),
    Bool(bool),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}
impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}
impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Param::OptText(v)
    }
}
impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Param::OptText(v.as_deref())
    }
}
impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::I64(v)
    }
}
impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        Param::OptI64(v)
    }
}
impl From<i32> for Param<'_> {
    fn from(v: i32) -> Self {
        Param::I32(v)
    }
}
impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Bool(v)
    }
}

/// `params![a, b, …]`: a parameter list in the order of `$1, $2, …`.
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$($crate::store::db::Param::from($v)),*] };
}
pub(crate) use params;

/// One result row, read by column position. Both engines return the columns in the order of the SELECT list.
pub(crate) trait Row {
    fn text(&self, i: usize) -> Result<String, StoreError>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn int32(&self, i: usize) -> Result<i32, StoreError>;
    fn flag(&self, i: usize) -> Result<bool, StoreError>;
}

/// A row read from column `.1` on: for joins that return two records side by side.
pub(crate) struct Offset<'a>(pub &'a dyn Row, pub usize);

impl Row for Offset<'_> {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.0.text(i + self.1)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.0.opt_text(i + self.1)
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.0.int(i + self.1)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.0.opt_int(i + self.1)
    }
    fn int32(&self, i: usize) -> Result<i32, StoreError> {
        self.0.int32(i + self.1)
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.0.flag(i + self.1)
    }
}

/// Turns a row into a value; each aggregate module has one per record type.
pub(crate) type Mapper<T> = fn(&dyn Row) -> Result<T, StoreError>;

fn corrupt(i: usize, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("column {i}: {e}"))
}

impl Row for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.get(i).map_err(|e| corrupt(i, e))
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.get(i).map_err(|e| corrupt(i, e))
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.get(i).map_err(|e| corrupt(i, e))
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.get(i).map_err(|e| corrupt(i, e))
    }
    fn int32(&self, i: usize) -> Result<i32, StoreError> {
        self.get(i).map_err(|e| corrupt(i, e))
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.get(i).map_err(|e| corrupt(i, e))
    }
}

impl Row for PgRow {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.try_get(i).map_err(|e| corrupt(i, e))
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.try_get(i).map_err(|e| corrupt(i, e))
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.try_get(i).map_err(|e| corrupt(i, e))
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.try_get(i).map_err(|e| corrupt(i, e))
    }
    fn int32(&self, i: usize) -> Result<i32, StoreError> {
        self.try_get(i).map_err(|e| corrupt(i, e))
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.try_get(i).map_err(|e| corrupt(i, e))
    }
}

fn pg_args(params: &[Param<'_>]) -> Result<PgArguments, StoreError> {
    let mut args = PgArguments::default();
    for p in params {
        let added = match *p {
            Param::Text(v) => args.add(v),
            Param::OptText(v) => args.add(v),
            Param::I64(v) => args.add(v),
            Param::OptI64(v) => args.add(v),
            Param::I32(v) => args.add(v),
            Param::Bool(v) => args.add(v),
        };
        added.map_err(|e| StoreError::Db(format!("binding a parameter: {e}")))?;
    }
    Ok(args)
}

/// Which engine; for the few statements whose text differs between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Statements the store has run, for `/metrics` and the round-trip tests (issue 12, item 7). `statements` counts
/// every query and write; `transaction_control` every BEGIN, COMMIT and ROLLBACK (on PostgreSQL each statement is
/// one round trip; on SQLite they run in-process). Background maintenance outside this executor (the SQLite WAL
/// checkpoint, migrations, sqlx's connection health checks) is not counted.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    statements: AtomicU64,
    transaction_control: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatementCount {
    pub statements: u64,
    pub transaction_control: u64,
}

impl StatementCount {
    pub fn total(&self) -> u64 {
        self.statements + self.transaction_control
    }
}

impl std::ops::Sub for StatementCount {
    type Output = StatementCount;
    fn sub(self, earlier: StatementCount) -> StatementCount {
        StatementCount {
            statements: self.statements.saturating_sub(earlier.statements),
            transaction_control: self.transaction_control.saturating_sub(earlier.transaction_control),
        }
    }
}

impl Counters {
    fn statement(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    fn control(&self) {
        self.transaction_control.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatementCount {
        StatementCount {
            statements: self.statements.load(Ordering::Relaxed),
            transaction_control: self.transaction_control.load(Ordering::Relaxed),
        }
    }
}

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(Arc<sqlite::Pool>),
    Postgres(sqlx::PgPool),
}

/// The connection pool of either engine, with the statement counters.
#[derive(Clone)]
pub(crate) struct Db {
    pub pool: Pool,
    pub counters: Arc<Counters>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.pool {
            Pool::Sqlite(_) => "Db::Sqlite",
            Pool::Postgres(_) => "Db::Postgres",
        })
    }
}

impl Db {
    pub fn new(pool: Pool) -> Db {
        Db { pool, counters: Default::default() }
    }

    pub fn engine(&self) -> Engine {
        match self.pool {
            Pool::Sqlite(_) => Engine::Sqlite,
            Pool::Postgres(_) => Engine::Postgres,
        }
    }

    /// Runs one statement outside a transaction; the number of rows it changed.
    pub async fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        self.counters.statement();
        match &self.pool {
            Pool::Sqlite(pool) => pool.execute(sql, params).await,
            Pool::Postgres(pool) => {
                let args = pg_args(params)?;
                let mut conn = acquire(pool).await?;
                let done = sqlx::query_with(sql, args).execute(&mut *conn).await.map_err(StoreError::from)?;
                Ok(done.rows_affected())
            }
        }
    }

    pub async fn fetch_optional<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        map: Mapper<T>,
    ) -> Result<Option<T>, StoreError> {
        self.counters.statement();
        match &self.pool {
            Pool::Sqlite(pool) => pool.fetch_optional(sql, params, map).await,
            Pool::Postgres(pool) => {
                let args = pg_args(params)?;
                let mut conn = acquire(pool).await?;
                let row = sqlx::query_with(sql, args).fetch_optional(&mut *conn).await.map_err(StoreError::from)?;
                row.as_ref().map(|r| map(r)).transpose()
            }
        }
    }

    pub async fn fetch_all<T>(&self, sql: &str, params: &[Param<'_>], map: Mapper<T>) -> Result<Vec<T>, StoreError> {
        self.counters.statement();
        match &self.pool {
            Pool::Sqlite(pool) => pool.fetch_all(sql, params, map).await,
            Pool::Postgres(pool) => {
                let args = pg_args(params)?;
                let mut conn = acquire(pool).await?;
                let rows = sqlx::query_with(sql, args).fetch_all(&mut *conn).await.map_err(StoreError::from)?;
                rows.iter().map(|r| map(r)).collect()
            }
        }
    }

    /// A write transaction. On SQLite it holds the process's write lock and `BEGIN IMMEDIATE`s, so it never has to
    /// upgrade a read lock (which fails under concurrency); on PostgreSQL, READ COMMITTED: conditional UPDATEs
    /// serialise on the row lock. Dropped without `commit`, it rolls back.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        self.counters.control();
        let inner = match &self.pool {
            Pool::Sqlite(pool) => TxInner::Sqlite(pool.clone().begin().await?),
            // Acquiring a connection and sending BEGIN fail only when the database cannot serve.
            Pool::Postgres(pool) => TxInner::Postgres(pool.begin().await.map_err(unreachable)?),
        };
        Ok(Tx { inner, counters: self.counters.clone(), committed: false })
    }
}

enum TxInner {
    Sqlite(sqlite::Tx),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    /// Committed (the engine's transaction was moved out to commit it).
    Done,
}

fn finished() -> StoreError {
    StoreError::Db("transaction already finished".into())
}

pub(crate) struct Tx {
    inner: TxInner,
    counters: Arc<Counters>,
    committed: bool,
}

impl Drop for Tx {
    /// Not committed: both engines roll back when their transaction is dropped (one more statement).
    fn drop(&mut self) {
        if !self.committed {
            self.counters.control();
        }
    }
}

impl Tx {
    pub async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        self.counters.statement();
        match &mut self.inner {
            TxInner::Sqlite(tx) => tx.conn().execute(sql, params),
            TxInner::Postgres(tx) => {
                let args = pg_args(params)?;
                let done = sqlx::query_with(sql, args).execute(&mut **tx).await.map_err(StoreError::from)?;
                Ok(done.rows_affected())
            }
            TxInner::Done => Err(finished()),
        }
    }

    pub async fn fetch_optional<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        map: Mapper<T>,
    ) -> Result<Option<T>, StoreError> {
        self.counters.statement();
        match &mut self.inner {
            TxInner::Sqlite(tx) => tx.conn().fetch_optional(sql, params, map),
            TxInner::Postgres(tx) => {
                let args = pg_args(params)?;
                let row = sqlx::query_with(sql, args).fetch_optional(&mut **tx).await.map_err(StoreError::from)?;
                row.as_ref().map(|r| map(r)).transpose()
            }
            TxInner::Done => Err(finished()),
        }
    }

    pub async fn commit(mut self) -> Result<(), StoreError> {
        self.counters.control();
        // A failed COMMIT ends the transaction too: no ROLLBACK is counted after it.
        self.committed = true;
        let inner = std::mem::replace(&mut self.inner, TxInner::Done);
        match inner {
            TxInner::Sqlite(tx) => tx.commit(),
            TxInner::Postgres(tx) => tx.commit().await.map_err(StoreError::from),
            TxInner::Done => Err(finished()),
        }
    }
}

/// A connection from the pool. Any failure to get one means the database cannot serve now, whatever the error says:
/// down, refusing this role (CONNECT revoked: SQLSTATE 42501, a dropped role or database: 28000, 3D000), out of
/// connections. That is a 503 (`Unavailable`); only a statement's own error on a working connection can be a bug or
/// the request's fault.
async fn acquire(pool: &sqlx::PgPool) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, StoreError> {
    pool.acquire().await.map_err(unreachable)
}

fn unreachable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(format!("no database connection: {e}"))
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match e {
            E::Database(db) => {
                let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                // SQLSTATE class 23: integrity constraint violation; 23505 is unique_violation.
                if code == "23505" {
                    StoreError::Conflict(constraint_name(db.constraint()))
                // Class 08 connection exception, 57P01-03 shutdown / cannot connect now, 53 insufficient resources,
                // 40001/40P01 serialization failure / deadlock: all transient, worth retrying later.
                } else if code.starts_with("08")
                    || code.starts_with("57P")
                    || code.starts_with("53")
                    || code == "40001"
                    || code == "40P01"
                {
                    StoreError::Unavailable(format!("database: {db}"))
                } else {
                    StoreError::Db(format!("database: {db}"))
                }
            }
            E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed | E::Protocol(_) => {
                StoreError::Unavailable(e.to_string())
            }
            other => StoreError::Db(other.to_string()),
        }
    }
}

fn constraint_name(name: Option<&str>) -> &'static str {
    // The caller names the record; the constraint only says it was a uniqueness conflict.
    let _ = name;
    "record"
}
