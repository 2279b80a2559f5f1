//! Management commands: organizations, API keys, products, customer accounts, users, licenses, management tokens.
//! The rules are in `crate::admin`; this module parses arguments and prints JSON (one object per line). Secrets are
//! printed once, at creation.
use std::io::{IsTerminal, Read};

use clap::{Args, Subcommand};
use serde_json::json;

use super::CliError;
use crate::admin::{self, AdminError, LicenseSpec, ProductSpec, TokenDefaults, UserSpec};
use crate::auth::recovery::LinkKind;
use crate::config::Config;
use crate::crypto::password::PasswordHasherConfig;
use crate::crypto::secrets::{hash_token, random_token, Secret};
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
    /// Customer accounts (the vendor's customers).
    #[command(subcommand)]
    Account(AccountCmd),
    /// License users (the people who sign in).
    #[command(subcommand)]
    User(UserCmd),
    /// Licenses.
    #[command(subcommand)]
    License(LicenseCmd),
    /// Organization-scoped management tokens (Bearer credentials of the backend-initiated SSO routes).
    #[command(subcommand, name = "mgmt-token")]
    MgmtToken(MgmtTokenCmd),
}

#[derive(Subcommand, Debug)]
pub enum OrgCmd {
    /// Create an organization.
    Create {
        /// Its name (unique).
        name: String,
    },
    /// List the organizations.
    List,
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyCmd {
    /// Create an API key and shared key (printed once).
    Create {
        /// Organization name or id.
        #[arg(long)]
        org: String,
    },
    /// List an organization's API keys.
    List {
        /// Organization name or id.
        #[arg(long)]
        org: String,
    },
    /// Revoke an API key.
    Revoke {
        /// The API key (its public id).
        api_key: String,
    },
}

#[derive(Args, Debug)]
pub struct ProductArgs {
    /// Organization name or id.
    #[arg(long)]
    pub org: String,
    /// Short code, unique in the organization (the License API `product` parameter).
    #[arg(long)]
    pub code: String,
    /// Display name (default: the code).
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
    /// A redirect URI (repeatable): https, a custom scheme, or http on a loopback address.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// A post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// The response type of its sso_url: code or token.
    #[arg(long, default_value = "code")]
    pub response_type: String,
    /// Allowed grant (repeatable; default: authorization_code, implicit, refresh_token, and client_credentials if
    /// confidential).
    #[arg(long = "grant")]
    pub grants: Vec<String>,
    /// A product (short code) this product may mint SSO tokens and exchange tokens for (repeatable).
    #[arg(long = "linked-product")]
    pub linked_products: Vec<String>,
    /// Access token lifetime, seconds (default: the configured one).
    #[arg(long)]
    pub access_token_ttl: Option<i64>,
    /// id_token lifetime, seconds (default: the configured one).
    #[arg(long)]
    pub id_token_ttl: Option<i64>,
    /// Refresh token lifetime, seconds (default: the configured one).
    #[arg(long)]
    pub refresh_token_ttl: Option<i64>,
}

impl ProductArgs {
    pub fn spec(self) -> ProductSpec {
        ProductSpec {
            code: self.code,
            name: self.name,
            client_id: self.client_id,
            client_secret: self.client_secret.map(Secret::new),
            public: self.public,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            response_type: Some(self.response_type),
            grants: self.grants,
            linked_products: self.linked_products,
            access_token_ttl: self.access_token_ttl,
            id_token_ttl: self.id_token_ttl,
            refresh_token_ttl: self.refresh_token_ttl,
        }
    }
}

/// Parsed once per run: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum ProductCmd {
    /// Create a product (prints its client secret once).
    Create(ProductArgs),
    /// List an organization's products.
    List {
        /// Organization name or id.
        #[arg(long)]
        org: String,
    },
    /// Disable a product: no sign-ins or tokens for it, and its tokens stop being active.
    Disable {
        /// Organization name or id.
        #[arg(long)]
        org: String,
        /// The product's short code.
        #[arg(long)]
        code: String,
    },
    /// Enable a disabled product again.
    Enable {
        /// Organization name or id.
        #[arg(long)]
        org: String,
        /// The product's short code.
        #[arg(long)]
        code: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AccountCmd {
    /// Create a customer account.
    Create {
        /// Organization name or id.
        #[arg(long)]
        org: String,
        /// Account code, unique in the organization (the License API `customer_account_code`).
        #[arg(long)]
        code: String,
        /// Display name (default: the code).
        #[arg(long)]
        name: Option<String>,
    },
    /// List an organization's customer accounts.
    List {
        /// Organization name or id.
        #[arg(long)]
        org: String,
    },
    /// Show or set the account's multi-factor policy (--required on|off, --after-idp on|off).
    Mfa(super::mfa::AccountMfa),
}

/// Which user of which account.
#[derive(Args, Debug)]
pub struct UserRef {
    /// Organization name or id.
    #[arg(long)]
    pub org: String,
    /// Customer account code.
    #[arg(long)]
    pub account: String,
    /// The user's e-mail address.
    #[arg(long)]
    pub email: String,
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create a license user; the password is read from standard input (--password-stdin) or prompted for.
    Create {
        #[command(flatten)]
        user: UserRef,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input (for scripts).
        #[arg(long)]
        password_stdin: bool,
        /// External customer number (ABC's CIINo).
        #[arg(long)]
        customer_no: Option<String>,
        /// Make the user the account's designated admin (the SendGrid-style SSO target).
        #[arg(long)]
        admin: bool,
    },
    /// List the users of a customer account.
    List {
        /// Organization name or id.
        #[arg(long)]
        org: String,
        /// Customer account code.
        #[arg(long)]
        account: String,
    },
    /// Disable a user (no sign-ins; tokens stop working).
    Disable(UserRef),
    /// Enable a disabled user again.
    Enable(UserRef),
    /// Lift the user's sign-in lockout (support staff): the address's counts in its account, its browsers' and the
    /// License API's, and the second factor's.
    Unlock(UserRef),
    /// Print a password reset link (single use, 30 minutes) for support staff to hand over.
    ResetLink(LinkArgs),
    /// Print an e-mail verification link.
    VerifyLink(LinkArgs),
    /// Multi-factor authentication of a user (support staff).
    #[command(subcommand)]
    Mfa(super::mfa::UserMfaCmd),
}

#[derive(Args, Debug)]
pub struct LinkArgs {
    /// Organization name or id.
    #[arg(long)]
    pub org: String,
    /// The user's e-mail address.
    #[arg(long)]
    pub email: String,
    /// Customer account code (needed when the address is a user of several accounts).
    #[arg(long)]
    pub account: Option<String>,
    /// A product's short code: the page the link opens shows its branding.
    #[arg(long)]
    pub product: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum LicenseCmd {
    /// Create a license of a product for a customer account.
    Create {
        /// Organization name or id.
        #[arg(long)]
        org: String,
        /// Product short code.
        #[arg(long)]
        product: String,
        /// Customer account code.
        #[arg(long)]
        account: String,
        /// Seats: devices that may be active at once.
        #[arg(long, default_value_t = 1)]
        max_activations: i32,
        /// perpetual, time-limited, consumption or subscription.
        #[arg(long = "type", default_value = "perpetual")]
        license_type: String,
        /// Assign to this user (e-mail, repeatable); the license is then restricted to its users.
        #[arg(long = "user")]
        users: Vec<String>,
        /// A license key (optional; SSO licenses are found through the user).
        #[arg(long)]
        key: Option<String>,
        /// Expiry as a unix time.
        #[arg(long)]
        expires_at: Option<i64>,
        /// Mark it a trial license.
        #[arg(long)]
        trial: bool,
    },
    /// List the licenses of a customer account.
    List {
        /// Organization name or id.
        #[arg(long)]
        org: String,
        /// Customer account code.
        #[arg(long)]
        account: String,
    },
    /// Disable a license.
    Disable {
        /// License id.
        id: i64,
    },
    /// Enable a disabled license.
    Enable {
        /// License id.
        id: i64,
    },
    /// Change the seat count (devices already active stay active).
    Seats {
        /// License id.
        id: i64,
        /// The new number of seats.
        max_activations: i32,
    },
}

#[derive(Subcommand, Debug)]
pub enum MgmtTokenCmd {
    /// Create a management token (printed once).
    Create {
        /// Organization name or id.
        #[arg(long)]
        org: String,
        /// A label for the token.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Revoke a management token.
    Revoke {
        /// The token's id (not its value).
        id: String,
    },
}

impl From<AdminError> for CliError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Store(s) => CliError::Store(s),
            other => CliError::Usage(other.to_string()),
        }
    }
}

fn uris(v: &[crate::model::RedirectUri]) -> Vec<&str> {
    v.iter().map(|u| u.as_str()).collect()
}

fn out(v: serde_json::Value) {
    super::say(format_args!("{v}"));
}

pub fn token_defaults(config: &Config) -> TokenDefaults {
    TokenDefaults {
        access_token_ttl: config.access_token_ttl,
        id_token_ttl: config.id_token_ttl,
        refresh_token_ttl: config.refresh_token_ttl,
    }
}

pub fn read_password(from_stdin: bool) -> Result<String, CliError> {
    let pw = if from_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s.trim_end_matches(['\r', '\n']).to_string()
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ")?
    } else {
        return Err(CliError::Usage("no terminal to ask for the password: pipe it in with --password-stdin".into()));
    };
    admin::check_password(&pw)?;
    Ok(pw)
}

