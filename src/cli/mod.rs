//! The command line (SPEC §7): `serve` (default), `migrate`, `demo`, `keys …` and management commands.
pub mod demo;
pub mod idp;
pub mod manage;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::crypto::keyset::{self, KeySettings};
use crate::store::Store;

#[derive(Parser, Debug)]
#[command(name = "keyway", version, about = "OAuth 2.0 / OpenID Connect authorization server for software licensing")]
pub struct Cli {
    /// Configuration file (default: keyway.toml, or $KEYWAY_CONFIG).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Parsed once per run: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default command).
    Serve {
        /// Create the demo data first and print it.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Create (idempotently) a demo organization, API key, product, customer account, user and license, and print them.
    Demo {
        #[arg(long)]
        json: bool,
    },
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// A customer account's identity provider (OpenID Connect or SAML 2.0).
    #[command(subcommand)]
    Idp(idp::IdpCmd),
    #[command(flatten)]
    Manage(manage::ManageCommand),
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Schedule a new OpenID signing key: published in the JWKS now, signing after `key_publication_delay`; the key
    /// it replaces stays published until the last token it signed expires.
    Rotate,
    /// List every OpenID key with its state (published, signing, retired, removed) and the times of its transitions.
    List,
    /// Print the public PEM of the License API response signing key (configure it in the SDKs).
    LicensePublic,
    /// Replace the License API response signing key at once. SDKs pin its public key: every client app must be
    /// updated with the new one (README "Key rotation").
    RotateLicenseKey {
        /// Confirm that client apps pinning the current key will reject responses until updated.
        #[arg(long)]
        yes: bool,
    },
    /// Re-seal every key and IdP secret under the first `key_encryption_key` (after adding a new KEK in front).
    Rewrap,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Start(#[from] crate::state::StartError),

    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Keys(#[from] crate::crypto::keys::KeyError),
    #[error(transparent)]
    KeySet(#[from] crate::crypto::keyset::KeySetError),
    #[error("{0}")]
    Usage(String),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let config = Config::load(cli.config)?;
    let now = crate::clock::system_now();
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Serve { demo } => serve(config, demo).await,
        Command::Migrate => {
            let store = open_store(&config).await?;
            // The migrate job also creates the key set, so replicas started after it find one.
            keyset::open(&store, &KeySettings::from_config(&config), now).await?;
            say(format!("migrations applied to {}", redact_url(&config.database_url)));
            Ok(())
        }
        Command::Demo { json } => {
            let store = open_store(&config).await?;
            let d = demo::ensure(&store, &config, now).await?;
            demo::print(&d, json);
            Ok(())
        }
        Command::Keys(cmd) => {
            let store = open_store(&config).await?;
            keys_command(&store, &config, cmd, now).await
        }
        Command::Idp(cmd) => {
            let store = open_store(&config).await?;
            idp::run(&store, &config, cmd, now).await
        }
        Command::Manage(cmd) => {
            let store = open_store(&config).await?;
            manage::run(&store, &config, cmd, now).await
        }
    }
}

async fn open_store(config: &Config) -> Result<Store, CliError> {
    let store = Store::open(&config.database_url, 2).await?;
    // IdP secrets set through the CLI are sealed with the KEK when there is one already.
    if let Ok(Some(kek)) = keyset::resolve_kek(&KeySettings::from_config(config), false) {
        store.set_kek(std::sync::Arc::new(kek));
    }
    Ok(store)
}

fn timestamp(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

async fn keys_command(store: &Store, config: &Config, cmd: KeysCommand, now: i64) -> Result<(), CliError> {
    let settings = KeySettings::from_config(config);
    let (kek, loaded) = keyset::open_existing(store, &settings, now).await?;
    match cmd {
        KeysCommand::Rotate => {
            let rows = keyset::rotate(store, &kek, &settings, now).await?;
            for r in rows {
                say(format!(
                    "{} {} published now, signs from {} (key_publication_delay {} s)",
                    r.id,
                    r.alg,
                    timestamp(r.signing_at),
                    settings.publication_delay
                ));
            }
        }
        KeysCommand::List => {
            say("ID  ALG  KID  STATE  PUBLISHED  SIGNING  RETIRED  REMOVED");
            let opt = |t: Option<i64>| t.map(timestamp).unwrap_or_else(|| "-".into());
            for s in loaded.ring.statuses() {
                say(format!(
                    "{}  {}  {}  {}  {}  {}  {}  {}",
                    s.id,
                    s.alg.as_str(),
                    s.kid,
                    s.state.as_str(),
                    timestamp(s.published_at),
                    timestamp(s.signing_at),
                    opt(s.retired_at),
                    opt(s.removed_at)
                ));
            }
        }
        KeysCommand::LicensePublic => say(loaded.license.public_pem().trim_end()),
        KeysCommand::RotateLicenseKey { yes } => {
            if !yes {
                return Err(CliError::Usage(
                    "client apps pin the License API response key: after this, every SDK configured with the current \
                     public key rejects keyway's responses until it is updated. Re-run with --yes to replace it."
                        .into(),
                ));
            }
            let signer = keyset::rotate_license_key(store, &kek, now).await?;
            say("new License API response key (configure it in every client app):");
            say(signer.public_pem().trim_end());
        }
        KeysCommand::Rewrap => {
            let n = keyset::rewrap(store, &kek).await?;
            say(format!("{n} sealed values re-sealed under key-encryption key {}", kek.primary_id()));
        }
    }
    Ok(())
}

fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KEYWAY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if config.log_format == "json" { builder.json().try_init() } else { builder.try_init() };
}

async fn serve(config: Config, demo: bool) -> Result<(), CliError> {
    init_tracing(&config);
    if demo {
        let store = open_store(&config).await?;
        let d = demo::ensure(&store, &config, crate::clock::system_now()).await?;
        demo::print(&d, false);
        store.close().await;
    }
    let app = crate::startup::build(config.clone(), crate::clock::Clock::System).await?;
    let database = redact_url(&config.database_url);
    tracing::info!(bind = %config.bind, port = app.port, issuer = %config.issuer, %database, "keyway listening");
    app.run_until_stopped().await?;
    Ok(())
}

pub use crate::store::redact_url;

/// Prints a line to stdout; a closed pipe (`keyway demo | head -1`) is not an error worth a panic.
pub fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
