//! Issue 15 items 1–3 with real processes: `keyway serve` replicas that share only a PostgreSQL database (separate
//! working directories, no shared key directory, the KEK given through the environment), the refusal of a replica
//! without the KEK, cross-replica invalidation within a second, and a key rotation under openid-client's JWKS cache.
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use keyway::crypto::hmac_auth::{compute_signature, http_date};
use keyway::crypto::kek::Kek;
use serde_json::{json, Value};

use crate::helpers::{hidden, pg_admin, query_param, real_now, CHALLENGE, VERIFIER};

const BIN: &str = env!("CARGO_BIN_EXE_keyway");
const CB: &str = "http://127.0.0.1:8765/callback";

/// A fresh PostgreSQL database, dropped with the value.
struct PgDb {
    name: String,
    url: String,
}

impl PgDb {
    async fn new() -> PgDb {
        let name = format!("keyway_replicas_{}", uuid::Uuid::new_v4().simple());
        pg_admin(&format!("CREATE DATABASE \"{name}\"")).await.expect("PostgreSQL at 127.0.0.1:5432");
        let admin = std::env::var("KEYWAY_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
        let mut url = url::Url::parse(&admin).expect("url");
        url.set_path(&format!("/{name}"));
        PgDb { name, url: url.to_string() }
    }

    async fn count(&self, sql: &str) -> i64 {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.url).await.expect("connect");
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect("count");
        conn.close().await.expect("close");
        n
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
            rt.block_on(async move {
                let _ = pg_admin(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
            });
        })
        .join();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The environment of one `keyway` process: its own working directory (its own `keys/`), the shared database,
/// optionally the KEK. `KEYWAY_*` variables of the test environment are not inherited.
struct Node {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Node {
    fn new(db: &PgDb, issuer: &str, port: u16, kek: Option<&str>) -> Node {
        let mut env = vec![
            ("KEYWAY_DATABASE_URL".to_string(), db.url.clone()),
            ("KEYWAY_BIND".to_string(), format!("127.0.0.1:{port}")),
            ("KEYWAY_ISSUER".to_string(), issuer.to_string()),
            ("KEYWAY_WORKERS".to_string(), "2".to_string()),
            ("KEYWAY_ARGON2_MEMORY_KIB".to_string(), "64".to_string()),
            ("KEYWAY_ARGON2_ITERATIONS".to_string(), "1".to_string()),
            ("KEYWAY_LOG".to_string(), "info".to_string()),
        ];
        if let Some(k) = kek {
            env.push(("KEYWAY_KEY_ENCRYPTION_KEY".to_string(), k.to_string()));
        }
        Node { dir: tempfile::tempdir().expect("tmp"), env }
    }

