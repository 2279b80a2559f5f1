//! License users (SPEC §2). E-mail addresses are stored lower-cased and unique per customer account.
use super::db::{params, Row};
use super::mfa::{factor_cols, user_factors, UserFactors};
use super::{new_id, Store, StoreError};
use crate::model::LicenseUser;

pub struct NewUser {
    pub customer_account_id: String,
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub email_verified: bool,
    pub external_customer_no: Option<String>,
}

macro_rules! user_cols {
    () => {
        "u.id, u.customer_account_id, u.email, u.name, u.password_hash, u.email_verified, u.disabled, \
            u.external_customer_no, u.created_at"
    };
}
pub(crate) use user_cols;
/// How many columns [`user_cols`] names.
pub(crate) const USER_COLUMNS: usize = 9;

pub(crate) fn user(r: &dyn Row) -> Result<LicenseUser, StoreError> {
    Ok(LicenseUser {
        id: r.text(0)?,
        customer_account_id: r.text(1)?,
        email: r.text(2)?,
        name: r.text(3)?,
        password_hash: r.opt_text(4)?,
        email_verified: r.flag(5)?,
        disabled: r.flag(6)?,
        external_customer_no: r.opt_text(7)?,
        created_at: r.int(8)?,
    })
}

impl Store {
    pub async fn create_user(&self, u: NewUser, now: i64) -> Result<LicenseUser, StoreError> {
        let id = new_id();
        let email = u.email.to_lowercase();
        self.db
            .execute(
                "INSERT INTO license_users (id, customer_account_id, email, name, password_hash, email_verified, \
                    disabled, external_customer_no, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, false, $7, $8)",
                params![
                    &id,
                    &u.customer_account_id,
                    &email,
                    &u.name,
                    &u.password_hash,
                    u.email_verified,
                    &u.external_customer_no,
                    now
                ],
            )
            .await
            .map_err(|e| e.conflict_as("license user"))?;
        Ok(LicenseUser {
            id,
            customer_account_id: u.customer_account_id,
            email,
            name: u.name,
            password_hash: u.password_hash,
            email_verified: u.email_verified,
            disabled: false,
            external_customer_no: u.external_customer_no,
            created_at: now,
        })
    }

    pub async fn find_user_by_email(
        &self,
        customer_account_id: &str,
        email: &str,
    ) -> Result<Option<LicenseUser>, StoreError> {
        self.db
            .fetch_optional(
                concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM license_users u WHERE u.customer_account_id = $1 AND u.email = $2"
                ),
                params![customer_account_id, &email.to_lowercase()],
                user,
            )
            .await
    }

    /// As [`Store::find_user_by_email`], with the user's second factors in the same statement: a password sign-in
    /// decides about MFA right after the password (issue 16: one statement fewer per sign-in).
    pub async fn find_user_by_email_with_factors(
        &self,
        customer_account_id: &str,
        email: &str,
    ) -> Result<Option<(LicenseUser, UserFactors)>, StoreError> {
        self.db
            .fetch_optional(
                concat!(
                    "SELECT ",
                    user_cols!(),
                    ", ",
                    factor_cols!(),
                    " FROM license_users u WHERE u.customer_account_id = $1 AND u.email = $2"
                ),
                params![customer_account_id, &email.to_lowercase()],
                |r| Ok((user(r)?, user_factors(r, USER_COLUMNS)?)),
            )
            .await
    }

    pub async fn find_user(&self, id: &str) -> Result<Option<LicenseUser>, StoreError> {
        self.db
            .fetch_optional(
                concat!("SELECT ", user_cols!(), " FROM license_users u WHERE u.id = $1"),
                params![id],
                user,
            )
            .await
    }

    pub async fn list_users(&self, customer_account_id: &str) -> Result<Vec<LicenseUser>, StoreError> {
        self.db
            .fetch_all(
                concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM license_users u WHERE u.customer_account_id = $1 ORDER BY u.email"
                ),
                params![customer_account_id],
                user,
            )
            .await
    }

    pub async fn set_user_disabled(&self, user_id: &str, disabled: bool) -> Result<(), StoreError> {
        let n =
            self.db.execute("UPDATE license_users SET disabled = $1 WHERE id = $2", params![disabled, user_id]).await?;
        if n == 0 {
            return Err(StoreError::NotFound("license user"));
        }
        Ok(())
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        Ok(self.db.fetch_optional("SELECT COUNT(*) FROM license_users", &[], |r| r.int(0)).await?.unwrap_or(0))
    }

    /// The user with this external customer number (ABC's CIINo) in the organization.
    pub async fn find_user_by_customer_no(
        &self,
        organization_id: &str,
        customer_no: &str,
    ) -> Result<Option<LicenseUser>, StoreError> {
        self.db
            .fetch_optional(
                concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM license_users u JOIN customer_accounts a ON a.id = u.customer_account_id \
                     WHERE a.organization_id = $1 AND u.external_customer_no = $2 ORDER BY u.created_at LIMIT 1"
                ),
                params![organization_id, customer_no],
                user,
            )
            .await
    }

    /// Users with this e-mail in any customer account of the organization (the SDKs identify SSO users by e-mail).
    pub async fn find_users_by_email_in_org(
        &self,
        organization_id: &str,
        email: &str,
    ) -> Result<Vec<LicenseUser>, StoreError> {
        self.db
            .fetch_all(
                concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM license_users u JOIN customer_accounts a ON a.id = u.customer_account_id \
                     WHERE a.organization_id = $1 AND u.email = $2 ORDER BY u.created_at, u.id"
                ),
                params![organization_id, &email.to_lowercase()],
                user,
            )
            .await
    }
}
