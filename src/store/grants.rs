//! Authorization codes, refresh tokens and revocation state (RFC 6749 §4.1.2, §10.4, §10.5; RFC 7009).
use super::db::{params, Engine, Offset, Param, Row, Tx};
use super::users::{user, user_cols, USER_COLUMNS};
use super::{Store, StoreError};
use crate::model::LicenseUser;

pub const SWEEP_BATCH: i64 = 5000;

/// An authorization code as stored: only the hash of the code itself. The id doubles as the grant id: tokens
/// issued from the code carry it, so that a replay can revoke them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub id: String,
    pub code_hash: String,
    pub product_id: String,
    pub license_user_id: String,
    pub session_id: Option<String>,
    /// The redirect_uri the authorization request named, if it named one (RFC 6749 §4.1.3).
    pub redirect_uri: Option<String>,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
    /// How the user authenticated (space-separated `amr` values) and the upstream IdP: for the id_token.
    pub amr: Option<String>,
    pub idp: Option<String>,
}

macro_rules! code_cols {
    () => {
        "id, code_hash, product_id, license_user_id, session_id, redirect_uri, scope, nonce, code_challenge, \
         auth_time, expires_at, consumed_at, revoked_at, created_at, amr, idp"
    };
    (c) => {
        "c.id, c.code_hash, c.product_id, c.license_user_id, c.session_id, c.redirect_uri, c.scope, c.nonce, \
         c.code_challenge, c.auth_time, c.expires_at, c.consumed_at, c.revoked_at, c.created_at, c.amr, c.idp"
    };
}
pub(crate) use code_cols;
const CODE_COLUMNS: usize = 16;

fn code(r: &dyn Row) -> Result<CodeRecord, StoreError> {
    Ok(CodeRecord {
        id: r.text(0)?,
        code_hash: r.text(1)?,
        product_id: r.text(2)?,
        license_user_id: r.text(3)?,
        session_id: r.opt_text(4)?,
        redirect_uri: r.opt_text(5)?,
        scope: r.text(6)?,
        nonce: r.opt_text(7)?,
        code_challenge: r.opt_text(8)?,
        auth_time: r.int(9)?,
        expires_at: r.int(10)?,
        consumed_at: r.opt_int(11)?,
        revoked_at: r.opt_int(12)?,
        created_at: r.int(13)?,
        amr: r.opt_text(14)?,
        idp: r.opt_text(15)?,
    })
}

/// A refresh token as stored (hash only). `grant_revoked` is read along with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    pub id: String,
    pub token_hash: String,
    pub grant_id: String,
    pub product_id: String,
    pub license_user_id: String,
    pub session_id: Option<String>,
    pub scope: String,
    pub auth_time: i64,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
    /// As on the code the grant started with: for the id_tokens of each refresh.
    pub amr: Option<String>,
    pub idp: Option<String>,
}

fn refresh(r: &dyn Row) -> Result<(RefreshRecord, bool), StoreError> {
    let rec = RefreshRecord {
        id: r.text(0)?,
        token_hash: r.text(1)?,
        grant_id: r.text(2)?,
        product_id: r.text(3)?,
        license_user_id: r.text(4)?,
        session_id: r.opt_text(5)?,
        scope: r.text(6)?,
        auth_time: r.int(7)?,
        expires_at: r.int(8)?,
        rotated_at: r.opt_int(9)?,
        revoked_at: r.opt_int(10)?,
        created_at: r.int(11)?,
        amr: r.opt_text(12)?,
        idp: r.opt_text(13)?,
    };
    Ok((rec, r.flag(14)?))
}

const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens (id, token_hash, grant_id, product_id, license_user_id, \
                              session_id, scope, auth_time, expires_at, rotated_at, revoked_at, created_at, amr, idp) \
                              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, $10, $11, $12)";

async fn insert_refresh(tx: &mut Tx, r: &RefreshRecord) -> Result<(), StoreError> {
    tx.execute(
        INSERT_REFRESH,
        params![
            &r.id,
            &r.token_hash,
            &r.grant_id,
            &r.product_id,
            &r.license_user_id,
            &r.session_id,
            &r.scope,
            r.auth_time,
            r.expires_at,
            r.created_at,
            &r.amr,
            &r.idp
        ],
    )
    .await
    .map(|_| ())
}

