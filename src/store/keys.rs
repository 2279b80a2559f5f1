//! Keys in the database (issue 15 item 1): rows of sealed private keys. Sealing and parsing are `crypto`'s business;
//! this module stores and lists opaque sealed values, and tells the other replicas when they change.
use super::db::{params, Engine, Row};
use super::{Store, StoreError};

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// OpenID signing keys (JWKS).
    Oidc,
    /// The License API response signing key.
    License,
    /// The CSRF / device-token MAC key.
    Cookie,
}

impl KeyPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Oidc => "oidc",
            KeyPurpose::License => "license",
            KeyPurpose::Cookie => "cookie",
        }
    }

    fn parse(s: &str) -> Result<KeyPurpose, StoreError> {
        match s {
            "oidc" => Ok(KeyPurpose::Oidc),
            "license" => Ok(KeyPurpose::License),
            "cookie" => Ok(KeyPurpose::Cookie),
            other => Err(StoreError::Corrupt(format!("key purpose {other}"))),
        }
    }
}

/// One stored key. `sealed` is `kek1.…` (see `crypto::kek`); Debug leaves it out.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub id: String,
    pub purpose: KeyPurpose,
    /// "RS256", "ES256" or "HS256" (the cookie key).
    pub alg: String,
    pub sealed: String,
    /// Published (in the JWKS) from here.
    pub created_at: i64,
    /// Signs from here.
    pub signing_at: i64,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("id", &self.id)
            .field("purpose", &self.purpose)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("signing_at", &self.signing_at)
            .finish_non_exhaustive()
    }
}

fn key_row(r: &dyn Row) -> Result<KeyRow, StoreError> {
    Ok(KeyRow {
        id: r.text(0)?,
        purpose: KeyPurpose::parse(&r.text(1)?)?,
        alg: r.text(2)?,
        sealed: r.text(3)?,
        created_at: r.int(4)?,
        signing_at: r.int(5)?,
    })
}

const INSERT: &str =
    "INSERT INTO keys (id, purpose, alg, sealed, created_at, signing_at) VALUES ($1, $2, $3, $4, $5, $6) \
                      ON CONFLICT (id) DO NOTHING";

/// The parameters of `INSERT` for one row.
macro_rules! insert_params {
    ($r:expr) => {
        params![&$r.id, $r.purpose.as_str(), &$r.alg, &$r.sealed, $r.created_at, $r.signing_at]
    };
}

/// The PostgreSQL channel replicas listen on (`startup::listen_for_invalidations`). Payloads: `keys`, `cache`.
pub const CHANNEL: &str = "keyway_invalidate";

