//! The command line (SPEC §7): `serve` (default), `migrate`, `demo`, `keys …` and management commands.
pub mod branding;
pub mod demo;
pub mod idp;
pub mod manage;
pub mod mfa;

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
        /// Print the demo data as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 when the server on `bind` answers `/readyz` (database reachable): the container health check.
    Healthcheck,
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// A customer account's identity provider (OpenID Connect or SAML 2.0).
    #[command(subcommand)]
    Idp(idp::IdpCmd),
    /// Vendor branding of the hosted pages (per organization, per product).
    #[command(subcommand)]
    Branding(branding::BrandingCmd),
    /// Outgoing mail (the smtp_* settings).
    #[command(subcommand)]
    Mail(branding::MailCmd),
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
    #[error("no keyway installation found: {0}")]
    NotInstalled(String),
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
            say(format!("migrations applied to {}; keys in the database", redact_url(&config.database_url)));
            Ok(())
        }
        Command::Demo { json } => {
            let store = open_store(&config).await?;
            let d = demo::ensure(&store, &config, now).await?;
            demo::print(&d, json);
            Ok(())
        }
        Command::Healthcheck => healthcheck(&config).await,
        Command::Keys(cmd) => {
            let store = open_existing(&config).await?;
            keys_command(&store, &config, cmd, now).await
        }
        Command::Idp(cmd) => {
            let store = open_existing(&config).await?;
            idp::run(&store, &config, cmd, now).await
        }
        Command::Branding(cmd) => {
            let store = open_store(&config).await?;
            branding::run(&store, cmd, now).await
        }
        Command::Mail(cmd) => branding::mail(&config, cmd).await,
        Command::Manage(cmd) => {
            let store = open_existing(&config).await?;
            manage::run(&store, &config, cmd, now).await
        }
    }
}

/// GET /readyz on this machine's `bind` port (an all-interfaces bind is asked on loopback), 3 s at most.
async fn healthcheck(config: &Config) -> Result<(), CliError> {
    let mut addr: std::net::SocketAddr =
        config.bind.parse().map_err(|_| CliError::Usage(format!("bind {} is not host:port", config.bind)))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    let url = format!("http://{addr}/readyz");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(CliError::Usage(format!("{url}: {}", r.status()))),
        Err(e) => Err(CliError::Usage(format!("{url}: {e}"))),
    }
}

fn absolute(p: &std::path::Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Where this command looked, for the "no installation here" errors.
fn looked_at(config: &Config) -> String {
    let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_else(|_| "?".into());
    format!(
        "database_url {}, keys_dir {}, working directory {cwd}. Run it where `keyway serve` runs, or pass that \
        installation's settings (--config, KEYWAY_CONFIG or KEYWAY_* variables); `keyway migrate` creates a new one",
        redact_url(&config.database_url),
        absolute(&config.keys_dir).display(),
    )
}

/// Commands other than serve, demo and migrate work on an existing installation. Creating a database or keys here
/// would start a second one silently: an SDK pinned to that installation's key then fails every signature check.
async fn open_existing(config: &Config) -> Result<Store, CliError> {
    let missing = |what: &str| CliError::NotInstalled(format!("{what}; looked at {}", looked_at(config)));
    if let Some(path) = crate::store::sqlite_path(&config.database_url) {
        if !std::path::Path::new(path).is_file() {
            return Err(missing(&format!("no keyway database at {}", absolute(std::path::Path::new(path)).display())));
        }
    }
    let store = Store::connect(&config.database_url, 2).await.map_err(|e| missing(&e.to_string()))?;
    if !store.has_schema().await? {
        store.close().await;
        return Err(missing("the database holds no keyway schema"));
    }
    store.close().await;
    open_store(config).await
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

/// Whether errors go out as JSON log lines: `log_format = "json"` in the configuration, or in the environment when
/// the configuration itself is what failed.
pub fn json_logs(config_file: Option<&std::path::Path>) -> bool {
    match Config::load(config_file.map(PathBuf::from)) {
        Ok(c) => c.log_format == "json",
        Err(_) => std::env::var("KEYWAY_LOG_FORMAT").is_ok_and(|v| v.trim() == "json"),
    }
}

/// A fatal error as one JSON log line on stderr, like every other line the server writes in JSON mode.
pub fn log_error_json(e: &CliError) {
    let _ = tracing_subscriber::fmt().json().with_writer(std::io::stderr).try_init();
    tracing::error!(error = %e, "keyway stopped with an error");
}

fn init_tracing(config: &Config) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KEYWAY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal: in a file or a log collector the escape codes are noise (and
    // formatting them is a measurable part of each request's access-log line, issue 16).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
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
    app.run_until_signalled().await?;
    Ok(())
}

pub use crate::store::redact_url;

/// Prints a line to stdout; a closed pipe (`keyway demo | head -1`) is not an error worth a panic.
pub fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
