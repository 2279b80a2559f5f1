//! SQLite through rusqlite, in the calling thread. A small pool of reader connections (WAL: readers never wait for the
//! writer) and one writer connection behind an in-process write lock (`WriteLock`), taken asynchronously, so writers
//! queue as tasks instead of blocking a worker thread in SQLite's busy handler. Another process (the CLI) writing at
//! the same time is still handled by `busy_timeout`.
//!
//! Why one writer connection: SQLite drops a connection's whole page cache when another connection has committed
//! since its last transaction. With writes spread over the pool, every write found its B-tree pages evicted and read
//! them again from the WAL (a `pread` each: ~29 per login flow); the one writer keeps its cache across its own
//! commits. Writes were already serialised by the lock, so nothing runs less concurrently.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::db::{Mapper, Param};
use super::StoreError;

/// Idle connections kept for reuse; more are opened on demand and closed when returned to a full pool.
const MAX_IDLE: usize = 16;
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// The write lock and the writer connection (opened on first use, dropped when left in an unknown state).
    writer: WriteLock,
    checkpoints: Checkpoints,
}

/// WAL checkpoints off the request path (issue 16). By default SQLite checkpoints inside the commit that takes the
/// WAL past 1,000 pages: that request copies the pages back into the database file and `fsync`s both files while it
/// holds the write lock and blocks its worker thread (measured: 2.7 % of a login flow's CPU on the request path, and
/// the token endpoint's p99 tail). Once [`Pool::run_checkpoints`] runs, the writer connection no longer checkpoints;
/// every `CHECKPOINT_EVERY` commits it asks that task to, which copies what the WAL holds without any lock (PASSIVE:
/// writers go on appending), then takes the write lock for the few frames appended meanwhile, so that the WAL is
/// fully copied and the next writer starts it over from the beginning: it stays bounded. A PASSIVE checkpoint alone
/// never catches up with a writer that keeps appending, and the WAL grew to 1.95 GB in 10 s (session 5).
#[derive(Default)]
struct Checkpoints {
    /// Set once the background task runs: the writer connection then has `wal_autocheckpoint = 0`.
    background: AtomicBool,
    /// Write commits since the last checkpoint began.
    commits: AtomicU64,
    /// Background checkpoints completed (both steps).
    done: AtomicU64,
    wanted: tokio::sync::Notify,
}

/// Commits between background checkpoints: a login flow commits 3 times and writes ~20 WAL frames, so ~850 frames,
/// about SQLite's own threshold of 1,000 pages.
const CHECKPOINT_EVERY: u64 = 128;
/// Commits after which the writer checkpoints itself after all (the background task is not keeping up or has
/// stopped): the WAL stays bounded whatever happens to that task.
const CHECKPOINT_INLINE_AFTER: u64 = 8 * CHECKPOINT_EVERY;
/// A checkpoint also runs this often when there are few writes, so the WAL is copied back while the server idles.
const CHECKPOINT_IDLE: Duration = Duration::from_secs(30);