    fn with(mut self, key: &str, value: &str) -> Node {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(args).current_dir(self.dir.path()).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs a CLI command to completion: (success, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.command(args).output().await.expect("run keyway");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }
}

/// A running `keyway serve`; killed when dropped.
struct Replica {
    node: Node,
    base: String,
    child: tokio::process::Child,
}

impl Replica {
    async fn start(node: Node) -> Result<Replica, String> {
        let port = node.env.iter().find(|(k, _)| k == "KEYWAY_BIND").map(|(_, v)| v.clone()).expect("bind");
        let log = std::fs::File::create(node.dir.path().join("serve.log")).expect("log");
        let mut child = node
            .command(&["serve"])
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn keyway serve");
        let base = format!("http://{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status}: {}", read_log(node.dir.path())));
            }
            if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
                if r.status() == 200 {
                    return Ok(Replica { node, base, child });
                }
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after 60 s: {}", read_log(node.dir.path())));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn jwks(&self) -> Vec<u8> {
        reqwest::get(self.url("/.well-known/jwks.json")).await.expect("jwks").bytes().await.expect("bytes").to_vec()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
}

/// Demo credentials (created through the CLI against the shared database).
async fn demo(node: &Node) -> Value {
    let (ok, out, err) = node.run(&["demo", "--json"]).await;
    assert!(ok, "keyway demo: {err}");
    serde_json::from_str(&out).expect("demo json")
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().expect("client")
}

fn authorize_path(demo: &Value) -> String {
    format!(
        "/oauth2/authorize?client_id={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&\
         customer_account_code=demo-customer&response_type=code&scope=openid%20email&state=s&nonce=n&\
         code_challenge={CHALLENGE}&code_challenge_method=S256",
        demo["client_id"].as_str().expect("client_id")
    )
}

/// The login page from `page_on`, the form posted to `post_on`: the login response.
async fn login(
    b: &reqwest::Client,
    page_on: &Replica,
    post_on: &Replica,
    demo: &Value,
    email: &str,
) -> reqwest::Response {
    let page = b.get(page_on.url(&authorize_path(demo))).send().await.expect("authorize");
    assert_eq!(page.status(), 200, "the login page");
    let page = page.text().await.expect("html");
    let form = [
        ("csrf_token", hidden(&page, "csrf_token").expect("csrf_token")),
        ("authz", hidden(&page, "authz").expect("authz")),
        ("email", email.to_string()),
        ("password", demo["user_password"].as_str().expect("password").to_string()),
    ];
    b.post(post_on.url("/login")).form(&form).send().await.expect("login")
}

async fn redeem(b: &reqwest::Client, on: &Replica, demo: &Value, code: &str) -> Value {
    let res = b
        .post(on.url("/oauth2/token"))
        .basic_auth(demo["client_id"].as_str().unwrap(), demo["client_secret"].as_str())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(res.status(), 200, "code redemption");
    res.json().await.expect("token json")
}

fn license_auth(demo: &Value, api_key: &str) -> (String, String) {
    let date = http_date(real_now());
    let sig = compute_signature(demo["shared_key"].as_str().unwrap(), &date);
    (date, format!(r#"algorithm="hmac-sha256",headers="date",signature="{sig}",apikey="{api_key}""#))
}

async fn license_check(on: &Replica, demo: &Value, hw: &str) -> reqwest::Response {
    let (date, auth) = license_auth(demo, demo["api_key"].as_str().unwrap());
    reqwest::Client::new()
        .get(on.url(&format!("/api/v4/check_license?product=demo-app&hardware_id={hw}&username=demo%40example.com")))
        .header("Date", date)
        .header("Authorization", auth)
        .send()
        .await
        .expect("check")
}

/// Two replicas started at the same moment on an empty database, then every step of a hosted-login flow and of a
/// License API activation on alternating replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_only_the_database() {
    let db = PgDb::new().await;
    let kek = Kek::generate();
    let (pa, pb) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{pa}");
    // Concurrent first start: both create a key set; exactly one must survive.
    let (a, b) = tokio::join!(
        Replica::start(Node::new(&db, &issuer, pa, Some(&kek))),
        Replica::start(Node::new(&db, &issuer, pb, Some(&kek)))
    );
    let (a, b) = (a.expect("replica A"), b.expect("replica B"));
    assert_eq!(db.count("SELECT count(*) FROM keys WHERE purpose = 'oidc'").await, 1, "one OpenID key");
    assert_eq!(db.count("SELECT count(*) FROM keys WHERE purpose = 'license'").await, 1, "one license key");
    assert_eq!(db.count("SELECT count(*) FROM keys WHERE purpose = 'cookie'").await, 1, "one cookie key");
    assert_eq!(
        db.count("SELECT count(*) FROM keys WHERE sealed NOT LIKE 'kek1.%'").await,
        0,
        "every key is sealed in the database"
    );
    assert!(!a.node.dir.path().join("keys").exists(), "no key directory is written when the KEK is configured");
    assert_eq!(a.jwks().await, b.jwks().await, "both replicas publish the same JWKS");

    let demo = demo(&a.node).await;
    let browser = browser();
    // Authorize on A, log in on B, token on A, userinfo and introspection on B.
    let res = login(&browser, &a, &b, &demo, "demo@example.com").await;
    assert_eq!(res.status(), 303, "A's login form is accepted by B");
    let code = query_param(res.headers()["location"].to_str().unwrap(), "code").expect("code");
    let tokens = redeem(&browser, &a, &demo, &code).await;
    let access = tokens["access_token"].as_str().expect("access_token");
    let userinfo = browser.get(b.url("/oauth2/userInfo")).bearer_auth(access).send().await.expect("userinfo");
    assert_eq!(userinfo.status(), 200, "A's access token works at B");
    let userinfo: Value = userinfo.json().await.expect("json");
    assert_eq!(userinfo["email"], "demo@example.com");
    let introspection: Value = browser
        .post(b.url("/oauth2/introspect"))
        .basic_auth(demo["client_id"].as_str().unwrap(), demo["client_secret"].as_str())
        .form(&[("token", access)])
        .send()
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json");
    assert_eq!(introspection["active"], true, "{introspection}");

    // A second code (the session cookie set by B is honoured by A) for a License API activation on B, check on A.
    let res = browser.get(a.url(&authorize_path(&demo))).send().await.expect("authorize");
    assert_eq!(res.status(), 303, "B's session is known to A");
    let code = query_param(res.headers()["location"].to_str().unwrap(), "code").expect("code");
    let (date, auth) = license_auth(&demo, demo["api_key"].as_str().unwrap());
    let body = json!({"product": "demo-app", "hardware_id": "hw-r", "customer_account_code": "demo-customer",
        "code": code, "redirect_uri": CB, "code_verifier": VERIFIER, "os_ver": "Linux", "hostname": "box",
        "sdk_ver": "4.0.0", "is_vm": false, "vm_info": null});
    let activated = reqwest::Client::new()
        .post(b.url("/api/v4/activate_license"))
        .header("Date", date)
        .header("Authorization", auth)
        .json(&body)
        .send()
        .await
        .expect("activate");
    assert_eq!(activated.status(), 200, "activation on B");
    let sig_b = activated.headers()["LicenseSignature"].to_str().unwrap().to_string();
    let bytes = activated.bytes().await.unwrap();
    verify_with(&demo, &bytes, &sig_b);
    let checked = license_check(&a, &demo, "hw-r").await;
    assert_eq!(checked.status(), 200, "check on A");
    let sig_a = checked.headers()["LicenseSignature"].to_str().unwrap().to_string();
    verify_with(&demo, &checked.bytes().await.unwrap(), &sig_a);
    assert_eq!(a.jwks().await, b.jwks().await);
}

/// Verifies a License API response signature with the public key the demo printed (what SDKs pin).
fn verify_with(demo: &Value, body: &[u8], sig_b64: &str) {
    use base64::Engine;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    let key = rsa::RsaPublicKey::from_public_key_pem(demo["license_public_key_pem"].as_str().unwrap()).expect("pem");
    let verifying = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key);
    let sig = base64::engine::general_purpose::STANDARD.decode(sig_b64).expect("b64");
    let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).expect("signature");
    verifying.verify(body, &sig).expect("the same License API response key on every replica");
}

/// A replica without the KEK (or with another one) refuses to start once sealed keys exist, naming the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_without_the_kek_refuses_to_start() {
    let db = PgDb::new().await;
    let kek = Kek::generate();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let (ok, _, err) = Node::new(&db, &issuer, port, Some(&kek)).run(&["migrate"]).await;
    assert!(ok, "migrate creates the key set: {err}");
    assert_eq!(db.count("SELECT count(*) FROM keys").await, 3);