pub async fn hash_password(config: &Config, password: String) -> Result<String, CliError> {
    let (m, t, p) = (config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism);
    tokio::task::spawn_blocking(move || PasswordHasherConfig::new(m, t, p).and_then(|h| h.hash(&password)))
        .await
        .map_err(|e| CliError::Usage(e.to_string()))?
        .map_err(|e| CliError::Usage(e.to_string()))
}

pub async fn run(store: &Store, config: &Config, cmd: ManageCommand, now: i64) -> Result<(), CliError> {
    match cmd {
        ManageCommand::Org(c) => org(store, c, now).await,
        ManageCommand::ApiKey(c) => api_key(store, c, now).await,
        ManageCommand::Product(c) => product(store, config, c, now).await,
        ManageCommand::Account(c) => account(store, c, now).await,
        ManageCommand::User(c) => user(store, config, c, now).await,
        ManageCommand::License(c) => license(store, c, now).await,
        ManageCommand::MgmtToken(c) => mgmt_token(store, c, now).await,
    }
}

async fn org(store: &Store, cmd: OrgCmd, now: i64) -> Result<(), CliError> {
    match cmd {
        OrgCmd::Create { name } => {
            let o = store.create_organization(&name, now).await?;
            out(json!({"id": o.id, "name": o.name}));
        }
        OrgCmd::List => {
            for o in store.list_organizations().await? {
                out(json!({"id": o.id, "name": o.name}));
            }
        }
    }
    Ok(())
}

