//! Password sign-in with lockout (SPEC §5). Unknown e-mail, wrong password, disabled and locked users all get the
//! same answer after the same work: an argon2 verification always runs (against a dummy hash if need be).
use crate::state::AppState;
use crate::store::audit::AuditEvent;
use crate::store::entity::{customer_account, license_user};
use crate::store::StoreError;

pub enum LoginOutcome {
    Success(license_user::Model),
    Failed,
}

pub async fn authenticate(
    state: &AppState,
    account: &customer_account::Model,
    email: &str,
    password: &str,
    client_ip: Option<&str>,
) -> Result<LoginOutcome, StoreError> {
    let now = state.now();
    let user = if email.len() <= 254 { state.store.find_user_by_email(&account.id, email.trim()).await? } else { None };
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let verified = state.verify_password(password, stored).await;
    let subject = format!("{}/{}", account.code, email.trim().to_lowercase());
    let Some(user) = user else {
        audit(state, "login", &subject, client_ip, "failure: unknown user", now).await;
        return Ok(LoginOutcome::Failed);
    };
    let locked = user.locked_until.is_some_and(|t| t > now);
    if verified && !locked && !user.disabled {
        // Most logins have nothing to reset: skip the write then (it is on every login's path).
        if user.failed_logins > 0 || user.locked_until.is_some() {
            state.store.reset_login_failures(&user.id).await?;
        }
        crate::metrics::Metrics::inc(&state.metrics.logins_ok);
        audit(state, "login", &user.id, client_ip, "success", now).await;
        return Ok(LoginOutcome::Success(user));
    }
    let outcome = if locked {
        "failure: locked"
    } else if user.disabled {
        "failure: disabled"
    } else {
        if state.store.record_login_failure(&user.id, now, state.config.lockout_threshold, state.config.lockout_seconds).await? {
            audit(state, "login.lockout", &user.id, client_ip, "locked", now).await;
        }
        "failure: wrong password"
    };
    crate::metrics::Metrics::inc(&state.metrics.logins_failed);
    audit(state, "login", &user.id, client_ip, outcome, now).await;
    Ok(LoginOutcome::Failed)
}

/// Audit failures are logged, never turned into a failed login.
pub async fn audit(state: &AppState, action: &str, subject: &str, client_ip: Option<&str>, outcome: &str, now: i64) {
    let e = AuditEvent { actor: "license_user", action, subject, client_ip, outcome };
    if let Err(err) = state.store.audit(e, now).await {
        tracing::error!(error = %err, action, "writing an audit event failed");
    }
}
