//! Account recovery (issue 17 item 2): reset and verification links are one-time tokens (stored hashed), a newer
//! link supersedes the user's older ones, and a new password ends the user's sessions and clears the lockout.
use super::db::params;
use super::one_time::{claim_in, Claim, NewOneTime};
use super::{Store, StoreError};

impl Store {
    /// Stores a new link of `kind` for the user and invalidates the older unused ones of the same kind, in one
    /// transaction (a newer link supersedes the older: only the latest mail works).
    pub async fn replace_one_time(&self, t: &NewOneTime<'_>, now: i64) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        tx.execute(
            "UPDATE one_time_tokens SET consumed_at = $1 WHERE license_user_id = $2 AND kind = $3 AND consumed_at IS \
                NULL",
            params![now, t.user_id, t.kind],
        )
        .await?;
        tx.execute(
            "INSERT INTO one_time_tokens (token_hash, kind, license_user_id, payload, expires_at, consumed_at, \
                created_at) VALUES ($1, $2, $3, $4, $5, NULL, $6)",
            params![t.token_hash, t.kind, t.user_id, t.payload, t.expires_at, now],
        )
        .await?;
        tx.commit().await
    }

    /// Whether the link is still usable (unused, unexpired), without using it: the reset page shows its form only
    /// for a live link. Mail scanners that fetch the link do not consume it; only the form's POST does.
    pub async fn one_time_usable(&self, token_hash: &str, kind: &str, now: i64) -> Result<bool, StoreError> {
        Ok(self
            .db
            .fetch_optional(
                "SELECT expires_at FROM one_time_tokens WHERE token_hash = $1 AND kind = $2 AND consumed_at IS NULL AND \
                    expires_at > $3",
                params![token_hash, kind, now],
                |r| r.int(0),
            )
            .await?
            .is_some())
    }

    /// Sets the user's password hash (and marks the address verified when the change came through a mailed link),
    /// ends every session of the user but `keep` (the session id hash of the browser that changed it), and forgets
    /// the lockout counters `throttle_keys` — in one transaction.
    pub async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        verified_by_mail: bool,
        keep: Option<&str>,
        throttle_keys: &[String],
        claim: Option<&Claim<'_>>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin().await?;
        // The reset link that authorises it is claimed in the same transaction: a failure below keeps it usable.
        if let Some(c) = claim {
            if !claim_in(&mut tx, c).await? {
                return Ok(false);
            }
        }
        let n = tx
            .execute(
                "UPDATE license_users SET password_hash = $1, email_verified = (email_verified OR $2) WHERE id = $3",
                params![password_hash, verified_by_mail, user_id],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound("license user"));
        }
        match keep {
            Some(k) => {
                tx.execute("DELETE FROM sessions WHERE license_user_id = $1 AND id_hash <> $2", params![user_id, k])
                    .await?
            }
            None => tx.execute("DELETE FROM sessions WHERE license_user_id = $1", params![user_id]).await?,
        };
        for k in throttle_keys {
            tx.execute(super::throttle::FORGET, params![k]).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Marks the address verified, claiming the verification link in the same transaction. False when the link is
    /// no longer unexpired and unused (nothing written).
    pub async fn verify_email_claiming(&self, user_id: &str, claim: &Claim<'_>) -> Result<bool, StoreError> {
        let mut tx = self.db.begin().await?;
        if !claim_in(&mut tx, claim).await? {
            return Ok(false);
        }
        let n = tx.execute("UPDATE license_users SET email_verified = true WHERE id = $1", params![user_id]).await?;
        if n == 0 {
            return Err(StoreError::NotFound("license user"));
        }
        tx.commit().await?;
        Ok(true)
    }

    /// How many hosted sessions the user has (tests and the portal's notice).
    pub async fn count_user_sessions(&self, user_id: &str) -> Result<i64, StoreError> {
        Ok(self
            .db
            .fetch_optional("SELECT COUNT(*) FROM sessions WHERE license_user_id = $1", params![user_id], |r| r.int(0))
            .await?
            .unwrap_or(0))
    }
}

impl Store {
    /// The payload (the product's client id) of a one-time link.
    pub async fn one_time_payload(&self, token_hash: &str, kind: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .fetch_optional(
                "SELECT payload FROM one_time_tokens WHERE token_hash = $1 AND kind = $2",
                params![token_hash, kind],
                |r| r.opt_text(0),
            )
            .await?
            .flatten())
    }
}