async fn api_key(store: &Store, cmd: ApiKeyCmd, now: i64) -> Result<(), CliError> {
    match cmd {
        ApiKeyCmd::Create { org } => {
            let o = admin::organization(store, &org).await?;
            let k = store.create_api_key(&o.id, &uuid::Uuid::new_v4().to_string(), &random_token(), now).await?;
            out(json!({"api_key": k.api_key, "shared_key": k.shared_key.expose()}));
        }
        ApiKeyCmd::List { org } => {
            let o = admin::organization(store, &org).await?;
            for k in store.list_api_keys(&o.id).await? {
                out(json!({"api_key": k.api_key, "revoked": k.revoked}));
            }
        }
        ApiKeyCmd::Revoke { api_key } => {
            store.revoke_api_key(&api_key).await?;
            out(json!({"api_key": api_key, "revoked": true}));
        }
    }
    Ok(())
}

async fn product(store: &Store, config: &Config, cmd: ProductCmd, now: i64) -> Result<(), CliError> {
    match cmd {
        ProductCmd::Create(a) => {
            let o = admin::organization(store, &a.org).await?;
            let (p, secret) = admin::create_product(store, token_defaults(config), &o.id, a.spec(), now).await?;
            out(json!({
                "id": p.id, "short_code": p.short_code, "client_id": p.client_id.as_str(),
                "client_secret": secret.as_ref().map(Secret::expose), "redirect_uris": uris(&p.redirect_uris),
                "default_response_type": p.default_response_type.as_str(),
            }));
        }
        ProductCmd::List { org } => {
            let o = admin::organization(store, &org).await?;
            for p in store.list_products(&o.id).await? {
                out(json!({
                    "id": p.id, "short_code": p.short_code, "name": p.name, "client_id": p.client_id.as_str(),
                    "public": p.is_public(), "redirect_uris": uris(&p.redirect_uris), "grants": p.grants.names(),
                    "disabled": p.disabled,
                }));
            }
        }
        ProductCmd::Disable { org, code } => set_product_disabled(store, &org, &code, true).await?,
        ProductCmd::Enable { org, code } => set_product_disabled(store, &org, &code, false).await?,
    }
    Ok(())
}

