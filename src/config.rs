//! Typed configuration: built-in defaults < `keyway.toml` < `KEYWAY_*` environment variables.
//! Unknown keys are rejected and a bad value stops start-up with a message naming the key.
use std::path::PathBuf;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

mod env;

use crate::crypto::keys::SigningAlg;
use crate::crypto::secrets::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds to.
    pub bind: String,
    /// Issuer identifier (OIDC Core §2): the public base URL, no trailing slash.
    pub issuer: String,
    pub database_url: String,
    /// Where a single-process installation keeps `kek.key` (when `key_encryption_key` is not set), and the one-time
    /// import path of key files from before keys moved into the database.
    pub keys_dir: PathBuf,
    /// Key-encryption keys: comma-separated base64url 32-byte keys; the first seals the keys in the database, all of
    /// them open (README "Running several replicas", "Key rotation"). Unset: `<keys_dir>/kek.key`.
    pub key_encryption_key: Option<Secret>,
    /// Seconds between `keyway keys rotate` and the new key signing: longer than the JWKS `max-age` (300 s), so
    /// relying parties have the key before they see a token signed with it.
    pub key_publication_delay: i64,
    /// HTTP worker threads; 0 = one per core.
    pub workers: usize,
    /// Maximum database connections in the pool.
    pub db_max_connections: u32,
    pub access_token_ttl: i64,
    /// JWS algorithm of access tokens: "RS256" (default) or "ES256" (one P-256 signature instead of an RSA one per
    /// token; resource servers must accept ES256). id_tokens are always RS256.
    pub access_token_signing_alg: SigningAlg,
    pub id_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub code_ttl: i64,
    pub session_ttl: i64,
    /// How recent a session's sign-in must be to change its user's second factors (set up or remove an authenticator
    /// app, new recovery codes, add or remove a passkey), seconds: an older session signs in again first, so a
    /// session taken over cannot plant a passkey of its own or strip the factors.
    pub reauth_seconds: i64,
    /// Allowed skew of the License API `Date` header, seconds (SPEC §3.1: 15 minutes).
    pub date_skew: i64,
    /// argon2id memory cost in KiB, iterations and lanes.
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Password attempts per (account, e-mail) within `lockout_window` seconds before the address is locked for
    /// `lockout_seconds`; a browser that signed in as the user before has its own limit, `lockout_device_threshold`.
    pub lockout_threshold: i32,
    pub lockout_seconds: i64,
    pub lockout_window: i64,
    pub lockout_device_threshold: i32,
    /// Instance admin secret for Tyk's `admin-auth` header; unset disables `/admin/sso`.
    pub admin_secret: Option<Secret>,
    /// Log format: "text" or "json".
    pub log_format: String,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted reverse proxy).
    pub trust_forwarded_for: bool,
    /// Serve `/metrics` on this address only ("host:port"), not on `bind`: keeps it off the public port.
    pub metrics_bind: Option<String>,
    /// Seconds a SIGTERM/SIGINT waits for requests in flight before the workers stop. Below Docker's 10 s stop
    /// grace, so the process exits on its own before it is killed.
    pub shutdown_timeout: u64,
    /// Requests per minute (token bucket: this many at once, refilled over a minute; 0 = no limit) on the hosted
    /// sign-in form (per client address and per e-mail), the token endpoint (per address and per client_id) and the
    /// License API (per address and per API key). Answered 429 with `Retry-After`.
    pub rate_limit_login_per_ip: u32,
    pub rate_limit_login_per_account: u32,
    pub rate_limit_token_per_ip: u32,
    pub rate_limit_token_per_client: u32,
    pub rate_limit_license_per_ip: u32,
    pub rate_limit_license_per_api_key: u32,
    /// "Forgot password" requests per hour per client address and per e-mail address (0 = no limit).
    pub rate_limit_mail_per_ip: u32,
    pub rate_limit_mail_per_address: u32,
    /// Outgoing mail (forgot password, e-mail verification). Without `smtp_host` those features hide themselves.
    pub smtp_host: Option<String>,
    /// Default: 25 with `smtp_tls = "none"`, 587 with `starttls`, 465 with `tls`.
    pub smtp_port: Option<u16>,
    pub smtp_tls: crate::mail::SmtpTls,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret>,
    /// The sender, `Name <address>` or an address.
    pub smtp_from: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".into(),
            issuer: "http://127.0.0.1:8080".into(),
            database_url: "sqlite://data/keyway.db".into(),
            keys_dir: PathBuf::from("keys"),
            key_encryption_key: None,
            // JWKS max-age (300 s) + as much again for caches in between and clock skew.
            key_publication_delay: 600,
            workers: 0,
            db_max_connections: 16,
            access_token_ttl: 3600,
            access_token_signing_alg: SigningAlg::RS256,
            id_token_ttl: 3600,
            refresh_token_ttl: 30 * 24 * 3600,
            code_ttl: 300,
            session_ttl: 8 * 3600,
            reauth_seconds: 600,
            date_skew: 15 * 60,
            // OWASP's second argon2id profile: 19 MiB, 2 iterations, 1 lane.
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            lockout_threshold: 5,
            lockout_seconds: 300,
            lockout_window: 900,
            lockout_device_threshold: 10,
            admin_secret: None,
            log_format: "text".into(),
            trust_forwarded_for: false,
            metrics_bind: None,
            shutdown_timeout: 8,
            // Far above what one person or one device does (a sign-in is one POST, an SDK checks a license every
            // few minutes), low enough that a guessing script from one address is slowed to a crawl. The per-API-key
            // and per-client limits are high: one key serves a vendor's whole fleet, one client all its users.
            rate_limit_login_per_ip: 300,
            rate_limit_login_per_account: 60,
            rate_limit_token_per_ip: 1200,
            rate_limit_token_per_client: 12000,
            rate_limit_license_per_ip: 1200,
            rate_limit_license_per_api_key: 60000,
            // A person asks for a few links at most; an office behind one NAT address for a few dozen an hour.
            rate_limit_mail_per_ip: 60,
            rate_limit_mail_per_address: 5,
            smtp_host: None,
            smtp_port: None,
            smtp_tls: crate::mail::SmtpTls::Starttls,
            smtp_username: None,
            smtp_password: None,
            smtp_from: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Figment(#[from] Box<figment::Error>),
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("unknown configuration key `{key}` in {from}{hint}")]
    Unknown { key: String, from: String, hint: String },
}