impl Pool {
    /// Opens (creating it if need be) the database file and switches it to WAL.
    pub fn open(path: &Path) -> Result<Pool, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!("creating the database directory {}: {e}", parent.display()))
            })?;
        }
        let pool = Pool {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            writer: WriteLock::default(),
            checkpoints: Checkpoints::default(),
        };
        let first = pool.connect()?;
        // WAL is a property of the file: set once, kept by every later connection.
        first.pragma_update(None, "journal_mode", "WAL").map_err(|e| open_error(path, e))?;
        pool.put(first);
        Ok(pool)
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|e| open_error(&self.path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| open_error(&self.path, e))?;
        // NORMAL in WAL mode: a commit survives a crash of the process (the WAL is written before COMMIT returns),
        // only a power loss can take the last transactions (https://sqlite.org/pragma.html#pragma_synchronous).
        // No memory-mapped I/O (mmap_size 0, SQLite's default): a connection unmaps the whole file whenever another
        // connection has committed since its last transaction (pager.c `pagerBeginReadTransaction` →
        // `sqlite3OsUnfetch`), which under load meant ~17 munmap + mmap of the entire database per login flow, the
        // page faults after them, and the mapping counted in RSS (140 MiB peak with an 89 MB file). Measured
        // (issue 16, docs/PERFORMANCE.md session 5): server CPU per flow 1.23 → 1.05 ms, peak RSS 140 → 31 MiB.
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;")
            .map_err(|e| open_error(&self.path, e))?;
        conn.set_prepared_statement_cache_capacity(128);
        if self.checkpoints.background.load(Ordering::Acquire) {
            no_autocheckpoint(&conn).map_err(|e| open_error(&self.path, e))?;
        }
        Ok(conn)
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let idle = match self.idle.lock() {
            Ok(mut v) => v.pop(),
            Err(poisoned) => poisoned.into_inner().pop(),
        };
        match idle {
            Some(c) => Ok(c),
            None => self.connect(),
        }
    }

    fn put(&self, conn: Connection) {
        let mut idle = match self.idle.lock() {
            Ok(v) => v,
            Err(poisoned) => poisoned.into_inner(),
        };
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// A reader connection for one statement (returned to the pool when dropped).
    pub fn conn(&self) -> Result<Conn<'_>, StoreError> {
        Ok(Conn { pool: self, conn: Some(self.take()?) })
    }

    /// Runs `f` on a reader connection for a SELECT, else on the writer connection under the write lock.
    async fn run<T>(&self, sql: &str, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let reads = sql.trim_start().get(..6).is_some_and(|k| k.eq_ignore_ascii_case("select"));
        if reads {
            return f(self.conn()?.conn()?);
        }
        let mut writer = self.writer.acquire().await;
        let conn = match writer.take() {
            Some(c) => c,
            None => self.connect()?,
        };
        let out = f(&conn);
        if out.is_ok() {
            self.committed(&conn);
        }
        // An autocommit statement leaves no transaction open; if one is (it should not be), the connection is
        // not reused.
        if conn.is_autocommit() {
            writer.set(Some(conn));
        }
        out
    }

    /// Counts a write commit (on the writer connection, write lock held) and asks for a checkpoint when due.
    fn committed(&self, writer: &Connection) {
        let c = &self.checkpoints;
        if !c.background.load(Ordering::Relaxed) {
            return; // SQLite's automatic checkpoint
        }
        let n = c.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(CHECKPOINT_EVERY) {
            c.wanted.notify_one();
        }
        if n >= CHECKPOINT_INLINE_AFTER {
            // Failure is not the commit's: it stands, and the next commit tries again.
            if let Err(e) = checkpoint_on(writer) {
                tracing::warn!(error = %e, "inline WAL checkpoint failed");
            } else {
                c.commits.store(0, Ordering::Relaxed);
            }
        }
    }

    pub async fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        self.run(sql, |c| run_execute(c, sql, params)).await
    }

    pub async fn fetch_optional<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        map: Mapper<T>,
    ) -> Result<Option<T>, StoreError> {
        self.run(sql, |c| run_fetch_optional(c, sql, params, map)).await
    }

    pub async fn fetch_all<T>(&self, sql: &str, params: &[Param<'_>], map: Mapper<T>) -> Result<Vec<T>, StoreError> {
        self.run(sql, |c| run_fetch_all(c, sql, params, map)).await
    }

    pub async fn begin(self: Arc<Self>) -> Result<Tx, StoreError> {
        let mut writer = self.writer.acquire().await;
        if writer.conn().is_none() {
            writer.set(Some(self.connect()?));
        }
        let conn = writer.conn().ok_or_else(|| StoreError::Db("no writer connection".into()))?;
        if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
            writer.set(None);
            return Err(e.into());
        }
        Ok(Tx { pool: self, writer, done: false })
    }

    /// Copies the WAL back into the database file without blocking readers or writers: what it held when the
    /// checkpoint began, as far as no reader still needs the old pages.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        checkpoint_on(self.conn()?.conn()?).map_err(StoreError::from)
    }

    /// The background checkpoints ([`Checkpoints`]); runs until the runtime stops. From its start the writer
    /// connection no longer checkpoints inside commits.
    pub async fn run_checkpoints(self: Arc<Self>) {
        {
            let mut writer = self.writer.acquire().await;
            self.checkpoints.background.store(true, Ordering::Release);
            if let Some(conn) = writer.conn() {
                if no_autocheckpoint(conn).is_err() {
                    writer.set(None); // the next writer opens a connection with it off
                }
            }
        }
        loop {
            let _ = tokio::time::timeout(CHECKPOINT_IDLE, self.checkpoints.wanted.notified()).await;
            if let Err(e) = self.checkpoint_in_background().await {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
    }

    async fn checkpoint_in_background(self: &Arc<Self>) -> Result<(), StoreError> {
        self.checkpoints.commits.store(0, Ordering::Relaxed);
        let pool = self.clone();
        blocking(move || pool.checkpoint()).await?;
        // What was appended meanwhile, with no writer appending more: afterwards the WAL is copied entirely and the
        // next write starts it over. Holding the lock in a blocking thread keeps the workers free; writers wait
        // only for these few frames and their `fsync`.
        let _writer = self.writer.acquire().await;
        let pool = self.clone();
        blocking(move || pool.checkpoint()).await?;
        self.checkpoints.done.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn checkpoint_on(conn: &Connection) -> Result<(), rusqlite::Error> {
    // The row it answers (busy, WAL frames, frames copied) is not needed: a partial copy is finished next time.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

fn no_autocheckpoint(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.pragma_update(None, "wal_autocheckpoint", 0)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Db(e.to_string()))?
}

/// The write lock around the writer connection. A task that finds it free takes it at once ("barging"); waiters are
/// woken at each release and try again. Why not tokio's `Mutex`: it is fair, handing the lock at release to the
/// longest waiter even when that waiter's worker thread is busy with something else (signing another request's
/// tokens: ~0.5 ms). The lock then stays held, idle, until that thread gets round to the waiter, and every other
/// writer queues behind it: a lock convoy. Measured (issue 16): token endpoint at c=16 1,631 redemptions/s on 1.06
/// of 2 cores with the fair lock; the statements inside a transaction are synchronous (rusqlite on the calling
/// thread), so a holder never waits while others queue.
///
/// A release wakes every waiter, not one (issue 16, session 7): a woken task runs only when its worker thread gets
/// round to it, and with one woken per release, a waiter whose worker was busy signing left the lock free while the
/// other worker's waiters slept, and that worker sat idle. Measured: ~1.7 requests waiting for the lock at any moment
/// of a login-flow run, 24 % of acquisitions waiting 2.1 ms on average, both workers at 0.77 cores.
#[derive(Default)]
struct WriteLock {
    slot: Arc<tokio::sync::Mutex<Option<Connection>>>,
    released: Arc<tokio::sync::Notify>,
}

impl WriteLock {
    async fn acquire(&self) -> WriteGuard {
        loop {
            // Registered before the attempt, so a release between the attempt and the wait is not missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if let Ok(guard) = self.slot.clone().try_lock_owned() {
                return WriteGuard { guard: Some(guard), released: self.released.clone() };
            }
            released.await;
        }
    }
}

/// The writer connection while the write lock is held; releasing wakes the waiters.
struct WriteGuard {
    guard: Option<tokio::sync::OwnedMutexGuard<Option<Connection>>>,
    released: Arc<tokio::sync::Notify>,
}

impl WriteGuard {
    fn conn(&self) -> Option<&Connection> {
        self.guard.as_ref().and_then(|g| g.as_ref())
    }

    fn take(&mut self) -> Option<Connection> {
        self.guard.as_mut().and_then(|g| g.take())
    }

    /// Keeps `conn` as the writer connection for the next holder (None: open a fresh one next time).
    fn set(&mut self, conn: Option<Connection>) {
        if let Some(g) = self.guard.as_mut() {
            **g = conn;
        }
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.released.notify_waiters();
    }
}

/// BEGIN, COMMIT or ROLLBACK from the connection's statement cache: `execute_batch` would parse and compile the
/// statement again every time (two per transaction, a few µs each; issue 16).
fn control(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.raw_execute().map(|_| ())
}

fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("opening the SQLite database {}: {e}", path.display()))
}

