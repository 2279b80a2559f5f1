//! Licenses in use: activations and seats (SPEC §3.4). `licenses.times_activated` counts active devices; a seat is
//! claimed by `UPDATE … SET times_activated = times_activated + 1 WHERE times_activated < max_activations`, checked
//! by rows-affected, inside the transaction that records the activation — so the count never passes the limit,
//! whatever the concurrency, and never disagrees with the activation rows.
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait};

use super::entity::{activation, customer_account, license, license_assignment, license_user};
use super::{Store, StoreError};

#[derive(Debug, PartialEq, Eq)]
pub enum ActivateOutcome {
    /// A seat was taken for this device.
    Activated(activation::Model),
    /// The device was already active on the license: nothing changed (idempotent).
    AlreadyActive(activation::Model),
    /// No seat left.
    SeatsFull,
}

impl Store {
    /// The licenses of `product_id` that `user` may use: assigned to them, or held by their customer account and
    /// not restricted to particular users.
    pub async fn licenses_for_user(&self, product_id: &str, user: &license_user::Model) -> Result<Vec<license::Model>, StoreError> {
        let all = license::Entity::find()
            .filter(license::Column::ProductId.eq(product_id))
            .filter(license::Column::CustomerAccountId.eq(user.customer_account_id.as_str()))
            .order_by_asc(license::Column::Id)
            .all(&self.db)
            .await?;
        if all.iter().all(|l| !l.user_restricted) {
            return Ok(all);
        }
        let assigned = self.assigned_license_ids(&user.id).await?;
        Ok(all.into_iter().filter(|l| !l.user_restricted || assigned.contains(&l.id)).collect())
    }