    let started = Replica::start(Node::new(&db, &issuer, port, None)).await;
    let err = started.err().expect("a replica without a KEK must not start");
    assert!(err.contains("exited with exit status: 1"), "non-zero exit: {err}");
    assert!(err.contains("key_encryption_key") && err.contains("KEYWAY_KEY_ENCRYPTION_KEY"), "{err}");
    assert_eq!(db.count("SELECT count(*) FROM keys").await, 3, "it created no keys of its own");

    let wrong = Replica::start(Node::new(&db, &issuer, port, Some(&Kek::generate()))).await;
    let err = wrong.err().expect("a replica with another KEK must not start");
    let first = Kek::parse(&kek).expect("kek");
    assert!(err.contains(first.primary_id()) && err.contains("key_encryption_key"), "names the KEK it needs: {err}");

    // KEK rotation: the new KEK first, the old one still listed; rewrap; then the old one can go.
    let new = Kek::generate();
    let both = format!("{new},{kek}");
    let (ok, out, err) = Node::new(&db, &issuer, port, Some(&both)).run(&["keys", "rewrap"]).await;
    assert!(ok && out.starts_with("3 sealed values"), "{out} {err}");
    let only_new = Replica::start(Node::new(&db, &issuer, port, Some(&new))).await.expect("starts with the new KEK");
    drop(only_new);
    let only_old = Replica::start(Node::new(&db, &issuer, port, Some(&kek))).await;
    assert!(only_old.is_err(), "the old KEK opens nothing after rewrap");
}

