//! Multi-factor authentication records (issue 17 items 3, 4): TOTP secrets, recovery codes, passkeys, the pending
//! second-factor state and WebAuthn ceremonies, and the per-account MFA policy.
//!
//! Every one-time thing is claimed by one conditional statement checked by rows-affected: a TOTP time step
//! (`last_step < $step`), a recovery code (`used_at IS NULL`), a pending state (`DELETE … RETURNING`).
use super::db::{params, Row};
use super::{Store, StoreError};

/// A user's TOTP enrolment (only confirmed ones are stored); `secret_enc` is sealed with the KEK (older rows: by
/// `auth::mfa::seal` with a key derived from the cookie key).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub license_user_id: String,
    pub secret_enc: String,
    pub confirmed: bool,
    pub last_step: Option<i64>,
}

impl std::fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRecord")
            .field("license_user_id", &self.license_user_id)
            .field("secret_enc", &"[redacted]")
            .field("confirmed", &self.confirmed)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// base64url (no padding) credential id.
    pub credential_id: String,
    pub license_user_id: String,
    pub name: String,
    /// webauthn-rs `Passkey`, JSON.
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

fn passkey(r: &dyn Row) -> Result<PasskeyRecord, StoreError> {
    Ok(PasskeyRecord {
        credential_id: r.text(0)?,
        license_user_id: r.text(1)?,
        name: r.text(2)?,
        passkey: r.text(3)?,
        created_at: r.int(4)?,
        last_used_at: r.opt_int(5)?,
    })
}

/// The state between a first factor and the second (kind `login`), or of a WebAuthn ceremony (`passkey_register`,
/// `passkey_login`). The browser holds a random id; only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PendingRecord {
    pub id_hash: String,
    pub kind: String,
    pub license_user_id: Option<String>,
    pub customer_account_id: Option<String>,
    /// The methods of the first factor (space-separated RFC 8176 values).
    pub amr: Option<String>,
    pub idp: Option<String>,
    /// `federation::ReturnTo` encoded.
    pub return_to: Option<String>,
    /// WebAuthn ceremony state (JSON).
    pub state: Option<String>,
    /// Set once the second factor passed (the methods it added) while the user still has to read recovery codes.
    pub verified: Option<String>,
    pub expires_at: i64,
}

const PENDING_COLS: &str =
    "id_hash, kind, license_user_id, customer_account_id, amr, idp, return_to, state, verified, expires_at";

fn pending(r: &dyn Row) -> Result<PendingRecord, StoreError> {
    Ok(PendingRecord {
        id_hash: r.text(0)?,
        kind: r.text(1)?,
        license_user_id: r.opt_text(2)?,
        customer_account_id: r.opt_text(3)?,
        amr: r.opt_text(4)?,
        idp: r.opt_text(5)?,
        return_to: r.opt_text(6)?,
        state: r.opt_text(7)?,
        verified: r.opt_text(8)?,
        expires_at: r.int(9)?,
    })
}

/// The MFA policy of a customer account (none stored: both off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MfaPolicy {
    /// Every user must pass a second factor (and enrol one at the next sign-in if they have none).
    pub required: bool,
    /// A federated sign-in needs keyway's second factor on top of the IdP's.
    pub after_idp: bool,
}

/// A user's second factors: a confirmed TOTP, and how many passkeys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserFactors {
    pub totp: bool,
    pub passkeys: i64,
}

/// The two columns of [`UserFactors`] for the user row aliased `u`, so they can come with the user's own columns.
macro_rules! factor_cols {
    () => {
        "EXISTS (SELECT 1 FROM mfa_totp t WHERE t.license_user_id = u.id AND t.confirmed = TRUE), \
            (SELECT COUNT(*) FROM mfa_passkeys p WHERE p.license_user_id = u.id)"
    };
}
pub(crate) use factor_cols;

/// [`UserFactors`] from the two [`factor_cols`] columns starting at `at`.
pub(crate) fn user_factors(r: &dyn Row, at: usize) -> Result<UserFactors, StoreError> {
    Ok(UserFactors { totp: r.flag(at)?, passkeys: r.int(at + 1)? })
}

impl Store {
    // --- TOTP ---------------------------------------------------------------------------------------------

