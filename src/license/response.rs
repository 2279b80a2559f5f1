//! The activation / check response the LicenseSpring SDKs consume (licensespring-contract.md): compact JSON, no
//! floats, no integers above 2^53, `validity_period` with milliseconds and `Z`, and `license_signature`.
use serde_json::{json, Value};

use super::activation::Activated;
use crate::crypto::keys::LicenseSigner;
use crate::model::{CustomerAccount, License, LicenseUser, OAuthClient};

/// `YYYY-MM-DDTHH:mm:ss.sssZ` in UTC, the format the Node SDK signs over.
pub fn iso_millis(unix: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z");
    t.format(&f).ok()
}

pub fn iso_date(unix: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
    t.format(&time::macros::format_description!("[year]-[month]-[day]")).ok()
}

/// base64 RSA-PKCS1v15-SHA256 over lower("<hardware_id>#<id>#<validity>"), `<id>` cut at the first `|`.
pub fn license_signature(
    signer: &LicenseSigner,
    hardware_id: &str,
    id: &str,
    validity: Option<&str>,
) -> Option<String> {
    let id = id.split('|').next().unwrap_or("");
    let text = format!("{hardware_id}#{id}#{}", validity.unwrap_or("")).to_lowercase();
    signer.sign_b64(text.as_bytes()).ok()
}

pub fn user_json(user: &LicenseUser) -> Value {
    let (first, last) = match user.name.split_once(' ') {
        Some((f, l)) => (f.to_string(), l.to_string()),
        None => (user.name.clone(), String::new()),
    };
    json!({
        "id": user.id, "email": user.email, "first_name": first, "last_name": last, "phone_number": "",
        "is_active": !user.disabled, "is_initial_password": false, "allow_unlimited_activations": false,
        "max_activations": 0, "total_activations": 0,
    })
}

/// The license object shared by activation, check and user_licenses responses.
pub fn license_json(l: &License, product: &OAuthClient, account: &CustomerAccount, now: i64) -> Value {
    let validity = l.expires_at.and_then(iso_millis);
    let active_period = l.expires_at.is_none_or(|e| e > now);
    json!({
        "id": l.id,
        "license_key": l.license_key,
        "license_type": l.license_type.as_str(),
        "is_trial": l.is_trial,
        "validity_period": validity,
        "is_floating": false,
        "is_floating_cloud": false,
        "floating_timeout": 120,
        "floating_users": 0,
        "max_activations": l.max_activations,
        "times_activated": l.times_activated,
        "transfer_count": 0,
        "transfer_limit": 0,
        "prevent_vm": false,
        "grace_period": 0,
        "allow_grace_period": false,
        "allow_overages": false,
        "max_overages": 0,
        "start_date": l.starts_at.or(Some(l.created_at)).and_then(iso_date),
        "maintenance_period": null,
        "is_expired": !active_period,
        "enabled": l.enabled,
        "product_features": [],
        "custom_fields": [],
        "customer": {
            "email": "", "company_name": account.name, "reference": account.code, "first_name": "", "last_name": "",
        },
        "company": {},
        "product_details": {
            "product_id": product.id, "product_name": product.name, "short_code": product.short_code,
            "authorization_method": "user", "metadata": {},
        },
        "metadata": {},
    })
}

/// Activation and check responses: the license object plus device state and `license_signature` over
/// lower("<hardware_id of the request>#<signature id>#<validity>").
pub fn device_response(a: &Activated, request: &str, signer: &LicenseSigner, now: i64) -> Value {
    let l = &a.license;
    let mut v = license_json(l, &a.product, &a.account, now);
    let validity = l.expires_at.and_then(iso_millis);
    v["request"] = json!(request);
    v["active"] = json!(a.activation.active);
    v["license_active"] = json!(a.activation.active);
    v["license_enabled"] = json!(l.enabled);
    v["device_id"] = json!(a.activation.id);
    v["hardware_id"] = json!(a.activation.hardware_id.as_str());
    if let Some(u) = &a.user {
        v["user"] = user_json(u);
    }
    v["license_signature"] =
        json!(license_signature(signer, a.activation.hardware_id.as_str(), &a.signature_id, validity.as_deref()));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(iso_millis(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(iso_millis(1_795_428_534).as_deref(), Some("2026-11-23T10:08:54.000Z"));
        assert_eq!(iso_date(1_795_428_534).as_deref(), Some("2026-11-23"));
    }
}