impl ConfigError {
    /// figment's message names the key and where the value came from; an unknown key is named as written.
    fn from_figment(e: figment::Error, file: &std::path::Path) -> ConfigError {
        if let figment::error::Kind::UnknownField(field, expected) = &e.kind {
            let from = match &e.metadata {
                Some(m) if m.name.contains("TOML") => file.display().to_string(),
                Some(m) => m.name.to_string(),
                None => "the configuration".into(),
            };
            let shown = match &e.metadata {
                Some(m) if m.name == env::NAME => format!("{}{}", env::PREFIX, field.to_uppercase()),
                _ => field.clone(),
            };
            let normal = field.to_ascii_lowercase().replace('-', "_");
            let hint = match expected.iter().find(|k| **k == normal) {
                Some(k) => format!(" (did you mean `{k}`?)"),
                None => String::new(),
            };
            return ConfigError::Unknown { key: shown, from, hint };
        }
        ConfigError::Figment(Box::new(e))
    }
}

/// "8080" alone is the commonest mistake: say what is missing.
fn bind_hint(value: &str) -> String {
    if value.parse::<u16>().is_ok() {
        format!("`{value}` is a port alone; write host:port, for example 0.0.0.0:{value} (all interfaces) or 127.0.0.1:{value}")
    } else {
        format!("`{value}` must be host:port, for example 127.0.0.1:8080")
    }
}