    pub async fn find_totp(&self, user_id: &str) -> Result<Option<TotpRecord>, StoreError> {
        self.db
            .fetch_optional(
                "SELECT license_user_id, secret_enc, confirmed, last_step FROM mfa_totp WHERE license_user_id = $1",
                params![user_id],
                |r| {
                    Ok(TotpRecord {
                        license_user_id: r.text(0)?,
                        secret_enc: r.text(1)?,
                        confirmed: r.flag(2)?,
                        last_step: r.opt_int(3)?,
                    })
                },
            )
            .await
    }

    /// Stores a confirmed enrolment (the secret was confirmed by a code of `step`, which counts as used), the secret
    /// sealed with the KEK (issue 15) and bound to the user. False when the user has one already.
    pub async fn insert_totp(&self, user_id: &str, secret: &[u8], step: i64, now: i64) -> Result<bool, StoreError> {
        let kek = self.kek().ok_or_else(|| StoreError::Corrupt("storing a TOTP secret, and no KEK loaded".into()))?;
        let secret_enc = kek
            .seal(&totp_context(user_id), secret)
            .map_err(|e| StoreError::Db(format!("sealing the TOTP secret: {e}")))?;
        let n = self
            .db
            .execute(
                "INSERT INTO mfa_totp (license_user_id, secret_enc, confirmed, last_step, created_at) \
                 VALUES ($1, $2, TRUE, $3, $4) ON CONFLICT (license_user_id) DO NOTHING",
                params![user_id, &secret_enc, step, now],
            )
            .await?;
        Ok(n == 1)
    }

