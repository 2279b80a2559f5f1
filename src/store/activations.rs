//! Licenses in use: activations and seats (SPEC §3.4). `licenses.times_activated` counts active devices; a seat is
//! claimed by `UPDATE … SET times_activated = times_activated + 1 WHERE times_activated < max_activations`, checked by
//! rows-affected, inside the transaction that records the activation: the count never passes the limit, whatever the
//! concurrency, and never disagrees with the activation rows.
use super::audit::AuditEvent;
use super::db::{params, Offset, Row, Tx};
use super::licenses::{license, license_cols};
use super::{Store, StoreError};
use crate::model::{Activation, HardwareId, License, LicenseUser};

macro_rules! activation_cols {
    () => {
        "a.id, a.license_id, a.license_user_id, a.hardware_id, a.active, a.device_info, a.activated_at, \
            a.deactivated_at"
    };
    (bare) => {
        "id, license_id, license_user_id, hardware_id, active, device_info, activated_at, deactivated_at"
    };
}

fn activation(r: &dyn Row) -> Result<Activation, StoreError> {
    Ok(Activation {
        id: r.int(0)?,
        license_id: r.int(1)?,
        license_user_id: r.opt_text(2)?,
        hardware_id: HardwareId::from_stored(r.text(3)?),
        active: r.flag(4)?,
        device_info: r.opt_text(5)?,
        activated_at: r.int(6)?,
        deactivated_at: r.opt_int(7)?,
    })
}

/// A license with this device's activation row, if there is one (active or not).
fn license_with_device(r: &dyn Row) -> Result<(License, Option<Activation>), StoreError> {
    let license = license(r)?;
    // 13 license columns, then the activation's (all NULL without a row).
    let device = match r.opt_int(13)? {
        Some(_) => Some(activation(&Offset(r, 13))?),
        None => None,
    };
    Ok((license, device))
}

/// The outcome of [`Store::activate`].
#[derive(Debug, PartialEq, Eq)]
pub enum ActivateOutcome {
    /// A seat was taken for this device; the license with its new seat count.
    Activated { license: License, activation: Activation },
    /// The device was already active on the license: nothing changed (idempotent).
    AlreadyActive { activation: Activation },
    /// No seat left.
    SeatsFull,
}

/// What one device sends along with an activation.
pub struct DeviceActivation<'a> {
    pub license_id: i64,
    pub user_id: Option<&'a str>,
    pub hardware_id: &'a HardwareId,
    pub device_info: Option<&'a str>,
}

async fn find_in(tx: &mut Tx, license_id: i64, hardware_id: &str) -> Result<Option<Activation>, StoreError> {
    tx.fetch_optional(
        concat!("SELECT ", activation_cols!(), " FROM activations a WHERE a.license_id = $1 AND a.hardware_id = $2"),
        params![license_id, hardware_id],
        activation,
    )
    .await
}

impl Store {
    /// The licenses of `product_id` that `user` may use (see [`Store::licenses_for_user`]), each with its activation
    /// on `hardware_id`: one query.
    pub async fn licenses_on_device(
        &self,
        product_id: &str,
        user: &LicenseUser,
        hardware_id: &HardwareId,
    ) -> Result<Vec<(License, Option<Activation>)>, StoreError> {
        self.db
            .fetch_all(
                concat!(
                    "SELECT ",
                    license_cols!(),
                    ", ",
                    activation_cols!(),
                    " FROM licenses l LEFT JOIN activations a ON a.license_id = l.id AND a.hardware_id = $1 \
                     WHERE l.product_id = $2 AND l.customer_account_id = $3 AND (l.user_restricted = false OR EXISTS \
                     (SELECT 1 FROM license_assignments la WHERE la.license_id = l.id AND la.license_user_id = $4)) \
                         ORDER BY l.id"
                ),
                params![hardware_id.as_str(), product_id, &user.customer_account_id, &user.id],
                license_with_device,
            )
            .await
    }

    pub async fn find_activation(&self, license_id: i64, hardware_id: &str) -> Result<Option<Activation>, StoreError> {
        self.db
            .fetch_optional(
                concat!(
                    "SELECT ",
                    activation_cols!(),
                    " FROM activations a WHERE a.license_id = $1 AND a.hardware_id = $2"
                ),
                params![license_id, hardware_id],
                activation,
            )
            .await
    }

