//! Login attempt counters for the lockout (SPEC §5). A row per throttle key (the caller hashes the account, the
//! normalised e-mail and, for a known device, its device id), so unknown e-mail addresses are counted exactly like
//! known ones and nothing about their existence shows.
//!
//! An attempt is *reserved* before the password is checked, by one atomic upsert: under any concurrency at most
//! `threshold` attempts per window are ever checked, and the one over the limit locks the key.
use super::db::params;
use super::{Store, StoreError};

/// The limits of one throttle scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Attempts checked per window before the key locks.
    pub threshold: i32,
    /// How long failures are remembered after the last attempt, seconds.
    pub window: i64,
    /// How long a lock lasts, seconds.
    pub lock_seconds: i64,
}

/// Clears `$1`'s count after a success, unless concurrent attempts have locked the key since this one was reserved:
/// lifting their lock would let the rest of their burst be checked (issue 13 item 3). `$2` is now.
macro_rules! clear {
    () => {
        "DELETE FROM login_throttles WHERE key = $1 AND (locked_until IS NULL OR locked_until <= $2)"
    };
}
pub(crate) use clear;

/// Forgets the counter and lock of the address key `$1` and of every device key under it (`<address key>:<device>`,
/// `auth::password::throttle_key`): a new password (reset by mail, or changed knowing the old one) starts every count
/// of the address over, the user's own browsers included. `substr` rather than a range on the key: PostgreSQL's
/// default collation need not order `:` bytewise. The scan is of a table whose rows live one lockout window.
pub(crate) const FORGET: &str =
    "DELETE FROM login_throttles WHERE key = $1 OR substr(key, 1, length($1) + 1) = $1 || ':'";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// This is attempt number `attempt` (1-based) of the window: check the password.
    Granted { attempt: i32 },
    /// Locked until the given time: do not check the password.
    Locked { until: i64 },
}

impl Store {
    /// Reserves an attempt on `key` (see the module doc). The attempt over the limit locks the key in the same
    /// statement: were the lock a second statement, a concurrent success could delete the row in between, and the
    /// rest of a burst would start a fresh count (issue 13 item 3).
    pub async fn reserve_login_attempt(&self, key: &str, limits: Limits, now: i64) -> Result<Reservation, StoreError> {
        let counted = self
            .db
            .fetch_optional(
                "INSERT INTO login_throttles (key, failures, locked_until, expires_at) VALUES ($1, 1, NULL, $2) \
                 ON CONFLICT (key) DO UPDATE SET \
                 failures = CASE WHEN login_throttles.expires_at <= $3 THEN 1 ELSE login_throttles.failures + 1 END, \
                 locked_until = CASE WHEN login_throttles.expires_at > $3 AND login_throttles.failures >= $4 THEN $5 \
                     ELSE NULL END, \
                 expires_at = CASE WHEN login_throttles.expires_at > $3 AND login_throttles.failures >= $4 THEN $5 \
                     ELSE $2 END \
                 WHERE login_throttles.locked_until IS NULL OR login_throttles.locked_until <= $3 \
                 RETURNING failures, locked_until",
                params![key, now + limits.window, now, limits.threshold, now + limits.lock_seconds],
                |r| Ok((r.int32(0)?, r.opt_int(1)?)),
            )
            .await?;
        match counted {
            Some((attempt, _)) if attempt <= limits.threshold => Ok(Reservation::Granted { attempt }),
            Some((_, until)) => Ok(Reservation::Locked { until: until.unwrap_or(now + limits.lock_seconds) }),
            None => {
                let until = self
                    .db
                    .fetch_optional("SELECT locked_until FROM login_throttles WHERE key = $1", params![key], |r| {
                        r.opt_int(0)
                    })
                    .await?;
                Ok(Reservation::Locked { until: until.flatten().unwrap_or(now + limits.lock_seconds) })
            }
        }
    }

    /// The reserved attempt failed. The last attempt the window allows locks the key; true when this call locked it.
    pub async fn login_attempt_failed(
        &self,
        key: &str,
        attempt: i32,
        limits: Limits,
        now: i64,
    ) -> Result<bool, StoreError> {
        if attempt < limits.threshold {
            return Ok(false);
        }
        Ok(self.lock_login_key(key, limits, now).await?.1)
    }

    /// The reserved attempt succeeded (a second factor; a password sign-in's is written with its session by
    /// [`Store::record_sign_in`]): the count starts over (see [`clear`]).
    pub async fn login_attempt_succeeded(&self, key: &str, now: i64) -> Result<(), StoreError> {
        self.db.execute(clear!(), params![key, now]).await.map(|_| ())
    }

    /// Forgets the counters and locks of these keys and of their devices' keys (see [`FORGET`]), together.
    pub async fn clear_login_throttles(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        for k in keys {
            tx.execute(FORGET, params![k]).await?;
        }
        tx.commit().await
    }

    /// Locks `key` unless it is locked already: the lock's end, and whether this call set it.
    async fn lock_login_key(&self, key: &str, limits: Limits, now: i64) -> Result<(i64, bool), StoreError> {
        let until = now + limits.lock_seconds;
        let n = self
            .db
            .execute(
                "UPDATE login_throttles SET locked_until = $1, expires_at = $1 WHERE key = $2 AND (locked_until IS \
                    NULL OR locked_until <= $3)",
                params![until, key, now],
            )
            .await?;
        Ok((until, n == 1))
    }
}