    /// Ids of the licenses assigned to the user by name.
    async fn assigned_license_ids(&self, user_id: &str) -> Result<Vec<i64>, StoreError> {
        Ok(license_assignment::Entity::find()
            .filter(license_assignment::Column::LicenseUserId.eq(user_id))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|a| a.license_id)
            .collect())
    }

    /// Every license the user may use, across products (the portal).
    pub async fn all_licenses_for_user(&self, user: &license_user::Model) -> Result<Vec<license::Model>, StoreError> {
        let assigned = self.assigned_license_ids(&user.id).await?;
        Ok(license::Entity::find()
            .filter(license::Column::CustomerAccountId.eq(user.customer_account_id.as_str()))
            .order_by_asc(license::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .filter(|l| !l.user_restricted || assigned.contains(&l.id))
            .collect())
    }

    pub async fn find_activation(&self, license_id: i64, hardware_id: &str) -> Result<Option<activation::Model>, StoreError> {
        Ok(activation::Entity::find()
            .filter(activation::Column::LicenseId.eq(license_id))
            .filter(activation::Column::HardwareId.eq(hardware_id))
            .one(&self.db)
            .await?)
    }

    pub async fn active_devices(&self, license_id: i64) -> Result<Vec<activation::Model>, StoreError> {
        Ok(activation::Entity::find()
            .filter(activation::Column::LicenseId.eq(license_id))
            .filter(activation::Column::Active.eq(true))
            .order_by_asc(activation::Column::ActivatedAt)
            .all(&self.db)
            .await?)
    }

    /// Activates `license_id` on `hardware_id`: idempotent for an active device, otherwise a seat is claimed and
    /// the activation recorded in one transaction.
    pub async fn activate(&self, license_id: i64, user_id: Option<&str>, hardware_id: &str, device_info: Option<String>, now: i64) -> Result<ActivateOutcome, StoreError> {
        if let Some(a) = self.find_activation(license_id, hardware_id).await?.filter(|a| a.active) {
            return Ok(ActivateOutcome::AlreadyActive(a));
        }
        let txn = self.db.begin().await?;
        // The write comes first: PostgreSQL locks the license row, SQLite takes its write lock, so concurrent
        // activations of one license queue here instead of racing.
        let claimed = license::Entity::update_many()
            .col_expr(license::Column::TimesActivated, Expr::col(license::Column::TimesActivated).add(1))
            .filter(license::Column::Id.eq(license_id))
            .filter(Expr::col(license::Column::TimesActivated).lt(Expr::col(license::Column::MaxActivations)))
            .exec(&txn)
            .await?;
        if claimed.rows_affected != 1 {
            txn.rollback().await?;
            // Another request may have activated this very device meanwhile: that is still a success.
            return Ok(match self.find_activation(license_id, hardware_id).await?.filter(|a| a.active) {
                Some(a) => ActivateOutcome::AlreadyActive(a),
                None => ActivateOutcome::SeatsFull,
            });
        }
        let reactivated = activation::Entity::update_many()
            .col_expr(activation::Column::Active, Expr::value(true))
            .col_expr(activation::Column::ActivatedAt, Expr::value(now))
            .col_expr(activation::Column::DeactivatedAt, Expr::value(Option::<i64>::None))
            .col_expr(activation::Column::LicenseUserId, Expr::value(user_id.map(str::to_string)))
            .col_expr(activation::Column::DeviceInfo, Expr::value(device_info.clone()))
            .filter(activation::Column::LicenseId.eq(license_id))
            .filter(activation::Column::HardwareId.eq(hardware_id))
            .filter(activation::Column::Active.eq(false))
            .exec(&txn)
            .await?;
        if reactivated.rows_affected == 0 {
            let inserted = activation::ActiveModel {
                license_id: Set(license_id),
                license_user_id: Set(user_id.map(str::to_string)),
                hardware_id: Set(hardware_id.to_string()),
                active: Set(true),
                device_info: Set(device_info),
                activated_at: Set(now),
                deactivated_at: Set(None),
                ..Default::default()
            }
            .insert(&txn)
            .await;
            if let Err(e) = inserted {
                txn.rollback().await?;
                // The unique (license, hardware_id) index: a concurrent request activated this device first.
                if let Some(a) = self.find_activation(license_id, hardware_id).await?.filter(|a| a.active) {
                    return Ok(ActivateOutcome::AlreadyActive(a));
                }
                return Err(StoreError::Db(e));
            }
        }
        txn.commit().await?;
        let a = self.find_activation(license_id, hardware_id).await?.ok_or(StoreError::NotFound("activation"))?;
        Ok(ActivateOutcome::Activated(a))
    }

    /// Frees the device's seat. False when the device was not active.
    pub async fn deactivate(&self, license_id: i64, hardware_id: &str, now: i64) -> Result<bool, StoreError> {
        let txn = self.db.begin().await?;
        let res = activation::Entity::update_many()
            .col_expr(activation::Column::Active, Expr::value(false))
            .col_expr(activation::Column::DeactivatedAt, Expr::value(now))
            .filter(activation::Column::LicenseId.eq(license_id))
            .filter(activation::Column::HardwareId.eq(hardware_id))
            .filter(activation::Column::Active.eq(true))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        license::Entity::update_many()
            .col_expr(license::Column::TimesActivated, Expr::col(license::Column::TimesActivated).sub(1))
            .filter(license::Column::Id.eq(license_id))
            .filter(license::Column::TimesActivated.gt(0))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(true)
    }

    pub async fn find_activation_by_id(&self, id: i64) -> Result<Option<activation::Model>, StoreError> {
        Ok(activation::Entity::find_by_id(id).one(&self.db).await?)
    }

    async fn organization_account_ids(&self, organization_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(customer_account::Entity::find()
            .filter(customer_account::Column::OrganizationId.eq(organization_id))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect())
    }

    /// The user with this external customer number (ABC's CIINo) in the organization.
    pub async fn find_user_by_customer_no(&self, organization_id: &str, customer_no: &str) -> Result<Option<license_user::Model>, StoreError> {
        let accounts = self.organization_account_ids(organization_id).await?;
        if accounts.is_empty() {
            return Ok(None);
        }
        Ok(license_user::Entity::find()
            .filter(license_user::Column::ExternalCustomerNo.eq(customer_no))
            .filter(license_user::Column::CustomerAccountId.is_in(accounts))
            .one(&self.db)
            .await?)
    }

    /// Users with this e-mail in any customer account of the organization (the SDKs identify SSO users by e-mail).
    pub async fn find_users_by_email_in_org(&self, organization_id: &str, email: &str) -> Result<Vec<license_user::Model>, StoreError> {
        let accounts = self.organization_account_ids(organization_id).await?;
        if accounts.is_empty() {
            return Ok(vec![]);
        }
        Ok(license_user::Entity::find()
            .filter(license_user::Column::Email.eq(email.to_lowercase()))
            .filter(license_user::Column::CustomerAccountId.is_in(accounts))
            .all(&self.db)
            .await?)
    }
}