/// What a code redemption presents (RFC 6749 §4.1.3, RFC 7636 §4.6). The claim succeeds only when all of it holds.
pub struct CodeClaim<'a> {
    pub code_hash: &'a str,
    pub product_id: &'a str,
    /// The redirect_uri of the token request, if it has one.
    pub redirect_uri: Option<&'a str>,
    /// Accept an absent redirect_uri even when the authorization request named one: the HMAC-authenticated License
    /// API stands in for the token endpoint's redirect_uri rule (licensespring-contract.md).
    pub redirect_uri_optional: bool,
    /// S256 of the presented code_verifier, if one was sent.
    pub verifier_s256: Option<&'a str>,
}

/// The outcome of [`Store::claim_code`].
#[derive(Debug)]
pub enum CodeClaimed {
    /// This caller won the code: it is consumed now. The user it was issued for comes with it (None if deleted);
    /// `refreshed` says whether the refresh token offered with the claim was stored.
    Won { code: Box<CodeRecord>, user: Option<Box<LicenseUser>>, refreshed: bool },
    /// Not claimed: unknown, or a condition failed; the caller reads the record to say why.
    Lost,
}

/// A refresh token to store with the code it is claimed with, if that code's scope holds `offline_access` (OIDC Core
/// §11: offline access is asked for in the authorization request). Its other columns are the code's: the grant is the
/// code's id, and user, session, scope, auth_time, amr and idp carry over; it is created at the claim's `now`.
pub struct RefreshOffer<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub expires_at: i64,
}

/// Whether a code of this scope gets the refresh token offered with its claim (the scope as stored: space-separated).
pub fn scope_wants_refresh(scope: &str) -> bool {
    scope.split(' ').any(|s| s == "offline_access")
}

const CLAIM_CONDITIONS: &str = "code_hash = $2 AND product_id = $3 AND consumed_at IS NULL AND revoked_at IS NULL AND \
    expires_at > $1 \
     AND (redirect_uri IS NULL OR redirect_uri = $4 OR $5) AND ((code_challenge IS NULL AND $6 IS NULL) OR \
         code_challenge = $6)";

pub(super) const INSERT_CODE: &str = concat!(
    "INSERT INTO authorization_codes (",
    code_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
);

/// The parameters of [`INSERT_CODE`], in column order.
pub(super) fn code_params(c: &CodeRecord) -> [Param<'_>; 16] {
    [
        Param::from(&c.id),
        Param::from(&c.code_hash),
        Param::from(&c.product_id),
        Param::from(&c.license_user_id),
        Param::from(&c.session_id),
        Param::from(&c.redirect_uri),
        Param::from(&c.scope),
        Param::from(&c.nonce),
        Param::from(&c.code_challenge),
        Param::from(c.auth_time),
        Param::from(c.expires_at),
        Param::from(c.consumed_at),
        Param::from(c.revoked_at),
        Param::from(c.created_at),
        Param::from(&c.amr),
        Param::from(&c.idp),
    ]
}

/// The claim, the offered refresh token ($7: offered; $8 id, $9 hash, $10 expiry) and the user, in one statement.
fn claim_code_postgres() -> String {
    format!(
        "WITH c AS (UPDATE authorization_codes SET consumed_at = $1 WHERE {CLAIM_CONDITIONS} RETURNING {}), \
         r AS (INSERT INTO refresh_tokens (id, token_hash, grant_id, product_id, license_user_id, session_id, scope, \
                auth_time, expires_at, rotated_at, revoked_at, created_at, amr, idp) \
               SELECT $8, $9, c.id, c.product_id, c.license_user_id, c.session_id, c.scope, c.auth_time, $10, NULL, \
                NULL, $1, c.amr, c.idp FROM c \
               WHERE $7 AND 'offline_access' = ANY(string_to_array(c.scope, ' ')) RETURNING 1) \
         SELECT {}, {}, EXISTS (SELECT 1 FROM r) FROM c LEFT JOIN license_users u ON u.id = c.license_user_id",
        code_cols!(),
        code_cols!(c),
        user_cols!()
    )
}

/// The claim with the user's columns: SQLite allows no UPDATE inside WITH, but its RETURNING clause may hold scalar
/// subqueries: one primary-key lookup per user column, in-process, instead of a second statement.
fn claim_code_sqlite() -> String {
    let user_columns: Vec<String> = user_cols!()
        .split(", ")
        .map(|col| format!("(SELECT {col} FROM license_users u WHERE u.id = authorization_codes.license_user_id)"))
        .collect();
    format!(
        "UPDATE authorization_codes SET consumed_at = $1 WHERE {CLAIM_CONDITIONS} RETURNING {}, {}",
        code_cols!(),
        user_columns.join(", ")
    )
}