    pub async fn find_activation_by_id(&self, id: i64) -> Result<Option<Activation>, StoreError> {
        self.db
            .fetch_optional(
                concat!("SELECT ", activation_cols!(), " FROM activations a WHERE a.id = $1"),
                params![id],
                activation,
            )
            .await
    }

    pub async fn active_devices(&self, license_id: i64) -> Result<Vec<Activation>, StoreError> {
        self.db
            .fetch_all(
                concat!(
                    "SELECT ",
                    activation_cols!(),
                    " FROM activations a WHERE a.license_id = $1 AND a.active = true ORDER BY a.activated_at, a.id"
                ),
                params![license_id],
                activation,
            )
            .await
    }

    /// Activates a license on a device: claims a seat and records (or revives) the activation in one transaction,
    /// writing `audit` in it on success. The device already active is `AlreadyActive` and changes nothing.
    pub async fn activate(
        &self,
        d: DeviceActivation<'_>,
        audit: AuditEvent<'_>,
        now: i64,
    ) -> Result<ActivateOutcome, StoreError> {
        let hw = d.hardware_id.as_str();
        let mut tx = self.db.begin().await?;
        // The write comes first: PostgreSQL locks the license row, SQLite holds the write lock, so concurrent
        // activations of one license queue here instead of racing. A device already active takes no second seat.
        let claimed = tx
            .fetch_optional(
                concat!(
                    "UPDATE licenses SET times_activated = times_activated + 1 WHERE id = $1 AND times_activated < \
                        max_activations \
                     AND NOT EXISTS (SELECT 1 FROM activations WHERE license_id = $1 AND hardware_id = $2 AND active \
                         = true) RETURNING ",
                    license_cols!(bare)
                ),
                params![d.license_id, hw],
                license,
            )
            .await?;
        let Some(license) = claimed else {
            // No seat, or the device is active already (an earlier request, or a concurrent one that committed first).
            return Ok(match find_in(&mut tx, d.license_id, hw).await?.filter(|a| a.active) {
                Some(activation) => ActivateOutcome::AlreadyActive { activation },
                None => ActivateOutcome::SeatsFull,
            });
        };
        // One row per (license, device): a deactivated device is revived, a new one inserted. `WHERE active = false`
        // makes a row activated concurrently (PostgreSQL, READ COMMITTED) a no-op that we detect and roll back.
        let recorded = tx
            .fetch_optional(
                concat!(
                    "INSERT INTO activations (license_id, license_user_id, hardware_id, active, device_info, \
                        activated_at, deactivated_at) \
                     VALUES ($1, $2, $3, true, $4, $5, NULL) ON CONFLICT (license_id, hardware_id) DO UPDATE SET \
                         active = true, \
                     license_user_id = excluded.license_user_id, device_info = excluded.device_info, activated_at = \
                         excluded.activated_at, \
                     deactivated_at = NULL WHERE activations.active = false RETURNING ",
                    activation_cols!(bare)
                ),
                params![d.license_id, d.user_id, hw, d.device_info, now],
                activation,
            )
            .await?;
        let Some(activation) = recorded else {
            drop(tx);
            return Ok(match self.find_activation(d.license_id, hw).await?.filter(|a| a.active) {
                Some(activation) => ActivateOutcome::AlreadyActive { activation },
                None => ActivateOutcome::SeatsFull,
            });
        };
        super::audit::insert_in(&mut tx, &audit, now).await?;
        tx.commit().await?;
        Ok(ActivateOutcome::Activated { license, activation })
    }

    /// Frees the device's seat, with `audit` in the same transaction. False when the device was not active.
    pub async fn deactivate(
        &self,
        license_id: i64,
        hardware_id: &str,
        audit: AuditEvent<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .execute(
                "UPDATE activations SET active = false, deactivated_at = $1 WHERE license_id = $2 AND hardware_id = \
                    $3 AND active = true",
                params![now, license_id, hardware_id],
            )
            .await?;
        if n != 1 {
            return Ok(false);
        }
        tx.execute(
            "UPDATE licenses SET times_activated = times_activated - 1 WHERE id = $1 AND times_activated > 0",
            params![license_id],
        )
        .await?;
        super::audit::insert_in(&mut tx, &audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}
