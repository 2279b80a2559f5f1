//! Licenses and their user assignments (SPEC §2).
use super::db::{params, Row};
use super::{Store, StoreError};
use crate::model::{License, LicenseType, LicenseUser};

pub struct NewLicense {
    pub product_id: String,
    pub customer_account_id: String,
    pub license_key: Option<String>,
    pub license_type: LicenseType,
    pub max_activations: i32,
    pub is_trial: bool,
    pub starts_at: Option<i64>,
    pub expires_at: Option<i64>,
    /// When not empty, the license is restricted to these users.
    pub assigned_users: Vec<String>,
}

/// The license columns, qualified by `l.` (or, with `bare`, unqualified for RETURNING).
macro_rules! license_cols {
    () => {
        "l.id, l.product_id, l.customer_account_id, l.license_key, l.license_type, l.max_activations, \
            l.times_activated, l.enabled, \
         l.is_trial, l.user_restricted, l.starts_at, l.expires_at, l.created_at"
    };
    (bare) => {
        "id, product_id, customer_account_id, license_key, license_type, max_activations, times_activated, enabled, \
         is_trial, user_restricted, starts_at, expires_at, created_at"
    };
}
pub(crate) use license_cols;

/// The columns of `license_cols!` (13 of them).
pub(crate) fn license(r: &dyn Row) -> Result<License, StoreError> {
    let t = r.text(4)?;
    Ok(License {
        id: r.int(0)?,
        product_id: r.text(1)?,
        customer_account_id: r.text(2)?,
        license_key: r.opt_text(3)?,
        license_type: LicenseType::parse(&t).ok_or_else(|| StoreError::Corrupt(format!("license type {t}")))?,
        max_activations: r.int32(5)?,
        times_activated: r.int32(6)?,
        enabled: r.flag(7)?,
        is_trial: r.flag(8)?,
        user_restricted: r.flag(9)?,
        starts_at: r.opt_int(10)?,
        expires_at: r.opt_int(11)?,
        created_at: r.int(12)?,
    })
}

impl Store {
    /// Creates the license and its user assignments in one transaction.
    pub async fn create_license(&self, l: NewLicense, now: i64) -> Result<License, StoreError> {
        let mut tx = self.db.begin().await?;
        let restricted = !l.assigned_users.is_empty();
        let created = tx
            .fetch_optional(
                concat!(
                    "INSERT INTO licenses (product_id, customer_account_id, license_key, license_type, \
                        max_activations, times_activated, \
                     enabled, is_trial, user_restricted, starts_at, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, 0, true, $6, $7, $8, $9, $10) RETURNING ",
                    license_cols!(bare)
                ),
                params![
                    &l.product_id,
                    &l.customer_account_id,
                    &l.license_key,
                    l.license_type.as_str(),
                    l.max_activations,
                    l.is_trial,
                    restricted,
                    l.starts_at,
                    l.expires_at,
                    now
                ],
                license,
            )
            .await
            .map_err(|e| e.conflict_as("license key"))?
            .ok_or(StoreError::NotFound("license"))?;
        for user_id in &l.assigned_users {
            tx.execute(
                "INSERT INTO license_assignments (license_id, license_user_id) VALUES ($1, $2)",
                params![created.id, user_id],
            )
            .await
            .map_err(|e| e.conflict_as("license assignment"))?;
        }
        tx.commit().await?;
        Ok(created)
    }

    pub async fn assign_license(&self, license_id: i64, user_id: &str) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO license_assignments (license_id, license_user_id) VALUES ($1, $2)",
                params![license_id, user_id],
            )
            .await
            .map_err(|e| e.conflict_as("license assignment"))?;
        self.db.execute("UPDATE licenses SET user_restricted = true WHERE id = $1", params![license_id]).await?;
        Ok(())
    }

    pub async fn find_license(&self, id: i64) -> Result<Option<License>, StoreError> {
        self.db
            .fetch_optional(
                concat!("SELECT ", license_cols!(), " FROM licenses l WHERE l.id = $1"),
                params![id],
                license,
            )
            .await
    }

    pub async fn find_license_by_key(&self, product_id: &str, key: &str) -> Result<Option<License>, StoreError> {
        self.db
            .fetch_optional(
                concat!("SELECT ", license_cols!(), " FROM licenses l WHERE l.product_id = $1 AND l.license_key = $2"),
                params![product_id, key],
                license,
            )
            .await
    }

    pub async fn list_licenses(&self, customer_account_id: &str) -> Result<Vec<License>, StoreError> {
        self.db
            .fetch_all(
                concat!("SELECT ", license_cols!(), " FROM licenses l WHERE l.customer_account_id = $1 ORDER BY l.id"),
                params![customer_account_id],
                license,
            )
            .await
    }

    /// The licenses of `product_id` that `user` may use: assigned to them, or held by their customer account and not
    /// restricted to particular users.
    pub async fn licenses_for_user(&self, product_id: &str, user: &LicenseUser) -> Result<Vec<License>, StoreError> {
        self.db
            .fetch_all(
                concat!(
                    "SELECT ",
                    license_cols!(),
                    " FROM licenses l WHERE l.product_id = $1 AND l.customer_account_id = $2 AND (l.user_restricted = \
                        false OR EXISTS \
                     (SELECT 1 FROM license_assignments la WHERE la.license_id = l.id AND la.license_user_id = $3)) \
                         ORDER BY l.id"
                ),
                params![product_id, &user.customer_account_id, &user.id],
                license,
            )
            .await
    }

    /// Every license the user may use, across products (the portal).
    pub async fn all_licenses_for_user(&self, user: &LicenseUser) -> Result<Vec<License>, StoreError> {
        self.db
            .fetch_all(
                concat!(
                    "SELECT ",
                    license_cols!(),
                    " FROM licenses l WHERE l.customer_account_id = $1 AND (l.user_restricted = false OR EXISTS \
                     (SELECT 1 FROM license_assignments la WHERE la.license_id = l.id AND la.license_user_id = $2)) \
                         ORDER BY l.id"
                ),
                params![&user.customer_account_id, &user.id],
                license,
            )
            .await
    }

    pub async fn set_license_enabled(&self, id: i64, enabled: bool) -> Result<(), StoreError> {
        let n = self.db.execute("UPDATE licenses SET enabled = $1 WHERE id = $2", params![enabled, id]).await?;
        found(n)
    }

    /// Changes a license's seat count. Lowering it below the devices already active keeps them; new activations are
    /// refused until enough are deactivated (the seat claim compares with the stored count).
    pub async fn set_license_max_activations(&self, id: i64, max_activations: i32) -> Result<(), StoreError> {
        let n = self
            .db
            .execute("UPDATE licenses SET max_activations = $1 WHERE id = $2", params![max_activations, id])
            .await?;
        found(n)
    }

    pub async fn set_license_expiry(&self, id: i64, expires_at: Option<i64>) -> Result<(), StoreError> {
        let n = self.db.execute("UPDATE licenses SET expires_at = $1 WHERE id = $2", params![expires_at, id]).await?;
        found(n)
    }
}

fn found(rows: u64) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::NotFound("license"))
    } else {
        Ok(())
    }
}
