//! The license user portal's rules (SPEC §6.4): the user's licenses with their active devices, and deactivating one
//! of the user's devices (which frees its seat).
use crate::audit::Actor;
use crate::model::{License, LicenseUser};
use crate::store::audit::AuditEvent;
use crate::store::{Store, StoreError};

pub struct DeviceSummary {
    pub id: i64,
    /// The host name the SDK reported, with the hardware id; or the hardware id alone.
    pub label: String,
    pub activated_at: i64,
}

pub struct LicenseSummary {
    pub license: License,
    pub product_name: String,
    pub devices: Vec<DeviceSummary>,
}

pub async fn overview(store: &Store, user: &LicenseUser) -> Result<Vec<LicenseSummary>, StoreError> {
    let mut out = Vec::new();
    for license in store.all_licenses_for_user(user).await? {
        let product_name = store.find_product(&license.product_id).await?.map(|p| p.name.clone()).unwrap_or_default();
        let devices = store
            .active_devices(license.id)
            .await?
            .into_iter()
            .map(|a| {
                let host = a
                    .device_info
                    .as_deref()
                    .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                    .and_then(|v| v["hostname"].as_str().map(str::to_string));
                let label = match host {
                    Some(h) => format!("{h} ({})", a.hardware_id),
                    None => a.hardware_id.to_string(),
                };
                DeviceSummary { id: a.id, label, activated_at: a.activated_at }
            })
            .collect();
        out.push(LicenseSummary { license, product_name, devices });
    }
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// Not an active device of a license this user may see.
    #[error("no such active device")]
    NoSuchDevice,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn deactivate_device(
    store: &Store,
    user: &LicenseUser,
    actor: &Actor,
    activation_id: i64,
    client_ip: Option<&str>,
    now: i64,
) -> Result<(), PortalError> {
    let a = store.find_activation_by_id(activation_id).await?.filter(|a| a.active).ok_or(PortalError::NoSuchDevice)?;
    // Only devices of licenses this user may see.
    if !store.all_licenses_for_user(user).await?.iter().any(|l| l.id == a.license_id) {
        return Err(PortalError::NoSuchDevice);
    }
    let subject = format!("activation {activation_id} by {}", user.id);
    let event = AuditEvent {
        actor: actor.as_str(),
        action: "license.deactivate",
        subject: &subject,
        client_ip,
        outcome: "success (portal)",
    };
    if store.deactivate(a.license_id, a.hardware_id.as_str(), event, now).await? {
        Ok(())
    } else {
        Err(PortalError::NoSuchDevice)
    }
}

/// Issue 17: after sign-in, whether the user's licenses for the product have no free seat: the (used, max) of the
/// first usable license when every usable one is full; None when a seat is free or there is no usable license
/// (then the product's own activation error says why).
pub fn seats_full(licenses: &[crate::model::License], now: i64) -> Option<(i32, i32)> {
    let usable: Vec<_> = licenses.iter().filter(|l| l.usability(now).is_ok()).collect();
    if usable.is_empty() || usable.iter().any(|l| l.times_activated < l.max_activations) {
        return None;
    }
    usable.first().map(|l| (l.times_activated, l.max_activations))
}
