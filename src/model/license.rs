//! Licenses and their activations (SPEC §2, §3.4).
use super::ids::HardwareId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseType {
    Perpetual,
    TimeLimited,
    Consumption,
    Subscription,
}

impl LicenseType {
    pub const NAMES: &'static str = "perpetual, time-limited, consumption or subscription";

    pub fn parse(s: &str) -> Option<LicenseType> {
        match s {
            "perpetual" => Some(LicenseType::Perpetual),
            "time-limited" => Some(LicenseType::TimeLimited),
            "consumption" => Some(LicenseType::Consumption),
            "subscription" => Some(LicenseType::Subscription),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LicenseType::Perpetual => "perpetual",
            LicenseType::TimeLimited => "time-limited",
            LicenseType::Consumption => "consumption",
            LicenseType::Subscription => "subscription",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    pub id: i64,
    pub product_id: String,
    pub customer_account_id: String,
    pub license_key: Option<String>,
    pub license_type: LicenseType,
    pub max_activations: i32,
    /// Devices active now; kept beside the limit so that a seat is claimed by one conditional UPDATE.
    pub times_activated: i32,
    pub enabled: bool,
    pub is_trial: bool,
    /// Only the assigned users may use it (otherwise every user of the customer account).
    pub user_restricted: bool,
    pub starts_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
}

/// Why a license cannot be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    Disabled,
    Expired,
}

impl License {
    /// Enabled and within its validity period at `now`.
    pub fn usability(&self, now: i64) -> Result<(), Unusable> {
        if !self.enabled {
            return Err(Unusable::Disabled);
        }
        if self.expires_at.is_some_and(|e| e <= now) || self.starts_at.is_some_and(|s| s > now) {
            return Err(Unusable::Expired);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub id: i64,
    pub license_id: i64,
    pub license_user_id: Option<String>,
    pub hardware_id: HardwareId,
    pub active: bool,
    /// The device fields the SDK sent, as a JSON object.
    pub device_info: Option<String>,
    pub activated_at: i64,
    pub deactivated_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn license(enabled: bool, starts: Option<i64>, expires: Option<i64>) -> License {
        License {
            id: 1,
            product_id: "p".into(),
            customer_account_id: "a".into(),
            license_key: None,
            license_type: LicenseType::Perpetual,
            max_activations: 1,
            times_activated: 0,
            enabled,
            is_trial: false,
            user_restricted: false,
            starts_at: starts,
            expires_at: expires,
            created_at: 0,
        }
    }

    #[test]
    fn usability_by_state_and_period() {
        assert_eq!(license(true, None, None).usability(100), Ok(()));
        assert_eq!(license(false, None, None).usability(100), Err(Unusable::Disabled));
        assert_eq!(license(true, None, Some(100)).usability(100), Err(Unusable::Expired), "expiry is exclusive");
        assert_eq!(license(true, None, Some(101)).usability(100), Ok(()));
        assert_eq!(license(true, Some(101), None).usability(100), Err(Unusable::Expired), "not started yet");
        for t in ["perpetual", "time-limited", "consumption", "subscription"] {
            assert_eq!(LicenseType::parse(t).map(LicenseType::as_str), Some(t));
        }
        assert_eq!(LicenseType::parse("lifetime"), None);
    }
}
