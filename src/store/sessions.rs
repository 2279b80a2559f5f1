//! Hosted-UI sessions (SPEC §5) and the login lockout counters. The cookie holds a random id; only its hash is kept.
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};

use super::entity::{license_user, session};
use super::{Store, StoreError};

pub use session::Model as SessionRecord;

impl Store {
    pub async fn insert_session(&self, s: SessionRecord) -> Result<(), StoreError> {
        session::ActiveModel::from(s).insert(&self.db).await?;
        Ok(())
    }

    pub async fn find_session(&self, id_hash: &str, now: i64) -> Result<Option<SessionRecord>, StoreError> {
        Ok(session::Entity::find_by_id(id_hash.to_string())
            .filter(session::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await?)
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        session::Entity::delete_by_id(id_hash.to_string()).exec(&self.db).await?;
        Ok(())
    }

    /// RP-initiated logout ends every browser session that shares the `sid`.
    pub async fn delete_sessions_by_sid(&self, sid: &str) -> Result<u64, StoreError> {
        Ok(session::Entity::delete_many().filter(session::Column::Sid.eq(sid)).exec(&self.db).await?.rows_affected)
    }

    /// Counts a failed login; when the count reaches `threshold` the user is locked until `now + lock_seconds` and
    /// the counter restarts. Returns true when this failure caused a lock.
    pub async fn record_login_failure(&self, user_id: &str, now: i64, threshold: i32, lock_seconds: i64) -> Result<bool, StoreError> {
        license_user::Entity::update_many()
            .col_expr(license_user::Column::FailedLogins, Expr::col(license_user::Column::FailedLogins).add(1))
            .filter(license_user::Column::Id.eq(user_id))
            .exec(&self.db)
            .await?;
        // Only the request that saw the count reach the threshold locks: the conditional update picks one winner.
        let locked = license_user::Entity::update_many()
            .col_expr(license_user::Column::FailedLogins, Expr::value(0))
            .col_expr(license_user::Column::LockedUntil, Expr::value(now + lock_seconds))
            .filter(license_user::Column::Id.eq(user_id))
            .filter(license_user::Column::FailedLogins.gte(threshold))
            .exec(&self.db)
            .await?;
        Ok(locked.rows_affected == 1)
    }

    pub async fn reset_login_failures(&self, user_id: &str) -> Result<(), StoreError> {
        license_user::Entity::update_many()
            .col_expr(license_user::Column::FailedLogins, Expr::value(0))
            .col_expr(license_user::Column::LockedUntil, Expr::value(Option::<i64>::None))
            .filter(license_user::Column::Id.eq(user_id))
            .filter(license_user::Column::FailedLogins.gt(0).or(license_user::Column::LockedUntil.is_not_null()))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