    /// The plaintext of a stored TOTP secret when it is sealed with the KEK; None for a secret stored in the earlier
    /// cookie-key form (`auth::mfa::seal`), which the caller still opens.
    pub fn open_totp_secret(&self, rec: &TotpRecord) -> Result<Option<Vec<u8>>, StoreError> {
        if !crate::crypto::kek::is_sealed(&rec.secret_enc) {
            return Ok(None);
        }
        let kek = self.kek().ok_or_else(|| StoreError::Corrupt("a sealed TOTP secret, and no KEK loaded".into()))?;
        kek.open(&totp_context(&rec.license_user_id), &rec.secret_enc)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("TOTP secret of {}: {e}", rec.license_user_id)))
    }

    /// `keyway keys rewrap`: re-seals TOTP secrets not sealed under the first KEK (each update conditional on the
    /// value read, so a concurrent change wins).
    pub async fn rewrap_totp_secrets(&self, kek: &crate::crypto::kek::Kek) -> Result<usize, StoreError> {
        let rows = self
            .db
            .fetch_all("SELECT license_user_id, secret_enc FROM mfa_totp", params![], |r| Ok((r.text(0)?, r.text(1)?)))
            .await?;
        let mut n = 0;
        for (user, stored) in rows.into_iter().filter(|(_, v)| crate::crypto::kek::is_sealed(v) && !kek.is_current(v)) {
            let context = totp_context(&user);
            let plain =
                kek.open(&context, &stored).map_err(|e| StoreError::Corrupt(format!("TOTP secret of {user}: {e}")))?;
            let sealed =
                kek.seal(&context, &plain).map_err(|e| StoreError::Db(format!("sealing the TOTP secret: {e}")))?;
            n += self
                .db
                .execute(
                    "UPDATE mfa_totp SET secret_enc = $1 WHERE license_user_id = $2 AND secret_enc = $3",
                    params![&sealed, &user, &stored],
                )
                .await? as usize;
        }
        Ok(n)
    }

    /// Accepts time step `step` for the user: true for exactly one caller per step, and only for a step later than
    /// every step accepted before (RFC 6238 §5.2: a code is not accepted twice).
    pub async fn claim_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute(
                "UPDATE mfa_totp SET last_step = $1 WHERE license_user_id = $2 AND confirmed = TRUE \
                 AND (last_step IS NULL OR last_step < $1)",
                params![step, user_id],
            )
            .await?;
        Ok(n == 1)
    }

    pub async fn delete_totp(&self, user_id: &str) -> Result<(), StoreError> {
        self.db.execute("DELETE FROM mfa_totp WHERE license_user_id = $1", params![user_id]).await.map(|_| ())
    }

    // --- recovery codes -----------------------------------------------------------------------------------

    /// Replaces the user's recovery codes with these (hashes), in one transaction.
    pub async fn replace_recovery_codes(&self, user_id: &str, hashes: &[String], now: i64) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        tx.execute("DELETE FROM mfa_recovery_codes WHERE license_user_id = $1", params![user_id]).await?;
        for h in hashes {
            tx.execute(
                "INSERT INTO mfa_recovery_codes (code_hash, license_user_id, used_at, created_at) \
                 VALUES ($1, $2, NULL, $3)",
                params![h, user_id, now],
            )
            .await?;
        }
        tx.commit().await
    }

    /// Uses a recovery code: true for exactly one caller, once.
    pub async fn claim_recovery_code(&self, user_id: &str, hash: &str, now: i64) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute(
                "UPDATE mfa_recovery_codes SET used_at = $1 WHERE code_hash = $2 AND license_user_id = $3 \
                 AND used_at IS NULL",
                params![now, hash, user_id],
            )
            .await?;
        Ok(n == 1)
    }

    pub async fn unused_recovery_codes(&self, user_id: &str) -> Result<i64, StoreError> {
        self.db
            .fetch_optional(
                "SELECT COUNT(*) FROM mfa_recovery_codes WHERE license_user_id = $1 AND used_at IS NULL",
                params![user_id],
                |r| r.int(0),
            )
            .await
            .map(|n| n.unwrap_or(0))
    }

    // --- passkeys -----------------------------------------------------------------------------------------

    pub async fn insert_passkey(&self, p: &PasskeyRecord) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO mfa_passkeys (credential_id, license_user_id, name, passkey, created_at, last_used_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL)",
                params![&p.credential_id, &p.license_user_id, &p.name, &p.passkey, p.created_at],
            )
            .await
            .map(|_| ())
            .map_err(|e| e.conflict_as("passkey"))
    }

    pub async fn passkeys_of(&self, user_id: &str) -> Result<Vec<PasskeyRecord>, StoreError> {
        self.db
            .fetch_all(
                "SELECT credential_id, license_user_id, name, passkey, created_at, last_used_at FROM mfa_passkeys \
                 WHERE license_user_id = $1 ORDER BY created_at, credential_id",
                params![user_id],
                passkey,
            )
            .await
    }

    pub async fn find_passkey(&self, credential_id: &str) -> Result<Option<PasskeyRecord>, StoreError> {
        self.db
            .fetch_optional(
                "SELECT credential_id, license_user_id, name, passkey, created_at, last_used_at FROM mfa_passkeys \
                 WHERE credential_id = $1",
                params![credential_id],
                passkey,
            )
            .await
    }

    /// After a successful assertion: the credential's new state (sign counter, backup flags).
    pub async fn update_passkey(&self, credential_id: &str, passkey: &str, now: i64) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE mfa_passkeys SET passkey = $1, last_used_at = $2 WHERE credential_id = $3",
                params![passkey, now, credential_id],
            )
            .await
            .map(|_| ())
    }

    /// Removes one of the user's passkeys; false when the user has no such passkey.
    pub async fn delete_passkey(&self, user_id: &str, credential_id: &str) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute(
                "DELETE FROM mfa_passkeys WHERE credential_id = $1 AND license_user_id = $2",
                params![credential_id, user_id],
            )
            .await?;
        Ok(n == 1)
    }

    /// Support staff's reset: every factor and recovery code of the user goes, in one transaction.
    pub async fn reset_mfa(&self, user_id: &str) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        tx.execute("DELETE FROM mfa_totp WHERE license_user_id = $1", params![user_id]).await?;
        tx.execute("DELETE FROM mfa_recovery_codes WHERE license_user_id = $1", params![user_id]).await?;
        tx.execute("DELETE FROM mfa_passkeys WHERE license_user_id = $1", params![user_id]).await?;
        tx.execute("DELETE FROM mfa_pending WHERE license_user_id = $1", params![user_id]).await?;
        tx.commit().await
    }

    // --- pending state ------------------------------------------------------------------------------------

    pub async fn insert_pending(&self, p: &PendingRecord, now: i64) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO mfa_pending (id_hash, kind, license_user_id, customer_account_id, amr, idp, return_to, \
                    state, verified, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                params![
                    &p.id_hash,
                    &p.kind,
                    &p.license_user_id,
                    &p.customer_account_id,
                    &p.amr,
                    &p.idp,
                    &p.return_to,
                    &p.state,
                    &p.verified,
                    p.expires_at,
                    now
                ],
            )
            .await
            .map(|_| ())
    }

    pub async fn find_pending(&self, id_hash: &str, kind: &str, now: i64) -> Result<Option<PendingRecord>, StoreError> {
        let sql =
            format!("SELECT {PENDING_COLS} FROM mfa_pending WHERE id_hash = $1 AND kind = $2 AND expires_at > $3");
        self.db.fetch_optional(&sql, params![id_hash, kind, now], pending).await
    }

    /// Sets the ceremony state or the passed second factor of a pending record.
    pub async fn update_pending(
        &self,
        id_hash: &str,
        state: Option<&str>,
        verified: Option<&str>,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE mfa_pending SET state = COALESCE($1, state), verified = COALESCE($2, verified) \
                 WHERE id_hash = $3",
                params![state, verified, id_hash],
            )
            .await
            .map(|_| ())
    }

    /// Takes the pending record: Some for exactly one caller while it is unexpired.
    pub async fn take_pending(&self, id_hash: &str, kind: &str, now: i64) -> Result<Option<PendingRecord>, StoreError> {
        let sql = format!(
            "DELETE FROM mfa_pending WHERE id_hash = $1 AND kind = $2 AND expires_at > $3 RETURNING {PENDING_COLS}"
        );
        self.db.fetch_optional(&sql, params![id_hash, kind, now], pending).await
    }

    /// Expired pending records (background clean-up).
    pub async fn purge_pending(&self, now: i64) -> Result<u64, StoreError> {
        self.db.execute("DELETE FROM mfa_pending WHERE expires_at <= $1", params![now]).await
    }

    // --- policy -------------------------------------------------------------------------------------------

    /// Through the policy cache (`Store::mfa_policies`): a change through this process is seen at once, another
    /// replica's through the cache NOTIFY, another process's within `cache::TTL`, as for the account itself.
    pub async fn mfa_policy(&self, account_id: &str) -> Result<MfaPolicy, StoreError> {
        if let Some(p) = self.mfa_policies.get(account_id) {
            return Ok(p);
        }
        let p = self
            .db
            .fetch_optional(
                "SELECT required, after_idp FROM mfa_policies WHERE customer_account_id = $1",
                params![account_id],
                |r| Ok(MfaPolicy { required: r.flag(0)?, after_idp: r.flag(1)? }),
            )
            .await?
            .unwrap_or_default();
        self.mfa_policies.put(account_id, p);
        Ok(p)
    }

    /// The account's policy and the user's factors: the check after a sign-in. The policy comes from the cache;
    /// the factors in one statement (a password sign-in has them already: [`Store::find_user_by_email_with_factors`]).
    pub async fn mfa_state(&self, account_id: &str, user_id: &str) -> Result<(MfaPolicy, UserFactors), StoreError> {
        let policy = self.mfa_policy(account_id).await?;
        let factors = self
            .db
            .fetch_optional(
                concat!("SELECT ", factor_cols!(), " FROM license_users u WHERE u.id = $1"),
                params![user_id],
                |r| user_factors(r, 0),
            )
            .await?
            .unwrap_or_default();
        Ok((policy, factors))
    }

    pub async fn set_mfa_policy(&self, account_id: &str, p: MfaPolicy, now: i64) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO mfa_policies (customer_account_id, required, after_idp, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (customer_account_id) DO UPDATE SET required = $2, \
                 after_idp = $3, updated_at = $4",
                params![account_id, p.required, p.after_idp, now],
            )
            .await?;
        self.invalidate_caches().await;
        Ok(())
    }
}

/// What a sealed TOTP secret is bound to: moved to another user's row, it does not open.
fn totp_context(user_id: &str) -> String {
    format!("mfa_totp/{user_id}")
}
