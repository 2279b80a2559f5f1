//! Management commands: create and list organizations, API keys, products, customer accounts, users, licenses,
//! management tokens. Output is JSON (one object per line), secrets are printed once, at creation.
use std::io::Read;

use clap::{Args, Subcommand};
use serde_json::json;

use super::CliError;
use crate::config::Config;
use crate::crypto::keys::MAX_JWT_LIFETIME;
use crate::crypto::password::PasswordHasherConfig;
use crate::crypto::secrets::{hash_token, random_token};
use crate::oauth::client::{default_grants, hash_client_secret, valid_redirect_uri};
use crate::store::admin::{NewLicense, NewProduct, NewUser};
use crate::store::entity::organization;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum ManageCommand {
    /// Organizations (software vendors, the tenants).
    #[command(subcommand)]
    Org(OrgCmd),
    /// License API keys of an organization.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCmd),
    /// Products (each is an OAuth client).
    #[command(subcommand)]
    Product(ProductCmd),
    /// Customer accounts.
    #[command(subcommand)]
    Account(AccountCmd),
    /// License users.
    #[command(subcommand)]
    User(UserCmd),
    /// Licenses.
    #[command(subcommand)]
    License(LicenseCmd),
    /// Organization-scoped management tokens (Bearer credentials of the management API).
    #[command(subcommand, name = "mgmt-token")]
    MgmtToken(MgmtTokenCmd),
}

