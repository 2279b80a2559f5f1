//! The real `keyway` binary as child processes (issue 15): an installation directory with its own database and
//! keys, `keyway` commands run in it, and `keyway serve` processes that can be killed with SIGKILL or stopped with
//! SIGTERM. Every child's output is kept, for the access-log assertions and for failure messages.
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyway::cli::demo::Demo;
use keyway::crypto::hmac_auth::{compute_signature, http_date};
use tokio::io::AsyncReadExt;

use crate::helpers::{hidden, pg_admin, pg_url, query_param, template_keys, CHALLENGE, VERIFIER};

pub const BIN: &str = env!("CARGO_BIN_EXE_keyway");

/// A directory with a database (SQLite file inside it, or a fresh PostgreSQL database) and a copy of the test keys.
pub struct Install {
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pub pg_database: Option<String>,
    /// The issuer all processes of this installation share (tokens are checked against it).
    pub issuer: String,
}

impl Install {
    pub async fn new(postgres: bool) -> Install {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = dir.path().join("keys");
        std::fs::create_dir_all(&keys).expect("keys dir");
        for entry in std::fs::read_dir(template_keys()).expect("template keys") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), keys.join(entry.file_name())).expect("copy key");
        }
        let (database_url, pg_database) = if postgres {
            let name = format!("keyway_test_{}", uuid::Uuid::new_v4().simple());
            pg_admin(&format!("CREATE DATABASE \"{name}\"")).await.expect("PostgreSQL at 127.0.0.1:5432");
            (pg_url(&name, None), Some(name))
        } else {
            (format!("sqlite://{}/data/keyway.db", dir.path().display()), None)
        };
        Install { dir, database_url, pg_database, issuer: "http://127.0.0.1:9".into() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The environment of every process of this installation: cheap argon2, JSON logs.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("KEYWAY_DATABASE_URL", self.database_url.clone()),
            ("KEYWAY_KEYS_DIR", self.path().join("keys").display().to_string()),
            ("KEYWAY_ISSUER", self.issuer.clone()),
            ("KEYWAY_ARGON2_MEMORY_KIB", "64".into()),
            ("KEYWAY_ARGON2_ITERATIONS", "1".into()),
            ("KEYWAY_WORKERS", "2".into()),
            ("KEYWAY_DB_MAX_CONNECTIONS", "8".into()),
            ("KEYWAY_LOG_FORMAT", "json".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// `keyway <args>` in the installation's directory with its environment plus `extra`.
    pub async fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> std::process::Output {
        run_in(self.path(), &self.env(), args, extra, None).await
    }

    /// `keyway demo --json`: the demo data (creates the database).
    pub async fn demo(&self) -> Demo {
        let out = self.run(&["demo", "--json"], &[]).await;
        assert!(out.status.success(), "keyway demo: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("demo JSON")
    }

    pub async fn serve(&self, extra: &[(&str, &str)]) -> Server {
        Server::start(self.path(), &self.env(), extra).await
    }
}

impl Drop for Install {
    fn drop(&mut self) {
        if let Some(name) = self.pg_database.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
                rt.block_on(async move {
                    let _ = pg_admin(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
                });
            })
            .join();
        }
    }
}

/// Runs the binary to completion: `env` replaces every inherited `KEYWAY_*` variable.
pub async fn run_in(
    dir: &Path,
    env: &[(String, String)],
    args: &[&str],
    extra: &[(&str, &str)],
    stdin: Option<&str>,
) -> std::process::Output {
    let mut cmd = command(dir, env, extra);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().expect("spawn keyway");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use tokio::io::AsyncWriteExt;
        pipe.write_all(input.as_bytes()).await.expect("stdin");
    }
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("keyway finished")
        .expect("keyway output")
}