/// A pooled connection, borrowed for one statement or a few.
pub struct Conn<'p> {
    pool: &'p Pool,
    conn: Option<Connection>,
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.pool.put(c);
        }
    }
}

impl Conn<'_> {
    fn conn(&self) -> Result<&Connection, StoreError> {
        self.conn.as_ref().ok_or_else(|| StoreError::Db("connection already returned".into()))
    }
}

/// A write transaction: the write lock and its connection, `BEGIN IMMEDIATE` done. Rolled back on drop unless
/// committed.
pub struct Tx {
    pool: Arc<Pool>,
    writer: WriteGuard,
    done: bool,
}

impl Tx {
    pub fn conn(&mut self) -> TxConn<'_> {
        TxConn(self.writer.conn())
    }

    pub fn commit(mut self) -> Result<(), StoreError> {
        let conn = self.writer.conn().ok_or_else(|| StoreError::Db("transaction already finished".into()))?;
        control(conn, "COMMIT").map_err(StoreError::from)?;
        self.done = true;
        self.pool.committed(conn);
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        let rolled_back = match self.writer.conn() {
            Some(conn) if !self.done => control(conn, "ROLLBACK").is_ok(),
            _ => true,
        };
        // A connection in an unknown transaction state is not reused.
        if !rolled_back || self.writer.conn().is_some_and(|c| !c.is_autocommit()) {
            self.writer.set(None);
        }
    }
}