impl Store {
    /// Every stored key, oldest first.
    pub async fn list_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        self.db
            .fetch_all(
                "SELECT id, purpose, alg, sealed, created_at, signing_at FROM keys ORDER BY signing_at, id",
                params![],
                key_row,
            )
            .await
    }

    /// True when the database holds any key (sealed keys exist: a KEK is needed).
    pub async fn has_keys(&self) -> Result<bool, StoreError> {
        Ok(self.db.fetch_optional("SELECT 1 FROM keys LIMIT 1", params![], |r| r.int32(0)).await?.is_some())
    }

    /// The first key set, exactly once under concurrent first starts: `rows[0]` (a fixed id) is the claim. Whoever
    /// inserts it inserts the rest in the same transaction; on PostgreSQL a concurrent inserter of the same id waits
    /// for that transaction and then inserts nothing, on SQLite writers are serialised. False: another process won,
    /// read its keys.
    pub async fn insert_first_keys(&self, rows: &[KeyRow]) -> Result<bool, StoreError> {
        let Some((claim, rest)) = rows.split_first() else { return Ok(false) };
        let mut tx = self.db.begin().await?;
        let won = tx.execute(INSERT, insert_params!(claim)).await? == 1;
        if !won {
            return Ok(false);
        }
        for r in rest {
            tx.execute(INSERT, insert_params!(r)).await?;
        }
        tx.commit().await?;
        self.notify(NOTIFY_KEYS).await;
        Ok(true)
    }

    /// Adds keys (a rotation, or a key family added later under a fixed id); rows whose id exists are skipped.
    pub async fn insert_keys(&self, rows: &[KeyRow]) -> Result<u64, StoreError> {
        let mut tx = self.db.begin().await?;
        let mut n = 0;
        for r in rows {
            n += tx.execute(INSERT, insert_params!(r)).await?;
        }
        tx.commit().await?;
        self.notify(NOTIFY_KEYS).await;
        Ok(n)
    }

    /// `keyway keys rewrap`: replaces sealed values (same keys, sealed under the current KEK) in one transaction.
    pub async fn reseal_keys(&self, rows: &[(String, String)]) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        for (id, sealed) in rows {
            tx.execute("UPDATE keys SET sealed = $1 WHERE id = $2", params![sealed, id]).await?;
        }
        tx.commit().await?;
        self.notify(NOTIFY_KEYS).await;
        Ok(())
    }

    /// Deletes keys that are no longer published anywhere (removed from the JWKS).
    pub async fn delete_keys(&self, ids: &[String]) -> Result<(), StoreError> {
        for id in ids {
            self.db.execute("DELETE FROM keys WHERE id = $1", params![id]).await?;
        }
        Ok(())
    }

    /// Tells the other replicas (PostgreSQL `NOTIFY`) that something they cache changed. Best effort: the write has
    /// committed already, and a replica that misses it still re-reads on its fallback timer.
    pub(crate) async fn notify(&self, payload: &str) {
        if self.engine() != Engine::Postgres {
            return;
        }
        if let Err(e) = self.db.execute("SELECT pg_notify($1, $2)", params![CHANNEL, payload]).await {
            tracing::warn!(error = %e, payload, "invalidation notify failed");
        }
    }

    /// A change to cached products, accounts or API keys through this process: drop the local caches and tell the
    /// other replicas to drop theirs.
    pub(crate) async fn invalidate_caches(&self) {
        self.clear_caches();
        self.notify(NOTIFY_CACHE).await;
    }
}

pub const NOTIFY_KEYS: &str = "keys";
pub const NOTIFY_CACHE: &str = "cache";

/// What another replica changed (a `NOTIFY` on [`CHANNEL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// Keys were added, rescheduled or resealed: re-read them.
    Keys,
    /// Products, accounts or API keys changed: drop the caches.
    Caches,
}

/// A dedicated PostgreSQL connection listening on [`CHANNEL`].
pub struct Listener {
    inner: sqlx::postgres::PgListener,
}

impl Store {
    /// PostgreSQL: a connection that receives the other replicas' invalidations. SQLite (one process): `None`.
    pub async fn listen(&self) -> Result<Option<Listener>, StoreError> {
        match &self.db.pool {
            super::db::Pool::Postgres(pool) => {
                let mut inner = sqlx::postgres::PgListener::connect_with(pool).await.map_err(StoreError::from)?;
                inner.listen(CHANNEL).await.map_err(StoreError::from)?;
                Ok(Some(Listener { inner }))
            }
            super::db::Pool::Sqlite(_) => Ok(None),
        }
    }
}

impl Listener {
    /// The next invalidation. An error (or a lost connection) means notifications may have been missed: drop this
    /// listener, make a new one, and re-read everything cached.
    pub async fn next(&mut self) -> Result<Invalidation, StoreError> {
        match self.inner.try_recv().await {
            Ok(Some(n)) if n.payload() == NOTIFY_KEYS => Ok(Invalidation::Keys),
            Ok(Some(_)) => Ok(Invalidation::Caches),
            Ok(None) => Err(StoreError::Unavailable("the invalidation listener lost its connection".into())),
            Err(e) => Err(StoreError::from(e)),
        }
    }
}
