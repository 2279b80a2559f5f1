//! The command line (SPEC §7): `serve` (default), `migrate`, `demo`, `keys …` and management commands.
pub mod demo;
pub mod idp;
pub mod manage;
pub mod mfa;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::crypto::keys::{KeyRing, LicenseSigner};
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
    /// Add a new OpenID signing key; it signs from now on, older keys stay in the JWKS until their tokens expire.
    Rotate,
    /// List the OpenID keys in the JWKS.
    List,
    /// Print the public PEM of the License API response signing key (configure it in the SDKs).
    LicensePublic,
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
            open_store(&config).await?;
            say(format!("migrations applied to {}", redact_url(&config.database_url)));
            Ok(())
        }
        Command::Demo { json } => {
            let store = open_store(&config).await?;
            let d = demo::ensure(&store, &config, now).await?;
            demo::print(&d, json);
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate) => {
            let ring = KeyRing::rotate(&config.keys_dir, now, config.access_token_signing_alg)?;
            let signing: Vec<String> =
                ring.describe().into_iter().filter(|d| d.2).map(|d| format!("{} ({})", d.0, d.1.as_str())).collect();
            say(format!("new signing keys {}; published keys: {}", signing.join(", "), ring.kids().join(", ")));
            Ok(())
        }
        Command::Keys(KeysCommand::List) => {
            let ring = KeyRing::load_or_create(&config.keys_dir, now, config.access_token_signing_alg)?;
            for (kid, alg, signing) in ring.describe() {
                say(format!(
                    "{kid}  {}  {}",
                    alg.as_str(),
                    if signing { "(signing)" } else { "(retired, still published)" }
                ));
            }
            Ok(())
        }
        Command::Keys(KeysCommand::LicensePublic) => {
            say(LicenseSigner::load_or_create(&config.keys_dir)?.public_pem().trim_end());
            Ok(())
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
    Ok(Store::open(&config.database_url, 2).await?)
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
