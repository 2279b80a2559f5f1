//! `keyway idp …`: a customer account's identity provider (SPEC §4.4). Secrets are read from standard input and
//! never printed.
use std::io::Read;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::CliError;
use crate::admin;
use crate::config::Config;
use crate::crypto::secrets::Secret;
use crate::federation::setup::{self, IdpSpec, Options, Preset};
use crate::federation::FederationError;
use crate::model::IdpSettings;
use crate::store::Store;

/// Which account.
#[derive(Args, Debug)]
pub struct AccountRef {
    /// Organization name or id.
    #[arg(long)]
    pub org: String,
    /// Customer account code.
    #[arg(long)]
    pub account: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PresetName {
    Google,
    Microsoft,
    Okta,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Args, Debug)]
pub struct SetArgs {
    #[command(flatten)]
    pub account: AccountRef,
    /// OpenID Connect: the IdP's issuer URL (discovery at <issuer>/.well-known/openid-configuration).
    #[arg(long, conflicts_with_all = ["preset", "saml_metadata"])]
    pub oidc_issuer: Option<String>,
    /// OpenID Connect: an issuer preset (google; microsoft with --tenant; okta with --domain).
    #[arg(long, value_enum, conflicts_with = "saml_metadata")]
    pub preset: Option<PresetName>,
    /// The Microsoft Entra tenant id (a GUID) for --preset microsoft.
    #[arg(long)]
    pub tenant: Option<String>,
    /// The Okta domain (e.g. acme.okta.com) for --preset okta.
    #[arg(long)]
    pub domain: Option<String>,
    /// OpenID Connect: keyway's client id at the IdP.
    #[arg(long)]
    pub client_id: Option<String>,
    /// OpenID Connect: read keyway's client secret at the IdP from standard input (without it: a public client
    /// with PKCE).
    #[arg(long)]
    pub client_secret_stdin: bool,
    /// OpenID Connect: scopes, space-separated (default "openid email profile").
    #[arg(long)]
    pub scopes: Option<String>,
    /// OpenID Connect: the claim that holds the e-mail address (default email).
    #[arg(long, default_value = "email")]
    pub email_claim: String,
    /// OpenID Connect: accept an e-mail address the IdP does not mark email_verified.
    #[arg(long)]
    pub allow_unverified_email: bool,
    /// SAML 2.0: the IdP's metadata XML file (an EntityDescriptor with an HTTP-Redirect SSO service and a signing
    /// certificate).
    #[arg(long)]
    pub saml_metadata: Option<std::path::PathBuf>,
    /// SAML 2.0: the attribute that holds the e-mail address (default: the NameID, format emailAddress).
    #[arg(long)]
    pub email_attribute: Option<String>,
    /// The name on the "Sign in with …" button (default: the preset, or the IdP's host name).
    #[arg(long)]
    pub name: Option<String>,
    /// keyway's own password sign-in beside the IdP.
    #[arg(long, value_enum, default_value = "off")]
    pub password_login: OnOff,
    /// Create people the IdP vouches for who are not yet users of the account.
    #[arg(long, value_enum, default_value = "off")]
    pub jit: OnOff,
}

#[derive(Subcommand, Debug)]
pub enum IdpCmd {
    /// Set (or replace) the account's identity provider.
    Set(Box<SetArgs>),
    /// Show the account's identity provider (issuer and client id, or the IdP entity id; never secrets).
    Show(AccountRef),
    /// Remove the account's identity provider (its users sign in with passwords again).
    Remove(AccountRef),
    /// What to hand to the customer's admin: the OIDC redirect URI, or the SAML SP metadata XML.
    SpMetadata(AccountRef),
    /// E-mail domains that route to the account's IdP (home-realm discovery on sign-in pages).
    #[command(subcommand)]
    Domain(DomainCmd),
}

#[derive(Subcommand, Debug)]
pub enum DomainCmd {
    /// Route an e-mail domain to the account's IdP.
    Add {
        #[command(flatten)]
        account: AccountRef,
        /// The domain, e.g. globex.example.
        #[arg(long)]
        domain: String,
    },
    /// Stop routing a domain.
    Remove {
        #[command(flatten)]
        account: AccountRef,
        /// The domain to stop routing.
        #[arg(long)]
        domain: String,
    },
    /// List the account's domains.
    List(AccountRef),
}

impl From<FederationError> for CliError {
    fn from(e: FederationError) -> Self {
        match e {
            FederationError::Store(s) => CliError::Store(s),
            other => CliError::Usage(other.to_string()),
        }
    }
}

fn out(v: serde_json::Value) {
    super::say(format_args!("{v}"));
}

async fn account(store: &Store, r: &AccountRef) -> Result<std::sync::Arc<crate::model::CustomerAccount>, CliError> {
    let o = admin::organization(store, &r.org).await?;
    Ok(admin::customer_account(store, &o.id, &r.account).await?)
}