pub struct TxConn<'t>(Option<&'t Connection>);

impl TxConn<'_> {
    fn conn(&self) -> Result<&Connection, StoreError> {
        self.0.ok_or_else(|| StoreError::Db("transaction already finished".into()))
    }

    pub fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        run_execute(self.conn()?, sql, params)
    }

    pub fn fetch_optional<T>(&self, sql: &str, params: &[Param<'_>], map: Mapper<T>) -> Result<Option<T>, StoreError> {
        run_fetch_optional(self.conn()?, sql, params, map)
    }
}

fn prepare<'c>(
    conn: &'c Connection,
    sql: &str,
    params: &[Param<'_>],
) -> Result<rusqlite::CachedStatement<'c>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(StoreError::from)?;
    if stmt.parameter_count() != params.len() {
        return Err(StoreError::Db(format!(
            "statement has {} parameters, {} given: {sql}",
            stmt.parameter_count(),
            params.len()
        )));
    }
    // The store's convention (db.rs): `$n` numbered in order of first appearance, so position n is `$n`.
    #[cfg(debug_assertions)]
    for i in 1..=params.len() {
        let expected = format!("${i}");
        if stmt.parameter_name(i) != Some(expected.as_str()) {
            return Err(StoreError::Db(format!(
                "parameter {i} is {:?}, expected {expected}: {sql}",
                stmt.parameter_name(i)
            )));
        }
    }
    for (i, p) in params.iter().enumerate() {
        let idx = i + 1;
        let bound = match *p {
            Param::Text(v) => stmt.raw_bind_parameter(idx, v),
            Param::OptText(v) => stmt.raw_bind_parameter(idx, v),
            Param::I64(v) => stmt.raw_bind_parameter(idx, v),
            Param::OptI64(v) => stmt.raw_bind_parameter(idx, v),
            Param::I32(v) => stmt.raw_bind_parameter(idx, v),
            Param::Bool(v) => stmt.raw_bind_parameter(idx, v),
        };
        bound.map_err(StoreError::from)?;
    }
    Ok(stmt)
}

fn run_execute(conn: &Connection, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
    let mut stmt = prepare(conn, sql, params)?;
    let n = stmt.raw_execute().map_err(StoreError::from)?;
    Ok(n as u64)
}