async fn set_product_disabled(store: &Store, org: &str, code: &str, disabled: bool) -> Result<(), CliError> {
    let o = admin::organization(store, org).await?;
    let p = admin::product(store, &o.id, code).await?;
    store.set_product_disabled(&p.id, disabled).await?;
    out(json!({"short_code": p.short_code, "client_id": p.client_id.as_str(), "disabled": disabled}));
    Ok(())
}

async fn account(store: &Store, cmd: AccountCmd, now: i64) -> Result<(), CliError> {
    match cmd {
        AccountCmd::Create { org, code, name } => {
            let o = admin::organization(store, &org).await?;
            let a = store.create_customer_account(&o.id, &code, name.as_deref().unwrap_or(&code), now).await?;
            out(json!({"id": a.id, "code": a.code, "name": a.name}));
        }
        AccountCmd::List { org } => {
            let o = admin::organization(store, &org).await?;
            for a in store.list_customer_accounts(&o.id).await? {
                out(json!({"id": a.id, "code": a.code, "name": a.name}));
            }
        }
        AccountCmd::Mfa(m) => super::mfa::account(store, m, now).await?,
    }
    Ok(())
}

async fn user(store: &Store, config: &Config, cmd: UserCmd, now: i64) -> Result<(), CliError> {
    match cmd {
        UserCmd::Create { user, name, password_stdin, customer_no, admin: account_admin } => {
            let o = admin::organization(store, &user.org).await?;
            let account = admin::customer_account(store, &o.id, &user.account).await?;
            admin::check_email(&user.email)?;
            let hash = hash_password(config, read_password(password_stdin)?).await?;
            let spec = UserSpec {
                email: user.email.clone(),
                name: name.unwrap_or_default(),
                password_hash: Some(hash),
                external_customer_no: customer_no,
                account_admin,
            };
            let u = admin::create_user(store, &account, spec, now).await?;
            // Issue 17: with SMTP configured, new users get a verification link.
            let mailed = super::branding::send_verification(store, config, &u, &account.name, now).await?;
            out(json!({"id": u.id, "email": u.email, "customer_account": user.account, "verification_mail": mailed}));
        }
        UserCmd::List { org, account } => {
            let o = admin::organization(store, &org).await?;
            let a = admin::customer_account(store, &o.id, &account).await?;
            for u in store.list_users(&a.id).await? {
                out(json!({"id": u.id, "email": u.email, "name": u.name, "disabled": u.disabled}));
            }
        }
        UserCmd::Disable(u) => set_user_disabled(store, &u, true).await?,
        UserCmd::Enable(u) => set_user_disabled(store, &u, false).await?,
        UserCmd::Unlock(r) => {
            let u = user_of(store, &r).await?;
            crate::auth::recovery::unlock(store, &u, &crate::audit::Actor::manager("cli"), now).await?;
            out(json!({"id": u.id, "email": u.email, "unlocked": true}));
        }
        UserCmd::ResetLink(a) => user_link(store, config, &a, LinkKind::Reset, now).await?,
        UserCmd::VerifyLink(a) => user_link(store, config, &a, LinkKind::Verify, now).await?,
        UserCmd::Mfa(m) => super::mfa::user(store, m, now).await?,
    }
    Ok(())
}

