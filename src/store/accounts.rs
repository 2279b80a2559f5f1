//! Customer accounts (SPEC §2): read on every login page, sign-in, session load, code redemption and License API
//! call, so lookups go through a short read-through cache.
use std::sync::Arc;

use super::db::{params, Row};
use super::{new_id, Store, StoreError};
use crate::model::CustomerAccount;

macro_rules! account_cols {
    () => {
        "id, organization_id, code, name, admin_user_id, created_at"
    };
}

fn account(r: &dyn Row) -> Result<CustomerAccount, StoreError> {
    Ok(CustomerAccount {
        id: r.text(0)?,
        organization_id: r.text(1)?,
        code: r.text(2)?,
        name: r.text(3)?,
        admin_user_id: r.opt_text(4)?,
        created_at: r.int(5)?,
    })
}

impl Store {
    pub async fn create_customer_account(
        &self,
        organization_id: &str,
        code: &str,
        name: &str,
        now: i64,
    ) -> Result<CustomerAccount, StoreError> {
        let id = new_id();
        self.db
            .execute(
                "INSERT INTO customer_accounts (id, organization_id, code, name, admin_user_id, created_at) VALUES \
                    ($1, $2, $3, $4, NULL, $5)",
                params![&id, organization_id, code, name, now],
            )
            .await
            .map_err(|e| e.conflict_as("customer account"))?;
        Ok(CustomerAccount {
            id,
            organization_id: organization_id.to_string(),
            code: code.to_string(),
            name: name.to_string(),
            admin_user_id: None,
            created_at: now,
        })
    }

    /// By (organization, code), through the account cache.
    pub async fn find_customer_account_by_code(
        &self,
        organization_id: &str,
        code: &str,
    ) -> Result<Option<Arc<CustomerAccount>>, StoreError> {
        let load = async {
            let sql =
                concat!("SELECT ", account_cols!(), " FROM customer_accounts WHERE organization_id = $1 AND code = $2");
            Ok(self.db.fetch_optional(sql, params![organization_id, code], account).await?.map(Arc::new))
        };
        // Ids are UUIDs; the NUL keeps (organization, code) keys apart from them and from each other.
        self.accounts.get_or_load(&format!("{organization_id}\0{code}"), load).await
    }

    /// Accounts with this code in any organization (codes are unique per organization only).
    pub async fn find_customer_accounts_by_code(&self, code: &str) -> Result<Vec<CustomerAccount>, StoreError> {
        self.db
            .fetch_all(
                concat!("SELECT ", account_cols!(), " FROM customer_accounts WHERE code = $1 ORDER BY id"),
                params![code],
                account,
            )
            .await
    }

    /// By id, through the account cache.
    pub async fn find_customer_account(&self, id: &str) -> Result<Option<Arc<CustomerAccount>>, StoreError> {
        let load = async {
            Ok(self
                .db
                .fetch_optional(
                    concat!("SELECT ", account_cols!(), " FROM customer_accounts WHERE id = $1"),
                    params![id],
                    account,
                )
                .await?
                .map(Arc::new))
        };
        self.accounts.get_or_load(id, load).await
    }

    pub async fn list_customer_accounts(&self, organization_id: &str) -> Result<Vec<CustomerAccount>, StoreError> {
        self.db
            .fetch_all(
                concat!(
                    "SELECT ",
                    account_cols!(),
                    " FROM customer_accounts WHERE organization_id = $1 ORDER BY created_at, id"
                ),
                params![organization_id],
                account,
            )
            .await
    }

    pub async fn set_customer_account_admin(&self, account_id: &str, user_id: &str) -> Result<(), StoreError> {
        let n = self
            .db
            .execute("UPDATE customer_accounts SET admin_user_id = $1 WHERE id = $2", params![user_id, account_id])
            .await?;
        self.accounts.clear();
        if n == 0 {
            return Err(StoreError::NotFound("customer account"));
        }
        Ok(())
    }
}