/// Disabling a user, revoking an API key or disabling a product through one process (the CLI) takes effect on a
/// replica that cached them, within one second (LISTEN/NOTIFY; the API-key cache would otherwise serve it 5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidation_reaches_every_replica_within_a_second() {
    let db = PgDb::new().await;
    let kek = Kek::generate();
    let (pa, pb) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{pa}");
    let a = Replica::start(Node::new(&db, &issuer, pa, Some(&kek))).await.expect("A");
    let b = Replica::start(Node::new(&db, &issuer, pb, Some(&kek))).await.expect("B");
    let demo = demo(&a.node).await;

    // The API key is in B's cache after one request.
    let code = |res: reqwest::Response| async move { res.json::<Value>().await.expect("json")["code"].clone() };
    let before = code(license_check(&b, &demo, "none").await).await;
    assert_ne!(before, "invalid_api_key", "the API key is accepted before revocation");
    let (ok, _, err) = a.node.run(&["api-key", "revoke", demo["api_key"].as_str().unwrap()]).await;
    assert!(ok, "revoke: {err}");
    let refused =
        within_a_second(|| async { code(license_check(&b, &demo, "none").await).await == "invalid_api_key" }).await;
    assert!(refused, "B refuses the revoked API key within 1 s");

    // A user disabled through A's CLI cannot sign in on B.
    let user = ["--org", "Demo Vendor", "--account", "demo-customer", "--email", "demo@example.com"];
    let (ok, _, err) = a.node.run(&[&["user", "disable"][..], &user].concat()).await;
    assert!(ok, "disable: {err}");
    let refused =
        within_a_second(|| async { login(&browser(), &b, &b, &demo, "demo@example.com").await.status() != 303 }).await;
    assert!(refused, "B refuses the disabled user within 1 s");

    // A product disabled through the CLI: B (which cached it) refuses its authorize requests.
    let (ok, _, err) = a.node.run(&[&["user", "enable"][..], &user].concat()).await;
    assert!(ok, "enable: {err}");
    assert_eq!(login(&browser(), &b, &b, &demo, "demo@example.com").await.status(), 303, "enabled again");
    let (ok, _, err) = a.node.run(&["product", "disable", "--org", "Demo Vendor", "--code", "demo-app"]).await;
    assert!(ok, "product disable: {err}");
    let refused = within_a_second(|| async {
        let res = browser().get(b.url(&authorize_path(&demo))).send().await.expect("authorize");
        res.status() != 200
    })
    .await;
    assert!(refused, "B refuses the disabled product within 1 s");
}