fn run_fetch_optional<T>(
    conn: &Connection,
    sql: &str,
    params: &[Param<'_>],
    map: Mapper<T>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = prepare(conn, sql, params)?;
    let mut rows = stmt.raw_query();
    let first = match rows.next().map_err(StoreError::from)? {
        Some(row) => Some(map(row)?),
        None => None,
    };
    // Step to the end so that an UPDATE … RETURNING finishes its work before the statement is reset.
    while rows.next().map_err(StoreError::from)?.is_some() {}
    Ok(first)
}

fn run_fetch_all<T>(conn: &Connection, sql: &str, params: &[Param<'_>], map: Mapper<T>) -> Result<Vec<T>, StoreError> {
    let mut stmt = prepare(conn, sql, params)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(StoreError::from)? {
        out.push(map(row)?);
    }
    Ok(out)
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match &e {
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                ErrorCode::ConstraintViolation
                    if matches!(
                        f.extended_code,
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    ) =>
                {
                    StoreError::Conflict("record")
                }
                // Locked past the busy timeout, out of disk, I/O trouble: the database is there but cannot serve now.
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::OutOfMemory => StoreError::Unavailable(format!("database: {e}")),
                _ => StoreError::Db(format!("database: {e}")),
            },
            _ => StoreError::Db(format!("database: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The write lock under contention from many tasks on several threads: every transaction runs (no waiter is
    /// left asleep after a release), and none overlaps another (the counter ends exactly at the number of
    /// increments: a read-modify-write in each transaction).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_write_lock_loses_no_waiter_and_admits_one_writer_at_a_time() {
        let dir = tempfile::tempdir().expect("tmp");
        let pool = Arc::new(Pool::open(&dir.path().join("t.db")).expect("open"));
        pool.execute("CREATE TABLE n (v INTEGER NOT NULL)", &[]).await.expect("create");
        pool.execute("INSERT INTO n (v) VALUES (0)", &[]).await.expect("insert");
        let (tasks, each) = (64, 25);
        let mut handles = Vec::new();
        for _ in 0..tasks {
            let pool = pool.clone();
            handles.push(tokio::spawn(async move {
                for _ in 0..each {
                    let mut tx = pool.clone().begin().await.expect("begin");
                    let v = tx.conn().fetch_optional("SELECT v FROM n", &[], |r| r.int(0)).expect("read");
                    tokio::task::yield_now().await; // another task may try the lock meanwhile
                    tx.conn().execute("UPDATE n SET v = $1", &[Param::I64(v.unwrap_or(0) + 1)]).expect("write");
                    tx.commit().expect("commit");
                }
            }));
        }
        let all = async {
            for h in handles {
                h.await.expect("task");
            }
        };
        tokio::time::timeout(Duration::from_secs(60), all).await.expect("every waiter was woken");
        let v = pool.fetch_optional("SELECT v FROM n", &[], |r| r.int(0)).await.expect("read");
        assert_eq!(v, Some(tasks * each));
    }

    /// A table, and `n` commits of one ~1 KB row each (a WAL frame or two per commit).
    async fn commits(pool: &Pool, n: usize) {
        let pad = "x".repeat(1000);
        for i in 0..n {
            let i = i64::try_from(i).expect("small");
            pool.execute("INSERT INTO t (v, pad) VALUES ($1, $2)", &[Param::I64(i), Param::Text(&pad)])
                .await
                .expect("insert");
        }
    }

    async fn table(dir: &tempfile::TempDir) -> (Arc<Pool>, PathBuf) {
        let path = dir.path().join("t.db");
        let pool = Arc::new(Pool::open(&path).expect("open"));
        pool.execute("CREATE TABLE t (v INTEGER NOT NULL, pad TEXT NOT NULL)", &[]).await.expect("create");
        (pool, dir.path().join("t.db-wal"))
    }

    const FRAME: u64 = 4096 + 24;

    /// Issue 16: with the background checkpoints running, the writer connection does not checkpoint inside its
    /// commits (`wal_autocheckpoint` 0), yet the WAL is copied back and started over while the writes go on: after
    /// 4,000 commits the WAL file holds under 3,072 frames (one that never started over would hold 4,000 or more).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn background_checkpoints_keep_the_wal_small() {
        let dir = tempfile::tempdir().expect("tmp");
        let (pool, wal) = table(&dir).await;
        tokio::spawn(pool.clone().run_checkpoints());
        while !pool.checkpoints.background.load(Ordering::Acquire) {
            tokio::task::yield_now().await;
        }
        {
            let writer = pool.writer.acquire().await;
            let auto: i64 = writer
                .conn()
                .expect("the writer connection")
                .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
                .expect("pragma");
            assert_eq!(auto, 0, "no checkpoint inside a commit");
        }
        commits(&pool, 4000).await;
        assert!(pool.checkpoints.done.load(Ordering::Relaxed) >= 1, "the background task checkpointed");
        let size = std::fs::metadata(&wal).expect("wal").len();
        assert!(size < 3 * CHECKPOINT_INLINE_AFTER * FRAME, "WAL file {size} bytes");
        let rows = pool.fetch_optional("SELECT COUNT(*) FROM t", &[], |r| r.int(0)).await.expect("count");
        assert_eq!(rows, Some(4000));
    }

    /// Should the background task stop (or fall behind), the writer checkpoints itself after
    /// `CHECKPOINT_INLINE_AFTER` commits: the WAL stays bounded whatever happens to that task.
    #[tokio::test]
    async fn without_the_background_task_the_writer_checkpoints_itself() {
        let dir = tempfile::tempdir().expect("tmp");
        let (pool, wal) = table(&dir).await;
        // What `run_checkpoints` does first, without the loop that would follow.
        pool.checkpoints.background.store(true, Ordering::Release);
        pool.writer.acquire().await.set(None);
        commits(&pool, 5000).await;
        let size = std::fs::metadata(&wal).expect("wal").len();
        assert!(size < 3 * CHECKPOINT_INLINE_AFTER * FRAME, "WAL file {size} bytes: it never started over");
        assert_eq!(pool.checkpoints.done.load(Ordering::Relaxed), 0, "no background checkpoint ran");
    }
}
