//! Audit events from the rules (SPEC §2 "audit event"): who acted, what, about whom, from where, with what outcome.
//! Never secrets. Writing one is best effort where the event follows an action already taken (a failure is logged,
//! not turned into a failed request); where an event must commit with its change, the store writes it in the same
//! transaction (activations, deactivations).
use crate::store::audit::AuditEvent;
use crate::store::Store;

/// Who acted: the kind and its identifier, as `kind:id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// A license user (by id), or an unknown one trying to sign in (`license_user:?`).
    pub fn user(id: &str) -> Actor {
        Actor(format!("license_user:{id}"))
    }

    pub fn anonymous() -> Actor {
        Actor("anonymous".into())
    }

    /// An OAuth client (product) acting with its own credentials.
    pub fn client(client_id: &str) -> Actor {
        Actor(format!("client:{client_id}"))
    }

    /// A License API caller (API key, or client id in Bearer mode).
    pub fn license_api(principal: &str) -> Actor {
        Actor(format!("license_api:{principal}"))
    }

    /// A management token or the instance admin, named by the caller (`tyk-api`, `native-api`, …).
    pub fn manager(name: &str) -> Actor {
        Actor(format!("manager:{name}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Writes `e`; a failure is logged (with the action, never the subject's secrets) and otherwise ignored.
pub async fn record(store: &Store, e: AuditEvent<'_>, now: i64) {
    if let Err(err) = store.audit(&e, now).await {
        tracing::error!(error = %err, action = e.action, "writing an audit event failed");
    }
}
