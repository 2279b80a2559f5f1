//! One-time login credentials minted by trusted backends (SPEC §6): Tyk-style nonces, SendGrid-style 303 codes,
//! minted SSO token ids. Stored hashed; claimed by one conditional UPDATE, so exactly one redemption wins.
use super::db::{params, Row, Tx};
use super::sessions::{start_session_in, SessionRecord};
use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeRecord {
    pub token_hash: String,
    pub kind: String,
    pub license_user_id: String,
    pub payload: Option<String>,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub created_at: i64,
}

/// The columns of a record, in the order [`record`] reads them.
macro_rules! cols {
    () => {
        "token_hash, kind, license_user_id, payload, expires_at, consumed_at, created_at"
    };
}

fn record(r: &dyn Row) -> Result<OneTimeRecord, StoreError> {
    Ok(OneTimeRecord {
        token_hash: r.text(0)?,
        kind: r.text(1)?,
        license_user_id: r.text(2)?,
        payload: r.opt_text(3)?,
        expires_at: r.int(4)?,
        consumed_at: r.opt_int(5)?,
        created_at: r.int(6)?,
    })
}

/// The single-use claim (`$1` now, `$2` token hash, `$3` kind): it matches only while the credential is unexpired
/// and unused, so of concurrent claims exactly one updates the row.
macro_rules! claim_sql {
    () => {
        "UPDATE one_time_tokens SET consumed_at = $1 WHERE token_hash = $2 AND kind = $3 AND consumed_at IS NULL \
            AND expires_at > $1"
    };
}

/// A one-time credential to claim inside another write's transaction (`claim_in`): both happen or neither.
pub struct Claim<'a> {
    pub token_hash: &'a str,
    pub kind: &'a str,
    pub now: i64,
}

/// Inside `tx`: claims the credential if it is unexpired and unused. False when it is not (nothing written).
pub(super) async fn claim_in(tx: &mut Tx, c: &Claim<'_>) -> Result<bool, StoreError> {
    let claimed = tx.execute(claim_sql!(), params![c.now, c.token_hash, c.kind]).await?;
    Ok(claimed == 1)
}

pub struct NewOneTime<'a> {
    pub token_hash: &'a str,
    pub kind: &'a str,
    pub user_id: &'a str,
    pub payload: Option<&'a str>,
    pub expires_at: i64,
}

impl Store {
    pub async fn insert_one_time(&self, t: &NewOneTime<'_>, now: i64) -> Result<(), StoreError> {
        self.db
            .execute(
                concat!("INSERT INTO one_time_tokens (", cols!(), ") VALUES ($1, $2, $3, $4, $5, NULL, $6)"),
                params![t.token_hash, t.kind, t.user_id, t.payload, t.expires_at, now],
            )
            .await
            .map(|_| ())
    }

    /// Claims the credential: Some(record) for exactly one caller while it is unexpired and unused.
    pub async fn claim_one_time(
        &self,
        token_hash: &str,
        kind: &str,
        now: i64,
    ) -> Result<Option<OneTimeRecord>, StoreError> {
        self.db
            .fetch_optional(concat!(claim_sql!(), " RETURNING ", cols!()), params![now, token_hash, kind], record)
            .await
    }

    /// The credential while it is unexpired and unused, without claiming it: what it grants is looked at first, and
    /// claimed together with it (`claim_one_time_into_session`).
    pub async fn find_one_time(
        &self,
        token_hash: &str,
        kind: &str,
        now: i64,
    ) -> Result<Option<OneTimeRecord>, StoreError> {
        self.db
            .fetch_optional(
                concat!(
                    "SELECT ",
                    cols!(),
                    " FROM one_time_tokens WHERE token_hash = $1 AND kind = $2 AND consumed_at IS NULL AND \
                     expires_at > $3"
                ),
                params![token_hash, kind, now],
                record,
            )
            .await
    }

    /// Claims the credential and starts the session it grants (ending the browser's `replaces`) in one transaction:
    /// both or neither, so a failure after the claim cannot burn the link. False when another redemption claimed
    /// it first or it has expired meanwhile (nothing written).
    pub async fn claim_one_time_into_session(
        &self,
        claim: &Claim<'_>,
        session: &SessionRecord,
        replaces: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin().await?;
        if !claim_in(&mut tx, claim).await? {
            return Ok(false); // rolled back when `tx` drops
        }
        start_session_in(&mut tx, session, replaces).await?;
        tx.commit().await?;
        Ok(true)
    }
}