/// A claimed code's row, then the user's columns (NULL when the user is gone).
fn code_and_user(r: &dyn Row) -> Result<(CodeRecord, Option<LicenseUser>), StoreError> {
    let u = match r.opt_text(CODE_COLUMNS)? {
        Some(_) => Some(user(&Offset(r, CODE_COLUMNS))?),
        None => None,
    };
    Ok((code(r)?, u))
}

/// The refresh token stored with a won code (see [`RefreshOffer`]).
fn refresh_of(code: &CodeRecord, offer: &RefreshOffer<'_>, now: i64) -> RefreshRecord {
    RefreshRecord {
        id: offer.id.to_string(),
        token_hash: offer.token_hash.to_string(),
        grant_id: code.id.clone(),
        product_id: code.product_id.clone(),
        license_user_id: code.license_user_id.clone(),
        session_id: code.session_id.clone(),
        scope: code.scope.clone(),
        auth_time: code.auth_time,
        expires_at: offer.expires_at,
        rotated_at: None,
        revoked_at: None,
        created_at: now,
        amr: code.amr.clone(),
        idp: code.idp.clone(),
    }
}

impl Store {
    pub async fn insert_code(&self, c: &CodeRecord) -> Result<(), StoreError> {
        self.db.execute(INSERT_CODE, &code_params(c)).await.map(|_| ())
    }

    pub async fn find_code(&self, code_hash: &str) -> Result<Option<CodeRecord>, StoreError> {
        self.db
            .fetch_optional(
                concat!("SELECT ", code_cols!(), " FROM authorization_codes WHERE code_hash = $1"),
                params![code_hash],
                code,
            )
            .await
    }

    /// Marks the code used if every condition of `claim` holds. Exactly one caller wins a code. The refresh token
    /// `offer`ed is stored with it atomically (when the code's scope asks for one: [`scope_wants_refresh`]), so a
    /// failed insert does not burn the code.
    ///
    /// PostgreSQL: one statement, no transaction around it (a data-modifying WITH is atomic): the claim, the refresh
    /// token and the user in one round trip instead of four (issue 16). SQLite allows no INSERT inside WITH: the claim
    /// (with the user's columns in its RETURNING) and the insert share one transaction; a claim that offers no
    /// refresh token runs alone.
    pub async fn claim_code(
        &self,
        claim: &CodeClaim<'_>,
        offer: Option<&RefreshOffer<'_>>,
        now: i64,
    ) -> Result<CodeClaimed, StoreError> {
        let lenient = claim.redirect_uri.is_none() && claim.redirect_uri_optional;
        let (code, user, refreshed) = match self.db.engine() {
            Engine::Postgres => {
                let p = params![
                    now,
                    claim.code_hash,
                    claim.product_id,
                    claim.redirect_uri,
                    lenient,
                    claim.verifier_s256,
                    offer.is_some(),
                    offer.map(|o| o.id),
                    offer.map(|o| o.token_hash),
                    offer.map(|o| o.expires_at)
                ];
                let row = self
                    .db
                    .fetch_optional(&claim_code_postgres(), p, |r| {
                        let (c, u) = code_and_user(r)?;
                        Ok((c, u, r.flag(CODE_COLUMNS + USER_COLUMNS)?))
                    })
                    .await?;
                let Some(row) = row else { return Ok(CodeClaimed::Lost) };
                row
            }
            Engine::Sqlite => {
                let p =
                    params![now, claim.code_hash, claim.product_id, claim.redirect_uri, lenient, claim.verifier_s256];
                let Some(offer) = offer else {
                    let row = self.db.fetch_optional(&claim_code_sqlite(), p, code_and_user).await?;
                    let Some((c, u)) = row else { return Ok(CodeClaimed::Lost) };
                    return Ok(CodeClaimed::Won { code: Box::new(c), user: u.map(Box::new), refreshed: false });
                };
                let mut tx = self.db.begin().await?;
                let Some((c, u)) = tx.fetch_optional(&claim_code_sqlite(), p, code_and_user).await? else {
                    return Ok(CodeClaimed::Lost);
                };
                let refreshed = scope_wants_refresh(&c.scope);
                if refreshed {
                    insert_refresh(&mut tx, &refresh_of(&c, offer, now)).await?;
                }
                tx.commit().await?;
                (c, u, refreshed)
            }
        };
        Ok(CodeClaimed::Won { code: Box::new(code), user: user.map(Box::new), refreshed })
    }

