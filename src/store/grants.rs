//! Authorization codes, refresh tokens and revocation state (RFC 6749 §4.1.2, §10.4, §10.5; RFC 7009).
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};

use super::entity::{authorization_code, one_time_token, refresh_token, revoked_grant, revoked_token, session, used_id_token};
use super::{Store, StoreError};

pub use authorization_code::Model as CodeRecord;
pub use refresh_token::Model as RefreshRecord;

pub const SWEEP_BATCH: u64 = 5000;

/// Deletes expired rows of one table, `SWEEP_BATCH` at a time (by primary key, portable to SQLite and PostgreSQL),
/// yielding between batches.
macro_rules! sweep {
    ($store:expr, $entity:ident, $pk:ident, $expiry:ident, $cutoff:expr) => {{
        let mut total = 0u64;
        loop {
            let batch = sea_orm::sea_query::Query::select()
                .column($entity::Column::$pk)
                .from($entity::Entity)
                .and_where($entity::Column::$expiry.lt($cutoff))
                .limit(SWEEP_BATCH)
                .to_owned();
            let done = $entity::Entity::delete_many().filter($entity::Column::$pk.in_subquery(batch)).exec(&$store.db).await?.rows_affected;
            total += done;
            if done < SWEEP_BATCH {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        total
    }};
}

/// Why a one-time credential could not be claimed.
#[derive(Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// Unknown, expired or revoked.
    Invalid,
    /// Already used: the caller must treat the whole grant as compromised (RFC 6749 §4.1.2, RFC 9700 §4.14.2).
    Replayed { grant_id: String },
}

impl Store {
    pub async fn insert_code(&self, c: CodeRecord) -> Result<(), StoreError> {
        authorization_code::ActiveModel::from(c).insert(&self.db).await?;
        Ok(())
    }

    pub async fn find_code(&self, code_hash: &str) -> Result<Option<CodeRecord>, StoreError> {
        Ok(authorization_code::Entity::find()
            .filter(authorization_code::Column::CodeHash.eq(code_hash))
            .one(&self.db)
            .await?)
    }

    /// Marks the code used. Exactly one caller gets `Ok` for a given code; later callers get `Replayed` and the
    /// grant is revoked, which revokes every token issued from the code.
    pub async fn claim_code(&self, code: &CodeRecord, now: i64) -> Result<(), ClaimError> {
        let res = authorization_code::Entity::update_many()
            .col_expr(authorization_code::Column::ConsumedAt, Expr::value(now))
            .filter(authorization_code::Column::Id.eq(code.id.as_str()))
            .filter(authorization_code::Column::ConsumedAt.is_null())
            .filter(authorization_code::Column::RevokedAt.is_null())
            .filter(authorization_code::Column::ExpiresAt.gt(now))
            .exec(&self.db)
            .await;
        match res {
            Ok(r) if r.rows_affected == 1 => Ok(()),
            Ok(_) if code.expires_at <= now => Err(ClaimError::Invalid),
            Ok(_) => Err(ClaimError::Replayed { grant_id: code.id.clone() }),
            Err(e) => {
                tracing::error!(error = %e, "claiming an authorization code failed");
                Err(ClaimError::Invalid)
            }
        }
    }

    /// Revokes a grant: the code can no longer be used, its refresh tokens die, and access tokens carrying its id
    /// fail introspection and userinfo. One transaction; idempotent.
    pub async fn revoke_grant(&self, grant_id: &str, now: i64) -> Result<(), StoreError> {
        let txn = self.db.begin().await?;
        revoked_grant::Entity::insert(revoked_grant::ActiveModel { grant_id: Set(grant_id.to_string()), revoked_at: Set(now) })
            .on_conflict(OnConflict::column(revoked_grant::Column::GrantId).do_nothing().to_owned())
            .exec_without_returning(&txn)
            .await?;
        authorization_code::Entity::update_many()
            .col_expr(authorization_code::Column::RevokedAt, Expr::value(now))
            .filter(authorization_code::Column::Id.eq(grant_id))
            .filter(authorization_code::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
            .filter(refresh_token::Column::GrantId.eq(grant_id))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn is_grant_revoked(&self, grant_id: &str) -> Result<bool, StoreError> {
        Ok(revoked_grant::Entity::find_by_id(grant_id.to_string()).one(&self.db).await?.is_some())
    }

    pub async fn insert_refresh_token(&self, r: RefreshRecord) -> Result<(), StoreError> {
        refresh_token::ActiveModel::from(r).insert(&self.db).await?;
        Ok(())
    }

    pub async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshRecord>, StoreError> {
        Ok(refresh_token::Entity::find().filter(refresh_token::Column::TokenHash.eq(token_hash)).one(&self.db).await?)
    }

    /// Rotation (RFC 9700 §4.14.2): retires `old` and stores `new` in one transaction. Exactly one caller rotates
    /// a given token; a second use is `Replayed` and the caller revokes the family.
    pub async fn rotate_refresh_token(&self, old: &RefreshRecord, new: RefreshRecord, now: i64) -> Result<(), ClaimError> {
        let run = async {
            let txn = self.db.begin().await?;
            let res = refresh_token::Entity::update_many()
                .col_expr(refresh_token::Column::RotatedAt, Expr::value(now))
                .filter(refresh_token::Column::Id.eq(old.id.as_str()))
                .filter(refresh_token::Column::RotatedAt.is_null())
                .filter(refresh_token::Column::RevokedAt.is_null())
                .filter(refresh_token::Column::ExpiresAt.gt(now))
                .exec(&txn)
                .await?;
            if res.rows_affected != 1 {
                txn.rollback().await?;
                return Ok::<bool, sea_orm::DbErr>(false);
            }
            refresh_token::ActiveModel::from(new).insert(&txn).await?;
            txn.commit().await?;
            Ok(true)
        };
        match run.await {
            Ok(true) => Ok(()),
            Ok(false) if old.expires_at <= now || old.revoked_at.is_some() => Err(ClaimError::Invalid),
            Ok(false) => Err(ClaimError::Replayed { grant_id: old.grant_id.clone() }),
            Err(e) => {
                tracing::error!(error = %e, "rotating a refresh token failed");
                Err(ClaimError::Invalid)
            }
        }
    }

    /// RFC 7009: revoking a refresh token revokes its whole grant (§2.1 "SHOULD also invalidate all access tokens").
    pub async fn revoke_refresh_token(&self, token_hash: &str, now: i64) -> Result<bool, StoreError> {
        match self.find_refresh_token(token_hash).await? {
            Some(r) => {
                self.revoke_grant(&r.grant_id, now).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    pub async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        revoked_token::Entity::insert(revoked_token::ActiveModel { jti: Set(jti.to_string()), expires_at: Set(expires_at) })
            .on_conflict(OnConflict::column(revoked_token::Column::Jti).do_nothing().to_owned())
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    pub async fn is_jti_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(revoked_token::Entity::find_by_id(jti.to_string()).one(&self.db).await?.is_some())
    }

    /// Records the one use of an id_token for license activation (SPEC §3.4). False when it was used before.
    pub async fn claim_id_token(&self, jti: &str, expires_at: i64) -> Result<bool, StoreError> {
        let res = used_id_token::Entity::insert(used_id_token::ActiveModel { jti: Set(jti.to_string()), expires_at: Set(expires_at) })
            .on_conflict(OnConflict::column(used_id_token::Column::Jti).do_nothing().to_owned())
            .exec_without_returning(&self.db)
            .await?;
        Ok(res == 1)
    }

    /// Background sweep: drops rows that can no longer matter. Codes are kept a while past expiry so that a late
    /// replay is still recognised as a replay. Deletes go in batches so no statement holds the write lock long.
    pub async fn sweep_expired(&self, now: i64) -> Result<u64, StoreError> {
        let grace = 3600;
        let mut n = 0;
        n += sweep!(self, authorization_code, Id, ExpiresAt, now - grace);
        n += sweep!(self, refresh_token, Id, ExpiresAt, now - grace);
        n += sweep!(self, revoked_token, Jti, ExpiresAt, now);
        n += sweep!(self, used_id_token, Jti, ExpiresAt, now);
        n += sweep!(self, session, IdHash, ExpiresAt, now);
        n += sweep!(self, one_time_token, TokenHash, ExpiresAt, now - grace);
        Ok(n)
    }
}