#[derive(Subcommand, Debug)]
pub enum OrgCmd {
    Create { name: String },
    List,
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyCmd {
    Create { #[arg(long)] org: String },
    List { #[arg(long)] org: String },
    Revoke { api_key: String },
}

#[derive(Args, Debug)]
pub struct ProductArgs {
    #[arg(long)]
    pub org: String,
    /// Short code, unique in the organization (the License API `product` parameter).
    #[arg(long)]
    pub code: String,
    #[arg(long)]
    pub name: Option<String>,
    /// OAuth client id (default: a random UUID).
    #[arg(long)]
    pub client_id: Option<String>,
    /// Client secret (default: generated; printed once). Ignored with --public.
    #[arg(long)]
    pub client_secret: Option<String>,
    /// A public client (no secret; PKCE required), such as a desktop app.
    #[arg(long)]
    pub public: bool,
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// code or token.
    #[arg(long, default_value = "code")]
    pub response_type: String,
    /// Allowed grants (default: authorization_code, implicit, refresh_token, and client_credentials if confidential).
    #[arg(long = "grant")]
    pub grants: Vec<String>,
    /// Products (short codes) this product may mint SSO tokens for.
    #[arg(long = "linked-product")]
    pub linked_products: Vec<String>,
    #[arg(long)]
    pub access_token_ttl: Option<i64>,
    #[arg(long)]
    pub id_token_ttl: Option<i64>,
    #[arg(long)]
    pub refresh_token_ttl: Option<i64>,
}

#[derive(Subcommand, Debug)]
pub enum ProductCmd {
    Create(ProductArgs),
    List { #[arg(long)] org: String },
}

#[derive(Subcommand, Debug)]
pub enum AccountCmd {
    Create { #[arg(long)] org: String, #[arg(long)] code: String, #[arg(long)] name: Option<String> },
    List { #[arg(long)] org: String },
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// The password is read from standard input (--password-stdin) or prompted for.
    Create {
        #[arg(long)] org: String,
        #[arg(long)] account: String,
        #[arg(long)] email: String,
        #[arg(long)] name: Option<String>,
        #[arg(long)] password_stdin: bool,
        /// External customer number (ABC's CIINo).
        #[arg(long)] customer_no: Option<String>,
        /// Make the user the account's designated admin (SendGrid-style SSO target).
        #[arg(long)] admin: bool,
    },
    List { #[arg(long)] org: String, #[arg(long)] account: String },
    Disable { #[arg(long)] org: String, #[arg(long)] account: String, #[arg(long)] email: String },
    Enable { #[arg(long)] org: String, #[arg(long)] account: String, #[arg(long)] email: String },
}

#[derive(Subcommand, Debug)]
pub enum LicenseCmd {
    Create {
        #[arg(long)] org: String,
        #[arg(long)] product: String,
        #[arg(long)] account: String,
        #[arg(long, default_value_t = 1)] max_activations: i32,
        /// perpetual, time-limited, consumption or subscription.
        #[arg(long = "type", default_value = "perpetual")] license_type: String,
        /// Assign to these users (e-mails); the license is then restricted to them.
        #[arg(long = "user")] users: Vec<String>,
        /// A license key (optional; SSO licenses are found through the user).
        #[arg(long)] key: Option<String>,
        /// Expiry as a unix time.
        #[arg(long)] expires_at: Option<i64>,
        #[arg(long)] trial: bool,
    },
    List { #[arg(long)] org: String, #[arg(long)] account: String },
    Disable { id: i64 },
    Enable { id: i64 },
    /// Change the seat count (devices already active stay active).
    Seats { id: i64, max_activations: i32 },
}

#[derive(Subcommand, Debug)]
pub enum MgmtTokenCmd {
    Create { #[arg(long)] org: String, #[arg(long, default_value = "cli")] name: String },
    Revoke { id: String },
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

async fn org(store: &Store, name: &str) -> Result<organization::Model, CliError> {
    store.find_organization(name).await?.ok_or_else(|| usage(format!("organization {name} not found")))
}

async fn account_id(store: &Store, org_id: &str, code: &str) -> Result<String, CliError> {
    Ok(store.find_customer_account_by_code(org_id, code).await?.ok_or_else(|| usage(format!("customer account {code} not found")))?.id)
}

fn out(v: serde_json::Value) {
    super::say(format_args!("{v}"));
}

/// Creates a product and returns it with its plain client secret (None for public clients).
pub async fn create_product(store: &Store, config: &Config, a: ProductArgs, now: i64) -> Result<(crate::store::entity::product::Model, Option<String>), CliError> {
    let o = org(store, &a.org).await?;
    for uri in a.redirect_uris.iter().chain(a.post_logout_redirect_uris.iter()) {
        valid_redirect_uri(uri).map_err(|why| usage(format!("redirect URI {uri}: {why}")))?;
    }
    if !matches!(a.response_type.as_str(), "code" | "token") {
        return Err(usage("--response-type must be code or token"));
    }
    let ttl = |v: Option<i64>, default: i64, max: i64, name: &str| -> Result<i64, CliError> {
        let v = v.unwrap_or(default);
        if v <= 0 || v > max {
            return Err(usage(format!("--{name} must be between 1 and {max} seconds")));
        }
        Ok(v)
    };
    let jwt_max = MAX_JWT_LIFETIME - 300;
    let secret = if a.public { None } else { Some(a.client_secret.clone().unwrap_or_else(random_token)) };
    if secret.as_ref().is_some_and(|s| s.len() < 16) {
        return Err(usage("--client-secret must be at least 16 characters (omit it to generate one)"));
    }
    let grants = if a.grants.is_empty() { default_grants(a.public) } else { a.grants.clone() };
    let p = store
        .create_product(
            NewProduct {
                organization_id: o.id,
                short_code: a.code.clone(),
                name: a.name.clone().unwrap_or_else(|| a.code.clone()),
                client_id: a.client_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                client_secret_hash: secret.as_deref().map(hash_client_secret),
                redirect_uris: a.redirect_uris.clone(),
                post_logout_redirect_uris: a.post_logout_redirect_uris.clone(),
                default_response_type: a.response_type.clone(),
                allowed_grants: grants,
                linked_products: a.linked_products.clone(),
                access_token_ttl: ttl(a.access_token_ttl, config.access_token_ttl.min(jwt_max), jwt_max, "access-token-ttl")?,
                id_token_ttl: ttl(a.id_token_ttl, config.id_token_ttl.min(jwt_max), jwt_max, "id-token-ttl")?,
                refresh_token_ttl: ttl(a.refresh_token_ttl, config.refresh_token_ttl, 365 * 24 * 3600, "refresh-token-ttl")?,
            },
            now,
        )
        .await?;
    Ok((p, secret))
}

pub fn read_password(from_stdin: bool) -> Result<String, CliError> {
    let pw = if from_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s.trim_end_matches(['\r', '\n']).to_string()
    } else {
        rpassword::prompt_password("Password: ")?
    };
    if pw.chars().count() < 8 {
        return Err(usage("the password must have at least 8 characters"));
    }
    Ok(pw)
}

pub async fn hash_password(config: &Config, password: String) -> Result<String, CliError> {
    let (m, t, p) = (config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism);
    tokio::task::spawn_blocking(move || PasswordHasherConfig::new(m, t, p).and_then(|h| h.hash(&password)))
        .await
        .map_err(|e| usage(e.to_string()))?
        .map_err(|e| usage(e.to_string()))
}

pub async fn run(store: &Store, config: &Config, cmd: ManageCommand, now: i64) -> Result<(), CliError> {
    match cmd {
        ManageCommand::Org(OrgCmd::Create { name }) => {
            let o = store.create_organization(&name, now).await?;
            out(json!({"id": o.id, "name": o.name}));
        }
        ManageCommand::Org(OrgCmd::List) => {
            for o in store.list_organizations().await? {
                out(json!({"id": o.id, "name": o.name}));
            }
        }
        ManageCommand::ApiKey(ApiKeyCmd::Create { org: name }) => {
            let o = org(store, &name).await?;
            let k = store.create_api_key(&o.id, &uuid::Uuid::new_v4().to_string(), &random_token(), now).await?;
            out(json!({"api_key": k.api_key, "shared_key": k.shared_key}));
        }
        ManageCommand::ApiKey(ApiKeyCmd::List { org: name }) => {
            let o = org(store, &name).await?;
            for k in store.list_api_keys(&o.id).await? {
                out(json!({"api_key": k.api_key, "revoked": k.revoked}));
            }
        }
        ManageCommand::ApiKey(ApiKeyCmd::Revoke { api_key }) => {
            store.revoke_api_key(&api_key).await?;
            out(json!({"api_key": api_key, "revoked": true}));
        }
        ManageCommand::Product(ProductCmd::Create(a)) => {
            let (p, secret) = create_product(store, config, a, now).await?;
            out(json!({"id": p.id, "short_code": p.short_code, "client_id": p.client_id, "client_secret": secret,
                "redirect_uris": p.redirect_uri_list(), "default_response_type": p.default_response_type}));
        }
        ManageCommand::Product(ProductCmd::List { org: name }) => {
            let o = org(store, &name).await?;
            for p in store.list_products(&o.id).await? {
                out(json!({"id": p.id, "short_code": p.short_code, "name": p.name, "client_id": p.client_id,
                    "public": p.is_public_client(), "redirect_uris": p.redirect_uri_list(), "grants": p.allowed_grant_list()}));
            }
        }
        ManageCommand::Account(AccountCmd::Create { org: name, code, name: display }) => {
            let o = org(store, &name).await?;
            let a = store.create_customer_account(&o.id, &code, display.as_deref().unwrap_or(&code), now).await?;
            out(json!({"id": a.id, "code": a.code, "name": a.name}));
        }
        ManageCommand::Account(AccountCmd::List { org: name }) => {
            let o = org(store, &name).await?;
            for a in store.list_customer_accounts(&o.id).await? {
                out(json!({"id": a.id, "code": a.code, "name": a.name}));
            }
        }
        ManageCommand::User(UserCmd::Create { org: name, account, email, name: display, password_stdin, customer_no, admin }) => {
            let o = org(store, &name).await?;
            let account_id = account_id(store, &o.id, &account).await?;
            if !email.contains('@') || email.len() > 254 {
                return Err(usage("--email must be an e-mail address"));
            }
            let hash = hash_password(config, read_password(password_stdin)?).await?;
            let u = store
                .create_user(
                    NewUser { customer_account_id: account_id.clone(), email: email.clone(), name: display.unwrap_or_default(), password_hash: Some(hash), email_verified: true, external_customer_no: customer_no },
                    now,
                )
                .await?;
            if admin {
                store.set_customer_account_admin(&account_id, &u.id).await?;
            }
            out(json!({"id": u.id, "email": u.email, "customer_account": account}));
        }
        ManageCommand::User(UserCmd::List { org: name, account }) => {
            let o = org(store, &name).await?;
            for u in store.list_users(&account_id(store, &o.id, &account).await?).await? {
                out(json!({"id": u.id, "email": u.email, "name": u.name, "disabled": u.disabled}));
            }
        }
        ManageCommand::User(cmd @ (UserCmd::Disable { .. } | UserCmd::Enable { .. })) => {
            let (disable, org_name, account, email) = match cmd {
                UserCmd::Disable { org, account, email } => (true, org, account, email),
                UserCmd::Enable { org, account, email } => (false, org, account, email),
                _ => return Err(usage("unreachable")),
            };
            let o = org(store, &org_name).await?;
            let aid = account_id(store, &o.id, &account).await?;
            let u = store.find_user_by_email(&aid, &email).await?.ok_or_else(|| usage(format!("user {email} not found")))?;
            store.set_user_disabled(&u.id, disable).await?;
            out(json!({"id": u.id, "email": u.email, "disabled": disable}));
        }
        ManageCommand::License(LicenseCmd::Create { org: name, product, account, max_activations, license_type, users, key, expires_at, trial }) => {
            let o = org(store, &name).await?;
            let p = store.find_product_by_code(&o.id, &product).await?.ok_or_else(|| usage(format!("product {product} not found")))?;
            let aid = account_id(store, &o.id, &account).await?;
            if !matches!(license_type.as_str(), "perpetual" | "time-limited" | "consumption" | "subscription") {
                return Err(usage("--type must be perpetual, time-limited, consumption or subscription"));
            }
            if max_activations < 1 {
                return Err(usage("--max-activations must be at least 1"));
            }
            let mut assigned = Vec::new();
            for email in &users {
                assigned.push(store.find_user_by_email(&aid, email).await?.ok_or_else(|| usage(format!("user {email} not found")))?.id);
            }
            let l = store
                .create_license(
                    NewLicense { product_id: p.id, customer_account_id: aid, license_key: key, license_type, max_activations, is_trial: trial, user_restricted: !assigned.is_empty(), starts_at: None, expires_at, assigned_users: assigned },
                    now,
                )
                .await?;
            out(json!({"id": l.id, "license_key": l.license_key, "max_activations": l.max_activations, "users": users}));
        }
        ManageCommand::License(LicenseCmd::List { org: name, account }) => {
            let o = org(store, &name).await?;
            for l in store.list_licenses(&account_id(store, &o.id, &account).await?).await? {
                out(json!({"id": l.id, "license_key": l.license_key, "license_type": l.license_type, "max_activations": l.max_activations,
                    "times_activated": l.times_activated, "enabled": l.enabled, "expires_at": l.expires_at}));
            }
        }
        ManageCommand::License(LicenseCmd::Disable { id }) => {
            store.set_license_enabled(id, false).await?;
            out(json!({"id": id, "enabled": false}));
        }
        ManageCommand::License(LicenseCmd::Enable { id }) => {
            store.set_license_enabled(id, true).await?;
            out(json!({"id": id, "enabled": true}));
        }
        ManageCommand::License(LicenseCmd::Seats { id, max_activations }) => {
            if max_activations < 1 {
                return Err(usage("max_activations must be at least 1"));
            }
            store.set_license_max_activations(id, max_activations).await?;
            out(json!({"id": id, "max_activations": max_activations}));
        }
        ManageCommand::MgmtToken(MgmtTokenCmd::Create { org: name, name: label }) => {
            let o = org(store, &name).await?;
            let token = format!("kwm_{}", random_token());
            let t = store.create_management_token(&o.id, &label, &hash_token(&token), now).await?;
            out(json!({"id": t.id, "token": token, "note": "shown once; store it now"}));
        }
        ManageCommand::MgmtToken(MgmtTokenCmd::Revoke { id }) => {
            store.revoke_management_token(&id).await?;
            out(json!({"id": id, "revoked": true}));
        }
    }
    Ok(())
}