    /// Revokes a grant: the code can no longer be used, its refresh tokens die, and access tokens carrying its id
    /// fail introspection and userinfo. One transaction; idempotent.
    pub async fn revoke_grant(&self, grant_id: &str, now: i64) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        tx.execute(
            "INSERT INTO revoked_grants (grant_id, revoked_at) VALUES ($1, $2) ON CONFLICT (grant_id) DO NOTHING",
            params![grant_id, now],
        )
        .await?;
        tx.execute(
            "UPDATE authorization_codes SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            params![now, grant_id],
        )
        .await?;
        tx.execute(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL",
            params![now, grant_id],
        )
        .await?;
        tx.commit().await
    }

    pub async fn is_grant_revoked(&self, grant_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .db
            .fetch_optional("SELECT 1 FROM revoked_grants WHERE grant_id = $1", params![grant_id], |r| r.int32(0))
            .await?
            .is_some())
    }

    /// Whether an access token was revoked on its own (its `jti`, RFC 7009) or with its grant: one query.
    pub async fn is_access_token_revoked(&self, jti: &str, grant_id: Option<&str>) -> Result<bool, StoreError> {
        let found = self
            .db
            .fetch_optional(
                "SELECT 1 FROM revoked_tokens WHERE jti = $1 UNION ALL SELECT 1 FROM revoked_grants WHERE grant_id = \
                    $2 LIMIT 1",
                params![jti, grant_id],
                |r| r.int32(0),
            )
            .await?;
        Ok(found.is_some())
    }

    pub async fn insert_refresh_token(&self, r: &RefreshRecord) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        insert_refresh(&mut tx, r).await?;
        tx.commit().await
    }

    /// A refresh token by hash, and whether its grant was revoked.
    pub async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<(RefreshRecord, bool)>, StoreError> {
        self.db
            .fetch_optional(
                "SELECT r.id, r.token_hash, r.grant_id, r.product_id, r.license_user_id, r.session_id, r.scope, \
                 r.auth_time, r.expires_at, r.rotated_at, r.revoked_at, r.created_at, r.amr, r.idp, \
                 (g.grant_id IS NOT NULL) FROM refresh_tokens r \
                 LEFT JOIN revoked_grants g ON g.grant_id = r.grant_id WHERE r.token_hash = $1",
                params![token_hash],
                refresh,
            )
            .await
    }

    /// Rotation (RFC 9700 §4.14.2): retires `old` and stores `new` in one transaction. True for exactly one caller
    /// per token; false when it was rotated, revoked or expired meanwhile (the caller reads it again to say why).
    pub async fn rotate_refresh_token(
        &self,
        old: &RefreshRecord,
        new: &RefreshRecord,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .execute(
                "UPDATE refresh_tokens SET rotated_at = $1 WHERE id = $2 AND rotated_at IS NULL AND revoked_at IS \
                    NULL AND expires_at > $1",
                params![now, &old.id],
            )
            .await?;
        if n != 1 {
            return Ok(false);
        }
        insert_refresh(&mut tx, new).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
                params![jti, expires_at],
            )
            .await
            .map(|_| ())
    }

    /// Records the one use of an id_token for license activation (SPEC §3.4). False when it was used before.
    pub async fn claim_id_token(&self, jti: &str, expires_at: i64) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute(
                "INSERT INTO used_id_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
                params![jti, expires_at],
            )
            .await?;
        Ok(n == 1)
    }

    /// Background sweep: drops rows that can no longer matter. Codes are kept a while past expiry so that a late
    /// replay is still recognised as a replay. Deletes go in batches so no statement holds the write lock long.
    pub async fn sweep_expired(&self, now: i64) -> Result<u64, StoreError> {
        let grace = 3600;
        let mut n = 0;
        // (table, key column, cutoff)
        let tables: [(&str, &str, i64); 9] = [
            ("authorization_codes", "id", now - grace),
            ("refresh_tokens", "id", now - grace),
            ("revoked_tokens", "jti", now),
            ("used_id_tokens", "jti", now),
            ("sessions", "id_hash", now),
            ("one_time_tokens", "token_hash", now - grace),
            ("login_throttles", "key", now),
            ("federation_requests", "id_hash", now),
            ("used_assertions", "key", now),
        ];
        for (table, key, cutoff) in tables {
            let sql = format!(
                "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE expires_at < $1 LIMIT $2)"
            );
            loop {
                let done = self.db.execute(&sql, params![cutoff, SWEEP_BATCH]).await?;
                n += done;
                if done < SWEEP_BATCH as u64 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        Ok(n)
    }
}
