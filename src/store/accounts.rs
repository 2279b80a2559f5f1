//! Customer accounts (SPEC §2): read on every login page, sign-in, session load, code redemption and License API
//! call, so lookups go through a short read-through cache.
use std::sync::Arc;

use super::db::{params, Row};
use super::{new_id, Store, StoreError};
use crate::model::{CustomerAccount, FederationPolicy, IdpKind};

/// An account with its IdP policy (`a` = customer_accounts, `p` = identity_providers, LEFT JOINed).
macro_rules! account_select {
    () => {
        "SELECT a.id, a.organization_id, a.code, a.name, a.admin_user_id, a.created_at, p.kind, p.display_name, \
         p.password_login, p.just_in_time FROM customer_accounts a \
         LEFT JOIN identity_providers p ON p.customer_account_id = a.id"
    };
}

fn account(r: &dyn Row) -> Result<CustomerAccount, StoreError> {
    let federation = match r.opt_text(6)? {
        None => None,
        Some(kind) => Some(FederationPolicy {
            kind: IdpKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("identity provider kind {kind}")))?,
            display_name: r.text(7)?,
            password_login: r.flag(8)?,
            just_in_time: r.flag(9)?,
        }),
    };
    Ok(CustomerAccount {
        id: r.text(0)?,
        organization_id: r.text(1)?,
        code: r.text(2)?,
        name: r.text(3)?,
        admin_user_id: r.opt_text(4)?,
        created_at: r.int(5)?,
        federation,
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
            federation: None,
        })
    }

    /// By (organization, code), through the account cache.
    pub async fn find_customer_account_by_code(
        &self,
        organization_id: &str,
        code: &str,
    ) -> Result<Option<Arc<CustomerAccount>>, StoreError> {
        let load = async {
            let sql = concat!(account_select!(), " WHERE a.organization_id = $1 AND a.code = $2");
            Ok(self.db.fetch_optional(sql, params![organization_id, code], account).await?.map(Arc::new))
        };
        // Ids are UUIDs; the NUL keeps (organization, code) keys apart from them and from each other.
        self.accounts.get_or_load(&format!("{organization_id}\0{code}"), load).await
    }

    /// Accounts with this code in any organization (codes are unique per organization only).
    pub async fn find_customer_accounts_by_code(&self, code: &str) -> Result<Vec<CustomerAccount>, StoreError> {
        self.db.fetch_all(concat!(account_select!(), " WHERE a.code = $1 ORDER BY a.id"), params![code], account).await
    }

    /// By id, through the account cache.
    pub async fn find_customer_account(&self, id: &str) -> Result<Option<Arc<CustomerAccount>>, StoreError> {
        let load = async {
            Ok(self
                .db
                .fetch_optional(concat!(account_select!(), " WHERE a.id = $1"), params![id], account)
                .await?
                .map(Arc::new))
        };
        self.accounts.get_or_load(id, load).await
    }

    pub async fn list_customer_accounts(&self, organization_id: &str) -> Result<Vec<CustomerAccount>, StoreError> {
        self.db
            .fetch_all(
                concat!(account_select!(), " WHERE a.organization_id = $1 ORDER BY a.created_at, a.id"),
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
        self.invalidate_caches().await;
        if n == 0 {
            return Err(StoreError::NotFound("customer account"));
        }
        Ok(())
    }
}