fn command(dir: &Path, env: &[(String, String)], extra: &[(&str, &str)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.current_dir(dir).kill_on_drop(true);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("KEYWAY_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

/// A running `keyway serve`.
pub struct Server {
    pub base: String,
    child: tokio::process::Child,
    output: Arc<Mutex<String>>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl Server {
    async fn start(dir: &Path, env: &[(String, String)], extra: &[(&str, &str)]) -> Server {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut extra: Vec<(&str, &str)> = extra.to_vec();
        if !extra.iter().any(|(k, _)| *k == "KEYWAY_BIND") {
            extra.push(("KEYWAY_BIND", &bind));
        }
        let mut cmd = command(dir, env, &extra);
        cmd.arg("serve").stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn keyway serve");
        let output = Arc::new(Mutex::new(String::new()));
        for pipe in [
            child.stdout.take().map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child.stderr.take().map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let out = output.clone();
            tokio::spawn(async move {
                let mut pipe = pipe;
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    out.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let server = Server { base: format!("http://{bind}"), child, output };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("keyway serve did not come up: {}", self.output());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// The output once it contains `needle` (the server writes its log lines as it goes, the reader thread collects
    /// them a little later), or as it is after `limit`.
    pub async fn output_containing(&self, needle: &str, limit: Duration) -> String {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let out = self.output();
            if out.contains(needle) || tokio::time::Instant::now() > deadline {
                return out;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id().expect("running") as i32
    }

    /// SIGKILL: no shutdown code runs.
    pub async fn kill9(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        let _ = self.child.wait().await;
    }

    /// `kill -s <name> <pid>` (TERM, INT).
    pub fn signal(&self, name: &str) {
        let ok = std::process::Command::new("kill").args(["-s", name, &self.pid().to_string()]).status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -s {name}");
    }

    /// Waits for the process to exit (at most `limit`); its exit status.
    pub async fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(limit, self.child.wait()).await.expect("exited in time").expect("wait")
    }
}

/// An HTTP client of one installation's demo data, pointed at any of its servers.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub demo: Arc<Demo>,
}

impl Client {
    pub fn new(demo: &Demo) -> Client {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Client { http, demo: Arc::new(demo.clone()) }
    }

    /// authorize → the hosted login form → sign-in: the code, or why not.
    pub async fn code(&self, base: &str) -> Result<String, String> {
        let d = &self.demo;
        let url = format!(
            "{base}/oauth2/authorize?client_id={}&redirect_uri={}&customer_account_code={}&response_type=code&\
             scope=openid%20offline_access&code_challenge={CHALLENGE}&code_challenge_method=S256",
            d.client_id,
            keyway::encoding::component(&d.redirect_uri),
            d.customer_account_code
        );
        let res = self.http.get(&url).send().await.map_err(|e| e.to_string())?;
        if res.status() == 303 {
            // Signed in already (the session cookie): the code straight away.
            let loc = res.headers()["location"].to_str().map_err(|e| e.to_string())?;
            return query_param(loc, "code").ok_or_else(|| format!("no code in {loc}"));
        }
        if res.status() != 200 {
            return Err(format!("authorize: {}", res.status()));
        }
        let page = res.text().await.map_err(|e| e.to_string())?;
        let form = [
            ("csrf_token", hidden(&page, "csrf_token").ok_or("no csrf_token")?),
            ("authz", hidden(&page, "authz").ok_or("no authz")?),
            ("email", d.user_email.clone()),
            ("password", d.user_password.clone()),
        ];
        let res = self.http.post(format!("{base}/login")).form(&form).send().await.map_err(|e| e.to_string())?;
        if res.status() != 303 {
            return Err(format!("login: {}", res.status()));
        }
        let loc = res.headers()["location"].to_str().map_err(|e| e.to_string())?;
        query_param(loc, "code").ok_or_else(|| format!("no code in {loc}"))
    }

    pub async fn token(&self, base: &str, form: &[(&str, &str)]) -> Result<reqwest::Response, reqwest::Error> {
        self.http
            .post(format!("{base}/oauth2/token"))
            .basic_auth(&self.demo.client_id, Some(&self.demo.client_secret))
            .form(form)
            .send()
            .await
    }

    pub async fn redeem(&self, base: &str, code: &str) -> Result<reqwest::Response, reqwest::Error> {
        let redirect = self.demo.redirect_uri.clone();
        self.token(
            base,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &redirect),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
    }

    fn signed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let date = http_date(keyway::clock::system_now());
        let sig = compute_signature(&self.demo.shared_key, &date);
        let auth =
            format!(r#"algorithm="hmac-sha256",headers="date",signature="{sig}",apikey="{}""#, self.demo.api_key);
        req.header("Date", date).header("Authorization", auth)
    }

    /// License API activation or deactivation of the demo license on `hardware_id`.
    pub async fn license(&self, base: &str, op: &str, hardware_id: &str) -> Result<reqwest::Response, reqwest::Error> {
        let body = serde_json::json!({
            "product": self.demo.product, "hardware_id": hardware_id, "license_key": self.demo.license_key,
        });
        self.signed(self.http.post(format!("{base}/api/v4/{op}_license")).json(&body)).send().await
    }
}
