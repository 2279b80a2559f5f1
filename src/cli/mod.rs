//! The command line (SPEC §7): `serve` (default), `migrate`, `demo`, `keys …` and management commands.
pub mod demo;
pub mod idp;
pub mod manage;

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
            open_store(&config).await?;
            // The keys too: a deployment's one-shot migrate job sets up everything the replicas share.
            let keys_dir = config.keys_dir.clone();
            let alg = config.access_token_signing_alg;
            tokio::task::spawn_blocking(move || {
                KeyRing::load_or_create(&keys_dir, now, alg)?;
                LicenseSigner::load_or_create(&keys_dir)?;
                crate::crypto::keys::load_or_create_cookie_key(&keys_dir).map(|_| ())
            })
            .await
            .map_err(|e| CliError::Usage(e.to_string()))??;
            say(format!(
                "migrations applied to {}; keys in {}",
                redact_url(&config.database_url),
                absolute(&config.keys_dir).display()
            ));
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
            require_keys(&config)?;
            keys(&config, cmd, now)
        }
        Command::Idp(cmd) => {
            let store = open_existing(&config).await?;
            idp::run(&store, &config, cmd, now).await
        }
        Command::Manage(cmd) => {
            let store = open_existing(&config).await?;
            manage::run(&store, &config, cmd, now).await
        }
    }
}

fn keys(config: &Config, cmd: KeysCommand, now: i64) -> Result<(), CliError> {
    match cmd {
        KeysCommand::Rotate => {
            let ring = KeyRing::rotate(&config.keys_dir, now, config.access_token_signing_alg)?;
            let signing: Vec<String> =
                ring.describe().into_iter().filter(|d| d.2).map(|d| format!("{} ({})", d.0, d.1.as_str())).collect();
            say(format!("new signing keys {}; published keys: {}", signing.join(", "), ring.kids().join(", ")));
            Ok(())
        }
        KeysCommand::List => {
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
        KeysCommand::LicensePublic => {
            say(LicenseSigner::load_or_create(&config.keys_dir)?.public_pem().trim_end());
            Ok(())
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

/// The keys commands read, and `rotate` adds to, the keys of an existing installation; they never create the first.
fn require_keys(config: &Config) -> Result<(), CliError> {
    if config.keys_dir.join("license.pem").is_file() {
        return Ok(());
    }
    Err(CliError::NotInstalled(format!(
        "no keys in {}; looked at {}",
        absolute(&config.keys_dir).display(),
        looked_at(config)
    )))
}

async fn open_store(config: &Config) -> Result<Store, CliError> {
    Ok(Store::open(&config.database_url, 2).await?)
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
    app.run_until_signalled().await?;
    Ok(())
}

pub use crate::store::redact_url;

/// Prints a line to stdout; a closed pipe (`keyway demo | head -1`) is not an error worth a panic.
pub fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
