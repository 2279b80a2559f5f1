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
    let mut v = json!({
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
    });
    if let (Value::Object(fields), Value::Object(sdk)) = (&mut v, sdk_fields()) {
        fields.extend(sdk);
    }
    v
}

/// Fields the official Python SDKs (2.0.1 to 4.0.0) read from every license object for features keyway does not
/// have: borrowing, floating seats, consumption, device transfers, air gap, TPM. Without them SDK 3.x fails in
/// `License.check()` (`borrowed_until`) and in getters such as `max_transfers()`. Each SDK read and version is
/// listed in docs/SDK-FIELDS.md. The values describe a keyway license: node-locked, never borrowed, not
/// consumption-based, with unlimited device transfers.
pub fn sdk_fields() -> Value {
    json!({
        "allow_unlimited_activations": false,
        "max_transfers": 0,
        "is_borrowed": false,
        "borrowed_until": null,
        "floating_in_use_devices": 0,
        "max_consumptions": 0,
        "total_consumptions": 0,
        "allow_unlimited_consumptions": false,
        "allow_negative_consumptions": false,
        "reset_consumption": false,
        "consumption_period": null,
        "is_air_gapped": false,
        "policy_id": null,
        "order_store_id": "",
        "is_tpm_auth": false,
        "tpm_signing_public_key": null,
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

    fn demo_models() -> (License, OAuthClient, CustomerAccount) {
        use crate::model::client::DefaultResponseType;
        use crate::model::{ClientId, GrantSet, LicenseType};
        let l = License {
            id: 7,
            product_id: "p1".into(),
            customer_account_id: "a1".into(),
            license_key: Some("AAAA-BBBB-CCCC-DDDD".into()),
            license_type: LicenseType::Perpetual,
            max_activations: 3,
            times_activated: 1,
            enabled: true,
            is_trial: false,
            user_restricted: true,
            starts_at: None,
            expires_at: None,
            created_at: 1_795_428_534,
        };
        let p = OAuthClient {
            id: "p1".into(),
            organization_id: "o1".into(),
            short_code: "demo-app".into(),
            name: "Demo".into(),
            client_id: ClientId::new("demo-app"),
            secret_hash: None,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            default_response_type: DefaultResponseType::Code,
            grants: GrantSet::default(),
            linked_products: vec![],
            access_token_ttl: 3600,
            id_token_ttl: 3600,
            refresh_token_ttl: 86400,
            disabled: false,
            created_at: 0,
        };
        let a = CustomerAccount {
            id: "a1".into(),
            organization_id: "o1".into(),
            code: "demo-customer".into(),
            name: "Demo Customer".into(),
            admin_user_id: None,
            created_at: 0,
            federation: None,
        };
        (l, p, a)
    }

    /// Exactly the license object the SDKs get (activation, check, user_licenses): docs/SDK-FIELDS.md.
    #[test]
    fn license_object_fields() {
        let (l, p, a) = demo_models();
        let v = license_json(&l, &p, &a, 1_795_428_534);
        let keys: Vec<&str> = v.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "allow_grace_period",
                "allow_negative_consumptions",
                "allow_overages",
                "allow_unlimited_activations",
                "allow_unlimited_consumptions",
                "borrowed_until",
                "company",
                "consumption_period",
                "custom_fields",
                "customer",
                "enabled",
                "floating_in_use_devices",
                "floating_timeout",
                "floating_users",
                "grace_period",
                "id",
                "is_air_gapped",
                "is_borrowed",
                "is_expired",
                "is_floating",
                "is_floating_cloud",
                "is_tpm_auth",
                "is_trial",
                "license_key",
                "license_type",
                "maintenance_period",
                "max_activations",
                "max_consumptions",
                "max_overages",
                "max_transfers",
                "metadata",
                "order_store_id",
                "policy_id",
                "prevent_vm",
                "product_details",
                "product_features",
                "reset_consumption",
                "start_date",
                "times_activated",
                "total_consumptions",
                "tpm_signing_public_key",
                "transfer_count",
                "transfer_limit",
                "validity_period",
            ]
        );
        // What SDK 3.x reads unconditionally (AttributeError when absent), with LicenseSpring's types.
        assert_eq!(v["borrowed_until"], Value::Null);
        assert_eq!(v["is_borrowed"], json!(false));
        assert_eq!(v["max_transfers"], json!(0));
        assert_eq!(v["transfer_count"], json!(0));
        assert_eq!(v["allow_unlimited_activations"], json!(false));
        assert_eq!(v["is_floating"], json!(false));
        assert_eq!(v["is_floating_cloud"], json!(false));
        assert_eq!(v["floating_users"], json!(0));
        assert_eq!(v["floating_in_use_devices"], json!(0));
        assert_eq!(v["floating_timeout"], json!(120));
        assert_eq!(v["grace_period"], json!(0));
        assert_eq!(v["allow_grace_period"], json!(false));
        assert_eq!(v["prevent_vm"], json!(false));
        assert_eq!(v["is_trial"], json!(false));
        assert_eq!(v["id"], json!(7));
        assert_eq!(v["max_activations"], json!(3));
        assert_eq!(v["times_activated"], json!(1));
        assert_eq!(v["license_type"], json!("perpetual"));
        assert_eq!(v["license_key"], json!("AAAA-BBBB-CCCC-DDDD"));
        assert_eq!(v["validity_period"], Value::Null);
        assert_eq!(v["start_date"], json!("2026-11-23"));
        assert_eq!(v["maintenance_period"], Value::Null);
        assert_eq!(v["metadata"], json!({}));
        assert_eq!(v["custom_fields"], json!([]));
        assert_eq!(v["product_features"], json!([]));
        assert!(v["customer"].is_object() && v["company"].is_object() && v["product_details"].is_object());
        // Read by getters with a default (None/False), sent so every version sees the same values.
        assert_eq!(v["max_consumptions"], json!(0));
        assert_eq!(v["total_consumptions"], json!(0));
        assert_eq!(v["max_overages"], json!(0));
        assert_eq!(v["allow_overages"], json!(false));
        assert_eq!(v["allow_unlimited_consumptions"], json!(false));
        assert_eq!(v["allow_negative_consumptions"], json!(false));
        assert_eq!(v["reset_consumption"], json!(false));
        assert_eq!(v["consumption_period"], Value::Null);
        assert_eq!(v["is_air_gapped"], json!(false));
        assert_eq!(v["policy_id"], Value::Null);
        assert_eq!(v["order_store_id"], json!(""));
        assert_eq!(v["is_tpm_auth"], json!(false));
        assert_eq!(v["tpm_signing_public_key"], Value::Null);
        // A time-limited license: validity with milliseconds and Z; expired once the time has passed.
        let limited = License { expires_at: Some(1_795_428_600), starts_at: Some(1_795_000_000), ..l };
        let v = license_json(&limited, &p, &a, 1_795_428_534);
        assert_eq!(v["validity_period"], json!("2026-11-23T10:10:00.000Z"));
        assert_eq!(v["start_date"], json!("2026-11-18"));
        assert_eq!(v["is_expired"], json!(false));
        assert_eq!(license_json(&limited, &p, &a, 1_795_428_600)["is_expired"], json!(true));
    }

    #[test]
    fn formats() {
        assert_eq!(iso_millis(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(iso_millis(1_795_428_534).as_deref(), Some("2026-11-23T10:08:54.000Z"));
        assert_eq!(iso_date(1_795_428_534).as_deref(), Some("2026-11-23"));
    }
}
