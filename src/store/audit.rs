//! The audit trail: who did what, to whom, from where, with what outcome. Never secrets.
use super::db::{params, Row, Tx};
use super::{Store, StoreError};

/// One event. `actor` names who acted (a license user, an API key, a management token…), `subject` what it was
/// about.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub client_ip: Option<&'a str>,
    pub outcome: &'a str,
}

/// A stored event (read back by tests and operators).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub client_ip: Option<String>,
    pub outcome: String,
}

const INSERT: &str =
    "INSERT INTO audit_events (at, actor, action, subject, client_ip, outcome) VALUES ($1, $2, $3, $4, $5, $6)";

/// Writes `e` inside a transaction, so the event commits with the change it describes.
pub(crate) async fn insert_in(tx: &mut Tx, e: &AuditEvent<'_>, now: i64) -> Result<(), StoreError> {
    tx.execute(INSERT, params![now, e.actor, e.action, e.subject, e.client_ip, e.outcome]).await.map(|_| ())
}

fn record(r: &dyn Row) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: r.int(0)?,
        at: r.int(1)?,
        actor: r.text(2)?,
        action: r.text(3)?,
        subject: r.text(4)?,
        client_ip: r.opt_text(5)?,
        outcome: r.text(6)?,
    })
}

impl Store {
    pub async fn audit(&self, e: &AuditEvent<'_>, now: i64) -> Result<(), StoreError> {
        self.db.execute(INSERT, params![now, e.actor, e.action, e.subject, e.client_ip, e.outcome]).await.map(|_| ())
    }

    /// Events in the order written, optionally of one action.
    pub async fn audit_events(&self, action: Option<&str>) -> Result<Vec<AuditRecord>, StoreError> {
        match action {
            Some(a) => {
                self.db
                    .fetch_all(
                        "SELECT id, at, actor, action, subject, client_ip, outcome FROM audit_events WHERE \
                        action = $1 ORDER BY id",
                        params![a],
                        record,
                    )
                    .await
            }
            None => {
                self.db
                    .fetch_all(
                        "SELECT id, at, actor, action, subject, client_ip, outcome FROM audit_events \
                ORDER BY id",
                        &[],
                        record,
                    )
                    .await
            }
        }
    }
}
