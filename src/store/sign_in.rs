//! The writes of a successful password sign-in, committed together: the lockout count starts over, the audit event,
//! and what the sign-in starts: the session (ending the browser's old one) and, when it answers an authorization
//! request with a code, that code. One transaction, one commit, on SQLite; one statement, one round trip, on
//! PostgreSQL. Issue 16: the hosted login wrote them in three commits (five per login flow with the attempt's
//! reservation and the code's redemption), each with its own write lock, WAL commit frame and, on PostgreSQL, round
//! trip. Together they also cannot half-happen: no session without its code, no sign-in without its audit event.
use super::audit::{self, AuditEvent};
use super::db::{Engine, Param};
use super::grants::{code_cols, code_params, CodeRecord};
use super::sessions::{session_cols, session_params, start_session_in, SessionRecord};
use super::throttle::clear;
use super::{Store, StoreError};

/// A verified password's bookkeeping: the throttle key whose count starts over, and the sign-in's audit event.
#[derive(Debug, Clone)]
pub struct SignInRecord<'a> {
    pub throttle_key: &'a str,
    pub event: AuditEvent<'a>,
}

/// What the sign-in starts, written with its [`SignInRecord`].
#[derive(Debug, Clone, Copy)]
pub struct Started<'a> {
    pub session: &'a SessionRecord,
    /// The hash of the browser's previous session, which ends in the same write (no fixation).
    pub replaces: Option<&'a str>,
    /// The authorization code the sign-in answers its authorization request with.
    pub code: Option<&'a CodeRecord>,
}

/// PostgreSQL: data-modifying CTEs all run, on one snapshot, whether or not the main statement reads them, and a
/// failure in any (a duplicate session id) fails the whole statement. `$8` is the replaced session's hash (NULL: none).
macro_rules! pg_prefix {
    () => {
        concat!(
            "WITH cleared AS (",
            clear!(),
            "), audited AS (INSERT INTO audit_events (at, actor, action, subject, client_ip, outcome) \
             VALUES ($2, $3, $4, $5, $6, $7))"
        )
    };
}
macro_rules! pg_session {
    () => {
        concat!("INSERT INTO sessions (", session_cols!(), ") VALUES ($9, $10, $11, $12, $13, $14, $15, $16, $17)")
    };
}
const PG_RECORD: &str = concat!(pg_prefix!(), " SELECT 1");
const PG_SESSION: &str = concat!(pg_prefix!(), ", ended AS (DELETE FROM sessions WHERE id_hash = $8) ", pg_session!());
const PG_SESSION_AND_CODE: &str = concat!(
    pg_prefix!(),
    ", ended AS (DELETE FROM sessions WHERE id_hash = $8), started AS (",
    pg_session!(),
    ") INSERT INTO authorization_codes (",
    code_cols!(),
    ") VALUES ($18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33)"
);

impl Store {
    /// Writes a successful sign-in: `record`, and with it what it `started` (see the module doc).
    pub async fn record_sign_in(
        &self,
        record: &SignInRecord<'_>,
        started: Option<&Started<'_>>,
        now: i64,
    ) -> Result<(), StoreError> {
        let e = &record.event;
        let head = [
            Param::from(record.throttle_key),
            Param::from(now),
            Param::from(e.actor),
            Param::from(e.action),
            Param::from(e.subject),
            Param::from(e.client_ip),
            Param::from(e.outcome),
        ];
        match self.db.engine() {
            Engine::Postgres => {
                let Some(s) = started else { return self.db.execute(PG_RECORD, &head).await.map(|_| ()) };
                let mut params: Vec<Param<'_>> = head.to_vec();
                params.push(Param::from(s.replaces));
                params.extend(session_params(s.session));
                let sql = match s.code {
                    Some(c) => {
                        params.extend(code_params(c));
                        PG_SESSION_AND_CODE
                    }
                    None => PG_SESSION,
                };
                self.db.execute(sql, &params).await.map(|_| ())
            }
            Engine::Sqlite => {
                let mut tx = self.db.begin().await?;
                tx.execute(clear!(), &head[..2]).await?;
                audit::insert_in(&mut tx, &record.event, now).await?;
                if let Some(s) = started {
                    start_session_in(&mut tx, s.session, s.replaces).await?;
                    if let Some(c) = s.code {
                        tx.execute(super::grants::INSERT_CODE, &code_params(c)).await?;
                    }
                }
                tx.commit().await
            }
        }
    }
}