impl Config {
    /// Loads `keyway.toml` (or the file named by `--config` or `KEYWAY_CONFIG`) and the environment.
    pub fn load(file: Option<PathBuf>) -> Result<Config, ConfigError> {
        // A file named explicitly (flag or environment) must exist; only the default keyway.toml is optional.
        let named = file.map(|f| ("--config", f)).or_else(|| {
            std::env::var_os("KEYWAY_CONFIG").filter(|v| !v.is_empty()).map(|v| ("KEYWAY_CONFIG", PathBuf::from(v)))
        });
        if let Some((source, f)) = &named {
            if !f.is_file() {
                return Err(ConfigError::Invalid {
                    key: "config",
                    reason: format!("{} (from {source}) does not exist", f.display()),
                });
            }
        }
        let file = named.map(|(_, f)| f).unwrap_or_else(|| PathBuf::from("keyway.toml"));
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(&file))
            .merge(env::KeywayEnv::new())
            .extract()
            .map_err(|e| ConfigError::from_figment(e, &file))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| Err(ConfigError::Invalid { key, reason: reason.to_string() });
        for (key, value) in [("bind", Some(&self.bind)), ("metrics_bind", self.metrics_bind.as_ref())] {
            let Some(value) = value else { continue };
            if value.parse::<std::net::SocketAddr>().is_err() {
                return Err(ConfigError::Invalid { key, reason: bind_hint(value) });
            }
        }
        match url::Url::parse(&self.issuer) {
            Ok(u)
                if (u.scheme() == "https" || u.scheme() == "http") && u.query().is_none() && u.fragment().is_none() => {
            }
            _ => return invalid("issuer", "must be an http(s) URL without query or fragment"),
        }
        if self.issuer.ends_with('/') {
            return invalid("issuer", "must not end with a slash");
        }
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return invalid("database_url", "must start with sqlite: or postgres://");
        }
        for (key, v) in [
            ("access_token_ttl", self.access_token_ttl),
            ("id_token_ttl", self.id_token_ttl),
            ("refresh_token_ttl", self.refresh_token_ttl),
            ("code_ttl", self.code_ttl),
            ("session_ttl", self.session_ttl),
            ("reauth_seconds", self.reauth_seconds),
            ("date_skew", self.date_skew),
            ("lockout_seconds", self.lockout_seconds),
            ("lockout_window", self.lockout_window),
        ] {
            if v <= 0 {
                return invalid(key, "must be a positive number of seconds");
            }
        }
        if self.key_publication_delay < 0 {
            return invalid("key_publication_delay", "must be zero or a positive number of seconds");
        }
        if let Some(k) = &self.key_encryption_key {
            if let Err(e) = crate::crypto::kek::Kek::parse(k.expose()) {
                return invalid("key_encryption_key", &e.to_string());
            }
        }
        if self.db_max_connections == 0 {
            return invalid("db_max_connections", "must be at least 1");
        }
        if self.lockout_threshold <= 0 {
            return invalid("lockout_threshold", "must be at least 1");
        }
        if self.lockout_device_threshold < self.lockout_threshold {
            return invalid("lockout_device_threshold", "must be at least lockout_threshold");
        }
        if argon2::Params::new(self.argon2_memory_kib, self.argon2_iterations, self.argon2_parallelism, None).is_err() {
            return invalid(
                "argon2_memory_kib",
                "argon2 parameters out of range (memory >= 8 x parallelism KiB, iterations >= 1)",
            );
        }
        if self.shutdown_timeout > 3600 {
            return invalid("shutdown_timeout", "must be at most 3600 seconds");
        }
        if self.smtp_host.as_deref().is_some_and(|h| !h.is_empty()) {
            match self.smtp_from.as_deref().map(str::parse::<lettre::message::Mailbox>) {
                Some(Ok(_)) => {}
                Some(Err(_)) => return invalid("smtp_from", "must be an address or `Name <address>`"),
                None => return invalid("smtp_from", "is required with smtp_host"),
            }
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return invalid("log_format", "must be text or json");
        }
        Ok(())
    }

    pub fn is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }
}