fn spec(a: &SetArgs) -> Result<(IdpSpec, Option<&'static str>), CliError> {
    if let Some(path) = &a.saml_metadata {
        let xml = std::fs::read_to_string(path).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
        return Ok((IdpSpec::Saml { metadata_xml: xml, email_attribute: a.email_attribute.clone() }, None));
    }
    let (issuer, preset_name) = match (&a.oidc_issuer, a.preset) {
        (Some(i), None) => (i.clone(), None),
        (None, Some(p)) => {
            let preset = match p {
                PresetName::Google => Preset::Google,
                PresetName::Microsoft => Preset::microsoft(
                    a.tenant.as_deref().ok_or_else(|| CliError::Usage("--preset microsoft needs --tenant".into()))?,
                )?,
                PresetName::Okta => Preset::Okta {
                    domain: a.domain.clone().ok_or_else(|| CliError::Usage("--preset okta needs --domain".into()))?,
                },
            };
            (preset.issuer(), Some(preset.display_name()))
        }
        _ => return Err(CliError::Usage("give one of --oidc-issuer, --preset or --saml-metadata".into())),
    };
    let client_id =
        a.client_id.clone().ok_or_else(|| CliError::Usage("--client-id is required for OpenID Connect".into()))?;
    let client_secret = if a.client_secret_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        let s = s.trim().to_string();
        if s.is_empty() {
            return Err(CliError::Usage("--client-secret-stdin: standard input was empty".into()));
        }
        Some(Secret::new(s))
    } else {
        None
    };
    let scopes = a.scopes.as_deref().map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default();
    let spec = IdpSpec::Oidc {
        issuer,
        client_id,
        client_secret,
        scopes,
        email_claim: a.email_claim.clone(),
        allow_unverified_email: a.allow_unverified_email,
    };
    Ok((spec, preset_name))
}

/// The IdP without secrets, for `show` and `set`.
fn describe(idp: &crate::model::IdentityProvider) -> serde_json::Value {
    let mut v = json!({
        "kind": idp.kind().as_str(), "name": idp.display_name,
        "password_login": idp.password_login, "jit": idp.just_in_time,
    });
    match &idp.settings {
        IdpSettings::Oidc(o) => {
            v["issuer"] = json!(o.issuer);
            v["client_id"] = json!(o.client_id);
            v["client_secret"] = json!(if idp.secret.is_some() { "(set)" } else { "(none: public client with PKCE)" });
            v["scopes"] = json!(o.scopes.join(" "));
            v["email_claim"] = json!(o.email_claim);
            v["allow_unverified_email"] = json!(o.allow_unverified_email);
        }
        IdpSettings::Saml(s) => {
            v["idp_entity_id"] = json!(s.idp_entity_id);
            v["email_attribute"] = json!(s.email_attribute);
        }
    }
    v
}

pub async fn run(store: &Store, config: &Config, cmd: IdpCmd, now: i64) -> Result<(), CliError> {
    match cmd {
        IdpCmd::Set(a) => {
            let account = account(store, &a.account).await?;
            let (spec, preset_name) = spec(&a)?;
            let opts = Options {
                display_name: a.name.clone().or(preset_name.map(str::to_string)),
                password_login: a.password_login == OnOff::On,
                just_in_time: a.jit == OnOff::On,
            };
            let idp = setup::set(store, &config.issuer, &account, spec, opts, now).await?;
            // Discovery is checked from where the command runs, which may not reach the IdP: a warning, not an error.
            if let Ok(http) = crate::federation::Federation::new().map(|f| f.http) {
                if let Err(e) = setup::check_discovery(&http, &idp).await {
                    eprintln!("warning: {e} (saved anyway: keyway checks again at every sign-in)");
                }
            }
            if idp.just_in_time
                && idp.upstream_id() == setup::Preset::Google.issuer()
                && store.account_domains(&account.id).await?.is_empty()
            {
                eprintln!(
                    "warning: with Google, just-in-time users are created only for Google Workspace accounts of the \
                     account's domains (the hosted-domain claim); add them with `keyway idp domain add`"
                );
            }
            let mut v = describe(&idp);
            v["register_at_the_idp"] = json!(match idp.kind() {
                crate::model::IdpKind::Oidc => "redirect URI: see `keyway idp sp-metadata`",
                crate::model::IdpKind::Saml => "SP metadata: see `keyway idp sp-metadata`",
            });
            out(v);
        }
        IdpCmd::Show(r) => {
            let account = account(store, &r).await?;
            let idp = store
                .find_identity_provider(&account.id)
                .await?
                .ok_or_else(|| CliError::Usage(format!("customer account {} has no identity provider", r.account)))?;
            let mut v = describe(&idp);
            v["domains"] = json!(store.account_domains(&account.id).await?);
            out(v);
        }
        IdpCmd::Remove(r) => {
            let account = account(store, &r).await?;
            let removed = store.remove_identity_provider(&account.id).await?;
            out(json!({"customer_account": r.account, "removed": removed}));
        }
        IdpCmd::SpMetadata(r) => {
            let account = account(store, &r).await?;
            let idp = store
                .find_identity_provider(&account.id)
                .await?
                .ok_or_else(|| CliError::Usage(format!("customer account {} has no identity provider", r.account)))?;
            let text = setup::registration(&config.issuer, &idp)?;
            match idp.kind() {
                crate::model::IdpKind::Oidc => out(json!({"redirect_uris": [text]})),
                crate::model::IdpKind::Saml => super::say(text),
            }
        }
        IdpCmd::Domain(DomainCmd::Add { account: r, domain }) => {
            let account = account(store, &r).await?;
            let domain = setup::normalise_domain(&domain)?;
            store.add_account_domain(&account.id, &domain).await?;
            out(json!({"customer_account": r.account, "domain": domain, "added": true}));
        }
        IdpCmd::Domain(DomainCmd::Remove { account: r, domain }) => {
            let account = account(store, &r).await?;
            let domain = setup::normalise_domain(&domain)?;
            let removed = store.remove_account_domain(&account.id, &domain).await?;
            out(json!({"customer_account": r.account, "domain": domain, "removed": removed}));
        }
        IdpCmd::Domain(DomainCmd::List(r)) => {
            let account = account(store, &r).await?;
            out(json!({"customer_account": r.account, "domains": store.account_domains(&account.id).await?}));
        }
    }
    Ok(())
}
