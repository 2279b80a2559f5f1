//! `keyway branding set|show|remove` (issue 17 item 1) and `keyway mail test`, `keyway user reset-link|verify-link`
//! (item 2). The rules are in `crate::branding` and `crate::auth::recovery`; this parses, reads files and prints.
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::{say, CliError};
use crate::admin;
use crate::auth::recovery::{self, LinkKind};
use crate::branding::{self, Colour, Logo};
use crate::config::Config;
use crate::mail::{Mailer, Outgoing};
use crate::store::branding::BrandingRecord;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum BrandingCmd {
    /// Set (or change) the branding of an organization (its default) or of one product. Options not given keep
    /// their current value.
    Set(SetArgs),
    /// Show the stored branding and what a page of the product shows.
    Show(Target),
    /// Remove the branding of the organization default or of the product.
    Remove(Target),
}

#[derive(Args, Debug)]
pub struct Target {
    /// Organization name or id.
    #[arg(long)]
    pub org: String,
    /// A product's short code; without it, the organization's default.
    #[arg(long)]
    pub product: Option<String>,
}

#[derive(Args, Debug)]
pub struct SetArgs {
    #[command(flatten)]
    pub target: Target,
    /// The name shown on the hosted pages.
    #[arg(long)]
    pub name: Option<String>,
    /// A PNG or JPEG file, at most 256 KiB (SVG is refused).
    #[arg(long)]
    pub logo: Option<PathBuf>,
    /// Remove the logo.
    #[arg(long, conflicts_with = "logo")]
    pub no_logo: bool,
    /// Primary colour, #rrggbb (buttons and the brand bar).
    #[arg(long)]
    pub primary_color: Option<String>,
    /// Text colour on the primary colour, #rrggbb; refused below 4.5:1. Default: white or black, whichever
    /// contrasts more.
    #[arg(long, requires = "primary_color")]
    pub text_color: Option<String>,
    /// Support link (https URL).
    #[arg(long)]
    pub support_url: Option<String>,
    /// Privacy policy link (https URL).
    #[arg(long)]
    pub privacy_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum MailCmd {
    /// Send a test message with the configured SMTP settings.
    Test {
        /// The recipient.
        address: String,
    },
}

fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}

async fn target_ids(store: &Store, t: &Target) -> Result<(String, String), CliError> {
    let o = admin::organization(store, &t.org).await?;
    let product = match &t.product {
        Some(code) => admin::product(store, &o.id, code).await?.id.clone(),
        None => String::new(),
    };
    Ok((o.id, product))
}

pub async fn run(store: &Store, cmd: BrandingCmd, now: i64) -> Result<(), CliError> {
    match cmd {
        BrandingCmd::Set(a) => set(store, a, now).await,
        BrandingCmd::Show(t) => {
            let (org, product) = target_ids(store, &t).await?;
            let stored = store.find_branding(&org, &product).await?;
            let shown =
                branding::resolve(store, &org, Some(&product).filter(|p| !p.is_empty()).map(|p| p.as_str())).await?;
            say(json!({
                "stored": stored.map(|b| json!({
                    "name": b.display_name, "logo": b.logo_hash, "logo_type": b.logo_type,
                    "primary_color": b.primary_color, "text_color": b.on_primary_color,
                    "support_url": b.support_url, "privacy_url": b.privacy_url,
                })),
                "shown": {"name": shown.name, "logo_url": shown.logo_url, "css_url": shown.css_url,
                          "support_url": shown.support_url, "privacy_url": shown.privacy_url},
            }));
            Ok(())
        }
        BrandingCmd::Remove(t) => {
            let (org, product) = target_ids(store, &t).await?;
            let removed = store.delete_branding(&org, &product).await?;
            say(json!({"removed": removed}));
            Ok(())
        }
    }
}

