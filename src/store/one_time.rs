//! One-time login credentials minted by trusted backends (SPEC §6): Tyk-style nonces, SendGrid-style 303 codes,
//! minted SSO token ids. Stored hashed; claimed by one conditional UPDATE, so exactly one redemption wins.
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::entity::one_time_token;
use super::{Store, StoreError};

pub use one_time_token::Model as OneTimeRecord;

impl Store {
    pub async fn insert_one_time(&self, token_hash: &str, kind: &str, user_id: &str, payload: Option<String>, expires_at: i64, now: i64) -> Result<(), StoreError> {
        one_time_token::ActiveModel {
            token_hash: Set(token_hash.to_string()),
            kind: Set(kind.to_string()),
            license_user_id: Set(user_id.to_string()),
            payload: Set(payload),
            expires_at: Set(expires_at),
            consumed_at: Set(None),
            created_at: Set(now),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Claims the credential: Some(record) for exactly one caller while it is unexpired and unused.
    pub async fn claim_one_time(&self, token_hash: &str, kind: &str, now: i64) -> Result<Option<OneTimeRecord>, StoreError> {
        let res = one_time_token::Entity::update_many()
            .col_expr(one_time_token::Column::ConsumedAt, Expr::value(now))
            .filter(one_time_token::Column::TokenHash.eq(token_hash))
            .filter(one_time_token::Column::Kind.eq(kind))
            .filter(one_time_token::Column::ConsumedAt.is_null())
            .filter(one_time_token::Column::ExpiresAt.gt(now))
            .exec(&self.db)
            .await?;
        if res.rows_affected != 1 {
            return Ok(None);
        }
        Ok(one_time_token::Entity::find_by_id(token_hash.to_string()).one(&self.db).await?)
    }
}