/// Polls `check` until it holds or one second has passed since the change.
async fn within_a_second<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Rotation no relying party notices (issue 15 item 2): openid-client caches the JWKS and signs in every 200 ms for
/// two minutes while `keyway keys rotate` runs with a 70 s publication delay (openid-client refetches a JWKS on an
/// unknown kid only once it is a minute old). The new key is published at once but signs only after the delay, and
/// not a single login fails verification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_a_caching_relying_party() {
    const DELAY: i64 = 70;
    let db = PgDb::new().await;
    let kek = Kek::generate();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let node = || Node::new(&db, &issuer, port, Some(&kek)).with("KEYWAY_KEY_PUBLICATION_DELAY", &DELAY.to_string());
    let a = Replica::start(node()).await.expect("replica");
    let demo = demo(&a.node).await;
    let old_kid = jwks_kids(&a).await;
    assert_eq!(old_kid.len(), 1);

    let rp = tokio::process::Command::new("node")
        .arg("tests/oidc/rotation_rp.mjs")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KW_ISSUER", &issuer)
        .env("KW_CLIENT_ID", demo["client_id"].as_str().unwrap())
        .env("KW_CLIENT_SECRET", demo["client_secret"].as_str().unwrap())
        .env("KW_REDIRECT_URI", CB)
        .env("KW_ACCOUNT", "demo-customer")
        .env("KW_USER_EMAIL", "demo@example.com")
        .env("KW_USER_PASSWORD", demo["user_password"].as_str().unwrap())
        .env("KW_DURATION_MS", "120000")
        .kill_on_drop(true)
        .output();
    let rp = tokio::spawn(rp);
    // The relying party has fetched the JWKS for its first logins.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let rotated_at = real_now();
    let (ok, out, err) = a.node.run(&["keys", "rotate"]).await;
    assert!(ok, "keys rotate: {err}");
    assert!(out.contains(&format!("key_publication_delay {DELAY} s")), "{out}");
    let published = within_a_second(|| async { jwks_kids(&a).await.len() == 2 }).await;
    assert!(published, "the new key is in the JWKS at once (NOTIFY)");
    let new_kid = jwks_kids(&a).await.into_iter().find(|k| *k != old_kid[0]).expect("new kid");
    let (_, list, _) = a.node.run(&["keys", "list"]).await;
    let state_of = |list: &str, kid: &str| {
        list.lines().find(|l| l.contains(kid)).and_then(|l| l.split_whitespace().nth(3)).map(str::to_string)
    };
    assert_eq!(state_of(&list, &new_kid).as_deref(), Some("published"), "{list}");
    assert_eq!(state_of(&list, &old_kid[0]).as_deref(), Some("signing"), "{list}");

    let out = rp.await.expect("join").expect("node");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("rp json");
    let logins = report["logins"].as_array().expect("logins");
    let failures: Vec<&Value> = logins.iter().filter(|l| l["ok"] != true).collect();
    assert!(
        failures.is_empty(),
        "{} of {} logins failed verification at the relying party, first: {:?}",
        failures.len(),
        logins.len(),
        failures.iter().take(3).collect::<Vec<_>>()
    );
    let switch = (rotated_at + DELAY) as f64;
    let kid_at = |pred: &dyn Fn(f64) -> bool| -> Vec<String> {
        logins
            .iter()
            .filter(|l| pred(l["t"].as_f64().unwrap()))
            .map(|l| l["kid"].as_str().unwrap().to_string())
            .collect()
    };
    let before = kid_at(&|t| t < switch - 1.0);
    let after = kid_at(&|t| t > switch + 2.0);
    assert!(
        before.len() > 50 && after.len() > 50,
        "logins on both sides of the switch: {} {}",
        before.len(),
        after.len()
    );
    assert!(before.iter().all(|k| *k == old_kid[0]), "the new key does not sign before the publication delay");
    assert!(after.iter().all(|k| *k == new_kid), "the new key signs after it");
    let (_, list, _) = a.node.run(&["keys", "list"]).await;
    assert_eq!(state_of(&list, &new_kid).as_deref(), Some("signing"), "{list}");
    assert_eq!(state_of(&list, &old_kid[0]).as_deref(), Some("retired"), "still published for its tokens: {list}");
    assert_eq!(jwks_kids(&a).await.len(), 2);
    // The relying party really cached: it did not fetch the JWKS on every login.
    let fetches = report["jwks_fetches"].as_array().expect("fetches").len();
    assert!(fetches <= 3, "{fetches} JWKS fetches for {} logins", logins.len());
}

async fn jwks_kids(r: &Replica) -> Vec<String> {
    let jwks: Value = serde_json::from_slice(&r.jwks().await).expect("jwks");
    jwks["keys"].as_array().expect("keys").iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}
