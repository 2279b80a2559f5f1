//! `keyway demo`: one of each entity, created idempotently. Secrets are derived from this installation's cookie key
//! (in the database, sealed), so a second run prints the same working credentials without storing them in clear.
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::manage::{hash_password, token_defaults};
use super::CliError;
use crate::admin::{self, LicenseSpec, ProductSpec, UserSpec};
use crate::config::Config;
use crate::crypto::keyset::{self, KeySettings};
use crate::crypto::secrets::Secret;
use crate::store::Store;

pub const ORG: &str = "Demo Vendor";
pub const PRODUCT: &str = "demo-app";
pub const ACCOUNT: &str = "demo-customer";
pub const USER_EMAIL: &str = "demo@example.com";
pub const REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";
pub const MAX_ACTIVATIONS: i32 = 3;

#[derive(Serialize, serde::Deserialize, Clone, Debug)]
pub struct Demo {
    pub issuer: String,
    pub api_key: String,
    pub shared_key: String,
    pub product: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub customer_account_code: String,
    pub user_email: String,
    pub user_password: String,
    pub license_key: String,
    pub license_id: i64,
    pub max_activations: i32,
    pub license_public_key_pem: String,
}

fn derive(key: &[u8], label: &str) -> Result<String, CliError> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|e| CliError::Usage(e.to_string()))?;
    mac.update(b"keyway-demo:");
    mac.update(label.as_bytes());
    let bytes = mac.finalize().into_bytes();
    Ok(crate::crypto::secrets::hex(&bytes[..16]))
}

pub async fn ensure(store: &Store, config: &Config, now: i64) -> Result<Demo, CliError> {
    // The demo may create the installation's keys (like `serve` and `migrate`).
    let (_, keys) = keyset::open(store, &KeySettings::from_config(config), now).await?;
    let cookie_key = keys.cookie.expose().to_vec();
    let shared_key = derive(&cookie_key, "shared-key")?;
    let api_key = uuid::Uuid::from_bytes(uuid_bytes(&derive(&cookie_key, "api-key")?)).to_string();
    let client_secret = derive(&cookie_key, "client-secret")?;
    let password = format!("Demo-{}", &derive(&cookie_key, "password")?[..12]);
    let license_key = derive(&cookie_key, "license-key")?.to_uppercase();
    let license_key =
        format!("{}-{}-{}-{}", &license_key[0..4], &license_key[4..8], &license_key[8..12], &license_key[12..16]);

    let org = match store.find_organization(ORG).await? {
        Some(o) => o,
        None => store.create_organization(ORG, now).await?,
    };
    if store.find_api_key(&api_key).await?.is_none() {
        store.create_api_key(&org.id, &api_key, &shared_key, now).await?;
    }
    let product = match store.find_product_by_code(&org.id, PRODUCT).await? {
        Some(p) => p,
        None => {
            let spec = ProductSpec {
                code: PRODUCT.into(),
                name: Some("Demo App".into()),
                client_id: Some(PRODUCT.into()),
                client_secret: Some(Secret::new(client_secret.clone())),
                redirect_uris: vec![REDIRECT_URI.into()],
                post_logout_redirect_uris: vec![REDIRECT_URI.into()],
                ..Default::default()
            };
            std::sync::Arc::new(admin::create_product(store, token_defaults(config), &org.id, spec, now).await?.0)
        }
    };
    let account = match store.find_customer_account_by_code(&org.id, ACCOUNT).await? {
        Some(a) => a,
        None => std::sync::Arc::new(store.create_customer_account(&org.id, ACCOUNT, "Demo Customer Inc.", now).await?),
    };
    if store.find_user_by_email(&account.id, USER_EMAIL).await?.is_none() {
        let spec = UserSpec {
            email: USER_EMAIL.into(),
            name: "Demo User".into(),
            password_hash: Some(hash_password(config, password.clone()).await?),
            external_customer_no: Some("CII-0001".into()),
            account_admin: true,
        };
        admin::create_user(store, &account, spec, now).await?;
    }
    let license = match store.find_license_by_key(&product.id, &license_key).await? {
        Some(l) => l,
        None => {
            let spec = LicenseSpec {
                max_activations: MAX_ACTIVATIONS,
                license_type: "perpetual".into(),
                user_emails: vec![USER_EMAIL.into()],
                key: Some(license_key.clone()),
                expires_at: None,
                trial: false,
            };
            admin::create_license(store, &product, &account, spec, now).await?
        }
    };
    let license_public_key_pem = keys.license.public_pem().to_string();
    Ok(Demo {
        issuer: config.issuer.clone(),
        api_key,
        shared_key,
        product: PRODUCT.into(),
        client_id: product.client_id.to_string(),
        client_secret,
        redirect_uri: REDIRECT_URI.into(),
        customer_account_code: ACCOUNT.into(),
        user_email: USER_EMAIL.into(),
        user_password: password,
        license_key,
        license_id: license.id,
        max_activations: license.max_activations,
        license_public_key_pem,
    })
}

fn uuid_bytes(hex32: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex32.get(2 * i..2 * i + 2).unwrap_or("00"), 16).unwrap_or(0);
    }
    out
}

pub fn print(d: &Demo, json: bool) {
    if json {
        match serde_json::to_string(d) {
            Ok(s) => super::say(format_args!("{s}")),
            Err(e) => eprintln!("error: {e}"),
        }
        return;
    }
    super::say(format_args!("keyway demo data"));
    super::say(format_args!("  organization           {ORG} (the --org of the management commands)"));
    super::say(format_args!("  issuer / URL           {}", d.issuer));
    super::say(format_args!("  login (demo user)      {} / {}", d.user_email, d.user_password));
    super::say(format_args!("  License API key        {}", d.api_key));
    super::say(format_args!("  License API shared key {}", d.shared_key));
    super::say(format_args!("  product / client_id    {} / {}", d.product, d.client_id));
    super::say(format_args!("  client_secret          {}", d.client_secret));
    super::say(format_args!("  redirect_uri           {}", d.redirect_uri));
    super::say(format_args!("  customer account       {}", d.customer_account_code));
    super::say(format_args!(
        "  license                {} (id {}, {} seats)",
        d.license_key, d.license_id, d.max_activations
    ));
    super::say(format_args!(
        "  try the hosted login   \
        {}/oauth2/authorize?client_id={}&response_type=code&scope=openid%20email%20profile&redirect_uri={}&\
            customer_account_code={}",
        d.issuer,
        d.client_id,
        crate::encoding::component(&d.redirect_uri),
        d.customer_account_code
    ));
}
