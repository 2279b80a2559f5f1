//! Hosted-UI sessions (SPEC §5). The cookie holds a random id; only its hash is kept.
use super::db::{params, Param, Row, Tx};
use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: String,
    /// The public handle in id_tokens (`sid`) and for RP-initiated logout.
    pub sid: String,
    pub license_user_id: String,
    pub customer_account_id: String,
    pub auth_time: i64,
    pub expires_at: i64,
    pub created_at: i64,
    /// How the user authenticated (RFC 8176 `amr` values, space-separated), and the upstream IdP if federated.
    pub amr: Option<String>,
    pub idp: Option<String>,
}

fn session(r: &dyn Row) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id_hash: r.text(0)?,
        sid: r.text(1)?,
        license_user_id: r.text(2)?,
        customer_account_id: r.text(3)?,
        auth_time: r.int(4)?,
        expires_at: r.int(5)?,
        created_at: r.int(6)?,
        amr: r.opt_text(7)?,
        idp: r.opt_text(8)?,
    })
}

macro_rules! session_cols {
    () => {
        "id_hash, sid, license_user_id, customer_account_id, auth_time, expires_at, created_at, amr, idp"
    };
}
pub(crate) use session_cols;

const INSERT_SESSION: &str =
    concat!("INSERT INTO sessions (", session_cols!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");

pub(super) fn session_params(s: &SessionRecord) -> [Param<'_>; 9] {
    [
        Param::from(&s.id_hash),
        Param::from(&s.sid),
        Param::from(&s.license_user_id),
        Param::from(&s.customer_account_id),
        Param::from(s.auth_time),
        Param::from(s.expires_at),
        Param::from(s.created_at),
        Param::from(&s.amr),
        Param::from(&s.idp),
    ]
}

/// Inside `tx`: ends the session `replaces` (if any) and starts `s`.
pub(super) async fn start_session_in(tx: &mut Tx, s: &SessionRecord, replaces: Option<&str>) -> Result<(), StoreError> {
    if let Some(old) = replaces {
        tx.execute("DELETE FROM sessions WHERE id_hash = $1", params![old]).await?;
    }
    tx.execute(INSERT_SESSION, &session_params(s)).await.map(|_| ())
}

impl Store {
    /// Starts a session; when `replaces` names the browser's previous session, it ends in the same transaction
    /// (a fresh id after every sign-in: no fixation).
    pub async fn insert_session(&self, s: &SessionRecord, replaces: Option<&str>) -> Result<(), StoreError> {
        match replaces {
            None => self.db.execute(INSERT_SESSION, &session_params(s)).await.map(|_| ()),
            Some(_) => {
                let mut tx = self.db.begin().await?;
                start_session_in(&mut tx, s, replaces).await?;
                tx.commit().await
            }
        }
    }

    pub async fn find_session(&self, id_hash: &str, now: i64) -> Result<Option<SessionRecord>, StoreError> {
        self.db
            .fetch_optional(
                concat!("SELECT ", session_cols!(), " FROM sessions WHERE id_hash = $1 AND expires_at > $2"),
                params![id_hash, now],
                session,
            )
            .await
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.db.execute("DELETE FROM sessions WHERE id_hash = $1", params![id_hash]).await.map(|_| ())
    }

    /// RP-initiated logout ends every browser session that shares the `sid`.
    pub async fn delete_sessions_by_sid(&self, sid: &str) -> Result<u64, StoreError> {
        self.db.execute("DELETE FROM sessions WHERE sid = $1", params![sid]).await
    }
}