/// The user a `--org --account --email` reference names.
pub(crate) async fn user_of(store: &Store, r: &UserRef) -> Result<crate::model::LicenseUser, CliError> {
    let o = admin::organization(store, &r.org).await?;
    let a = admin::customer_account(store, &o.id, &r.account).await?;
    store
        .find_user_by_email(&a.id, &r.email)
        .await?
        .ok_or_else(|| CliError::Usage(format!("user {} not found", r.email)))
}

async fn set_user_disabled(store: &Store, r: &UserRef, disabled: bool) -> Result<(), CliError> {
    let u = user_of(store, r).await?;
    store.set_user_disabled(&u.id, disabled).await?;
    out(json!({"id": u.id, "email": u.email, "disabled": disabled}));
    Ok(())
}

async fn license(store: &Store, cmd: LicenseCmd, now: i64) -> Result<(), CliError> {
    match cmd {
        LicenseCmd::Create { org, product, account, max_activations, license_type, users, key, expires_at, trial } => {
            let o = admin::organization(store, &org).await?;
            let p = admin::product(store, &o.id, &product).await?;
            let a = admin::customer_account(store, &o.id, &account).await?;
            let spec =
                LicenseSpec { max_activations, license_type, user_emails: users.clone(), key, expires_at, trial };
            let l = admin::create_license(store, &p, &a, spec, now).await?;
            out(
                json!({"id": l.id, "license_key": l.license_key, "max_activations": l.max_activations, "users": users}),
            );
        }
        LicenseCmd::List { org, account } => {
            let o = admin::organization(store, &org).await?;
            let a = admin::customer_account(store, &o.id, &account).await?;
            for l in store.list_licenses(&a.id).await? {
                out(json!({
                    "id": l.id, "license_key": l.license_key, "license_type": l.license_type.as_str(),
                    "max_activations": l.max_activations, "times_activated": l.times_activated, "enabled": l.enabled,
                    "expires_at": l.expires_at,
                }));
            }
        }
        LicenseCmd::Disable { id } => {
            store.set_license_enabled(id, false).await?;
            out(json!({"id": id, "enabled": false}));
        }
        LicenseCmd::Enable { id } => {
            store.set_license_enabled(id, true).await?;
            out(json!({"id": id, "enabled": true}));
        }
        LicenseCmd::Seats { id, max_activations } => {
            admin::check_seats(max_activations)?;
            store.set_license_max_activations(id, max_activations).await?;
            out(json!({"id": id, "max_activations": max_activations}));
        }
    }
    Ok(())
}

async fn mgmt_token(store: &Store, cmd: MgmtTokenCmd, now: i64) -> Result<(), CliError> {
    match cmd {
        MgmtTokenCmd::Create { org, name } => {
            let o = admin::organization(store, &org).await?;
            let token = format!("kwm_{}", random_token());
            let t = store.create_management_token(&o.id, &name, &hash_token(&token), now).await?;
            out(json!({"id": t.id, "token": token, "note": "shown once; store it now"}));
        }
        MgmtTokenCmd::Revoke { id } => {
            store.revoke_management_token(&id).await?;
            out(json!({"id": id, "revoked": true}));
        }
    }
    Ok(())
}

async fn user_link(store: &Store, config: &Config, a: &LinkArgs, kind: LinkKind, now: i64) -> Result<(), CliError> {
    let (account, product) = (a.account.as_deref(), a.product.as_deref());
    super::branding::user_link(store, config, &a.org, &a.email, account, product, kind, now).await
}