async fn set(store: &Store, a: SetArgs, now: i64) -> Result<(), CliError> {
    let (org, product) = target_ids(store, &a.target).await?;
    let mut b = store.find_branding(&org, &product).await?.unwrap_or(BrandingRecord {
        organization_id: org.clone(),
        product_id: product.clone(),
        ..Default::default()
    });
    if let Some(n) = &a.name {
        b.display_name = Some(branding::check_name(n).map_err(usage)?);
    }
    let mut logo_data = None;
    if let Some(path) = &a.logo {
        // Read at most one byte more than allowed: an oversize file is refused without reading it whole.
        let bytes = read_limited(path, branding::MAX_LOGO + 1)?;
        let logo = Logo::parse(bytes).map_err(usage)?;
        b.logo_type = Some(logo.media_type.to_string());
        b.logo_hash = Some(logo.hash());
        logo_data = Some(branding::encode_logo(&logo.bytes));
    }
    if a.no_logo {
        b.logo_type = None;
        b.logo_hash = None;
    }
    let mut ratio = None;
    if let Some(p) = &a.primary_color {
        let primary = Colour::parse(p).map_err(usage)?;
        let requested = a.text_color.as_deref().map(Colour::parse).transpose().map_err(usage)?;
        let (text, r) = branding::text_colour(primary, requested).map_err(usage)?;
        b.primary_color = Some(primary.css());
        b.on_primary_color = Some(text.css());
        ratio = Some(r);
    }
    if let Some(u) = &a.support_url {
        b.support_url = Some(branding::check_url(u).map_err(usage)?);
    }
    if let Some(u) = &a.privacy_url {
        b.privacy_url = Some(branding::check_url(u).map_err(usage)?);
    }
    b.updated_at = now;
    store.put_branding(&b, logo_data.as_deref()).await?;
    say(json!({
        "organization": org, "product": a.target.product, "name": b.display_name, "logo": b.logo_hash,
        "primary_color": b.primary_color, "text_color": b.on_primary_color,
        "contrast": ratio.map(|r| (r * 100.0).round() / 100.0),
        "support_url": b.support_url, "privacy_url": b.privacy_url,
    }));
    Ok(())
}

fn read_limited(path: &std::path::Path, limit: usize) -> Result<Vec<u8>, CliError> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    f.take(limit as u64).read_to_end(&mut bytes).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    Ok(bytes)
}

pub async fn mail(config: &Config, cmd: MailCmd) -> Result<(), CliError> {
    let MailCmd::Test { address } = cmd;
    let mailer = Mailer::from_config(config)
        .map_err(usage)?
        .ok_or_else(|| usage("SMTP is not configured (set smtp_host and smtp_from)"))?;
    let r = &crate::ui::recovery::EN;
    let m = Outgoing {
        to: address.clone(),
        subject: r.mail_test_subject.to_string(),
        text: format!("{}\n", r.mail_test_text),
        html: format!("<!doctype html><html><body><p>{}</p></body></html>", r.mail_test_text),
    };
    mailer.send(m).await.map_err(usage)?;
    say(json!({"sent": address}));
    Ok(())
}

/// `keyway user reset-link` / `verify-link`: a link for support staff to hand over (and, for verification with
/// SMTP configured, mailed).
#[allow(clippy::too_many_arguments)]
pub async fn user_link(
    store: &Store,
    config: &Config,
    org: &str,
    email: &str,
    account: Option<&str>,
    product: Option<&str>,
    kind: LinkKind,
    now: i64,
) -> Result<(), CliError> {
    let o = admin::organization(store, org).await?;
    let users = match account {
        Some(code) => {
            let a = admin::customer_account(store, &o.id, code).await?;
            store.find_user_by_email(&a.id, email).await?.into_iter().collect::<Vec<_>>()
        }
        None => store.find_users_by_email_in_org(&o.id, email).await?,
    };
    let user = match users.as_slice() {
        [one] => one,
        [] => return Err(usage(format!("no user {email} in {org}"))),
        _ => return Err(usage(format!("{email} is a user of several accounts; name one with --account"))),
    };
    let client_id = match product {
        Some(code) => Some(admin::product(store, &o.id, code).await?.client_id.as_str().to_string()),
        None => None,
    };
    let link = recovery::issue_link(store, &config.issuer, user, kind, client_id.as_deref(), now).await?;
    say(json!({"user": user.id, "email": user.email, "link": link, "expires_in": match kind {
        LinkKind::Reset => recovery::RESET_TTL, LinkKind::Verify => recovery::VERIFY_TTL }}));
    Ok(())
}

/// After `keyway user create`: with SMTP configured, a verification mail to the new user.
pub async fn send_verification(
    store: &Store,
    config: &Config,
    user: &crate::model::LicenseUser,
    account_name: &str,
    now: i64,
) -> Result<bool, CliError> {
    let Some(mailer) = Mailer::from_config(config).map_err(usage)? else { return Ok(false) };
    let link = recovery::issue_link(store, &config.issuer, user, LinkKind::Verify, None, now).await?;
    let m = crate::http::recovery::link_mail(&crate::ui::recovery::EN, LinkKind::Verify, user, account_name, &link);
    mailer.send(m).await.map_err(usage)?;
    Ok(true)
}
