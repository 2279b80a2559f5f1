//! `spawn_app`: the real server on a random port with its own database — a fresh SQLite file, or a fresh
//! PostgreSQL database on 127.0.0.1:5432 that is dropped afterwards. PostgreSQL being unreachable fails the test.
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::OnceLock;

use keyway::cli::demo::{self, Demo};
use keyway::crypto::hmac_auth::{compute_signature, http_date};
use keyway::{Clock, Config};
use sqlx::Connection;

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub state: actix_web::web::Data<keyway::state::AppState>,
    pub clock: Clock,
    pub demo: Demo,
    pub client: reqwest::Client,
    pub db: Db,
    _tmp: tempfile::TempDir,
    pg_database: Option<String>,
    /// The PostgreSQL role the server connects as, when not the admin (`spawn_app_as_role`); dropped after the
    /// database.
    pg_role: Option<String>,
}

fn pg_admin_url() -> String {
    std::env::var("KEYWAY_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// Key generation is slow; every test copies one set of keys made once per test binary.
pub fn template_keys() -> &'static PathBuf {
    static KEYS: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &KEYS
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().to_path_buf();
            keyway::crypto::keys::KeyRing::load_or_create(&path, 1, keyway::crypto::keys::SigningAlg::RS256)
                .expect("oidc key");
            keyway::crypto::keys::LicenseSigner::load_or_create(&path).expect("license key");
            (dir, path)
        })
        .1
}

/// Runs one statement on the PostgreSQL admin database.
pub async fn pg_admin(sql: &str) -> Result<(), sqlx::Error> {
    pg_admin_on(None, sql).await
}

/// Runs one statement as the admin user, on the admin database or on `database`.
pub async fn pg_admin_on(database: Option<&str>, sql: &str) -> Result<(), sqlx::Error> {
    let url = match database {
        None => pg_admin_url(),
        Some(d) => pg_url(d, None),
    };
    let mut conn = sqlx::PgConnection::connect(&url).await?;
    sqlx::query(sql).execute(&mut conn).await?;
    conn.close().await
}

/// The URL of `database` on the admin URL's server, as the admin user or as `role`.
pub fn pg_url(database: &str, role: Option<&str>) -> String {
    let mut url = url::Url::parse(&pg_admin_url()).expect("KEYWAY_TEST_PG is a URL");
    url.set_path(&format!("/{database}"));
    if let Some(r) = role {
        url.set_username(r).expect("a role name");
        url.set_password(None).expect("no password");
    }
    url.to_string()
}

pub fn real_now() -> i64 {
    keyway::clock::system_now()
}

pub fn test_config(db: &str, keys: PathBuf, port: u16) -> Config {
    Config {
        bind: format!("127.0.0.1:{port}"),
        issuer: format!("http://127.0.0.1:{port}"),
        database_url: db.to_string(),
        keys_dir: keys,
        workers: 2,
        db_max_connections: 8,
        // Cheap argon2 for tests: the parameters are exercised, not the cost.
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        argon2_parallelism: 1,
        admin_secret: Some(keyway::crypto::secrets::Secret::new("test-admin-secret")),
        ..Config::default()
    }
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

pub async fn spawn_app_with(db: Db, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn(db, None, tweak).await
}

/// The server on a fresh PostgreSQL database, connecting as `role`: a LOGIN role without superuser rights made by
/// the caller (which may then revoke CONNECT from it, something that does not stop a superuser). The role gets the
/// database's `public` schema; it is dropped with the app.
pub async fn spawn_app_as_role(role: &str, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn(Db::Postgres, Some(role), tweak).await
}

async fn spawn(db: Db, role: Option<&str>, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys_dir = tmp.path().join("keys");
    std::fs::create_dir_all(&keys_dir).expect("keys dir");
    for entry in std::fs::read_dir(template_keys()).expect("template keys") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), keys_dir.join(entry.file_name())).expect("copy key");
    }
    let (url, pg_database) = match db {
        Db::Sqlite => (format!("sqlite://{}/keyway.db", tmp.path().display()), None),
        Db::Postgres => {
            let name = format!("keyway_test_{}", uuid::Uuid::new_v4().simple());
            pg_admin(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("PostgreSQL at 127.0.0.1:5432 must be reachable for the tests");
            if let Some(r) = role {
                pg_admin_on(Some(&name), &format!("GRANT ALL ON SCHEMA public TO \"{r}\"")).await.expect("grant");
            }
            (pg_url(&name, role), Some(name))
        }
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut config = test_config(&url, keys_dir.clone(), port);
    tweak(&mut config);
    let clock = Clock::manual(real_now());
    let app = keyway::build_with_listener(config.clone(), clock.clone(), listener).await.expect("build app");
    let state = app.state.clone();
    let demo = demo::ensure(&state.store, &config, clock.now()).await.expect("demo data");
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client");
    TestApp {
        base: config.issuer.clone(),
        state,
        clock,
        demo,
        client,
        db,
        _tmp: tmp,
        pg_database,
        pg_role: role.map(str::to_string),
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(name) = self.pg_database.take() {
            let role = self.pg_role.take();
            // Drop runs outside async context: a short-lived runtime on its own thread drops the database.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
                rt.block_on(async move {
                    let _ = pg_admin(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
                    if let Some(r) = role {
                        let _ = pg_admin(&format!("DROP ROLE IF EXISTS \"{r}\"")).await;
                    }
                });
            })
            .join();
        }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// HMAC headers for the demo API key at the app's current time.
    pub fn signed_headers(&self) -> (String, String) {
        self.signed_headers_with(&self.demo.api_key, &self.demo.shared_key, self.clock.now())
    }

    pub fn signed_headers_with(&self, api_key: &str, shared_key: &str, at: i64) -> (String, String) {
        let date = http_date(at);
        let sig = compute_signature(shared_key, &date);
        (date, format!(r#"algorithm="hmac-sha256",headers="date",signature="{sig}",apikey="{api_key}""#))
    }

    /// A signed License API GET (`path_and_query` starts with `/api/v4/`).
    pub async fn signed_get(&self, path_and_query: &str) -> reqwest::Response {
        let (date, auth) = self.signed_headers();
        self.client
            .get(self.url(path_and_query))
            .header("Date", date)
            .header("Authorization", auth)
            .header("Content-Type", "application/json")
            .send()
            .await
            .expect("request")
    }

    pub async fn signed_post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        let (date, auth) = self.signed_headers();
        self.client
            .post(self.url(path))
            .header("Date", date)
            .header("Authorization", auth)
            .json(body)
            .send()
            .await
            .expect("request")
    }
}

/// Asserts a License API error: status, `code`, a message, the documented body shape and a valid signature.
pub async fn assert_license_error(app: &TestApp, res: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status, "status for {code}");
    let sig = res.headers().get("LicenseSignature").map(|v| v.to_str().expect("ascii").to_string());
    let bytes = res.bytes().await.expect("body");
    let body: serde_json::Value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("JSON body, got {}", String::from_utf8_lossy(&bytes)));
    assert_eq!(body["code"], code, "body {body}");
    assert_eq!(body["status"], status);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    verify_license_signature(app, &bytes, sig.as_deref().expect("LicenseSignature header on errors too"));
    body
}

/// Checks `LicenseSignature` against the license public key, as the Python SDK does (over the raw bytes).
pub fn verify_license_signature(app: &TestApp, body: &[u8], sig_b64: &str) {
    use base64::Engine;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    let key = rsa::RsaPublicKey::from_public_key_pem(&app.demo.license_public_key_pem).expect("pem");
    let verifying = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key);
    let sig_bytes = base64::engine::general_purpose::STANDARD.decode(sig_b64).expect("base64 signature");
    let sig = rsa::pkcs1v15::Signature::try_from(sig_bytes.as_slice()).expect("signature");
    verifying.verify(body, &sig).expect("LicenseSignature verifies");
}

/// Runs each named `async fn(TestApp)` on SQLite and on PostgreSQL: `dual!(a, b)` makes the tests `a::sqlite`,
/// `a::postgres`, `b::sqlite`, … (the functions stay plain functions, so rustfmt and the IDE see them).
#[macro_export]
macro_rules! dual {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::spawn_app($crate::helpers::Db::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::spawn_app($crate::helpers::Db::Postgres).await).await
            }
        }
    )* };
}

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The value of a hidden input in an HTML page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#x27;", "'")
            .replace("&#39;", "'"),
    )
}

impl TestApp {
    pub fn authorize_url(&self, extra: &str) -> String {
        format!(
            "{}/oauth2/authorize?client_id={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&\
                customer_account_code=demo-customer&{extra}",
            self.base, self.demo.client_id
        )
    }

    /// GET the authorize URL and expect the login page; returns its HTML.
    pub async fn login_page(&self, authorize_url: &str) -> String {
        let res = self.client.get(authorize_url).send().await.expect("authorize");
        assert_eq!(res.status(), 200, "expected the login page");
        res.text().await.expect("html")
    }

    /// Posts the login form of `page` with the given credentials; returns the response (303 on success).
    pub async fn submit_login(&self, page: &str, email: &str, password: &str) -> reqwest::Response {
        let form = [
            ("csrf_token", hidden(page, "csrf_token").expect("csrf_token")),
            ("authz", hidden(page, "authz").expect("authz")),
            ("email", email.to_string()),
            ("password", password.to_string()),
        ];
        self.client.post(self.url("/login")).form(&form).send().await.expect("login")
    }

    /// Signs in as the demo user through the hosted page and returns the redirect Location.
    pub async fn login(&self, authorize_url: &str) -> String {
        let page = self.login_page(authorize_url).await;
        let res = self.submit_login(&page, &self.demo.user_email, &self.demo.user_password).await;
        assert_eq!(res.status(), 303, "login should redirect");
        res.headers()["location"].to_str().unwrap().to_string()
    }

    /// A code for the demo client with PKCE (scope as given).
    pub async fn code(&self, scope: &str) -> String {
        let loc = self
            .login(&self.authorize_url(&format!(
                "response_type=code&scope={scope}&state=s1&nonce=n1&\
            code_challenge={CHALLENGE}&code_challenge_method=S256"
            )))
            .await;
        query_param(&loc, "code").expect("code in redirect")
    }

    /// Redeems a code from `code()` / `next_code()` at the token endpoint: the token response.
    pub async fn redeem(&self, code: &str) -> serde_json::Value {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "http://127.0.0.1:8765/callback"),
            ("code_verifier", VERIFIER),
        ];
        let res = self.token(&form).await;
        assert_eq!(res.status(), 200, "code redemption");
        res.json().await.expect("token response")
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url("/oauth2/token"))
            .basic_auth(&self.demo.client_id, Some(&self.demo.client_secret))
            .form(form)
            .send()
            .await
            .expect("token")
    }
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let found = u.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    found
}

pub fn fragment_params(url: &str) -> std::collections::HashMap<String, String> {
    let frag = url.split_once('#').map(|x| x.1).unwrap_or("");
    url::form_urlencoded::parse(frag.as_bytes()).into_owned().collect()
}

/// Decodes a JWT payload without verifying (tests verify separately).
pub fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("b64"))
        .expect("json")
}

impl TestApp {
    /// Another code for the demo user, reusing the browser session (no login page the second time).
    pub async fn next_code(&self) -> String {
        let res = self
            .client
            .get(self.authorize_url(&format!(
                "response_type=code&scope=openid%20email&code_challenge={CHALLENGE}&code_challenge_method=S256"
            )))
            .send()
            .await
            .expect("authorize");
        if res.status() == 200 {
            return self.code("openid%20email").await;
        }
        query_param(res.headers()["location"].to_str().unwrap(), "code").expect("code")
    }

    /// An id_token from the `token` response type (implicit, Cognito style).
    pub async fn implicit_id_token(&self) -> String {
        let url = self.authorize_url("response_type=token&scope=openid%20email%20profile&state=t");
        let res = self.client.get(&url).send().await.expect("authorize");
        let loc = if res.status() == 200 {
            self.login(&url).await
        } else {
            res.headers()["location"].to_str().unwrap().to_string()
        };
        fragment_params(&loc).remove("id_token").expect("id_token")
    }

    pub async fn activate(&self, body: serde_json::Value) -> reqwest::Response {
        self.signed_post_json("/api/v4/activate_license", &body).await
    }
}

/// Verifies the body's `license_signature` as the Node SDK does.
pub fn verify_body_license_signature(app: &TestApp, body: &serde_json::Value, hardware_id: &str, id: &str) {
    let validity = body["validity_period"].as_str().unwrap_or("");
    let text = format!("{hardware_id}#{}#{validity}", id.split('|').next().unwrap()).to_lowercase();
    verify_license_signature(app, text.as_bytes(), body["license_signature"].as_str().expect("license_signature"));
}

impl TestApp {
    /// A management token of the demo organization (or another one).
    pub async fn management_token(&self, org_name: &str) -> String {
        let now = self.clock.now();
        let org = match self.state.store.find_organization(org_name).await.unwrap() {
            Some(o) => o,
            None => self.state.store.create_organization(org_name, now).await.unwrap(),
        };
        let token = format!("kwm_{}", keyway::crypto::secrets::random_token());
        self.state
            .store
            .create_management_token(&org.id, "test", &keyway::crypto::secrets::hash_token(&token), now)
            .await
            .unwrap();
        token
    }

    /// A confidential product in the demo organization, with secret `<code>-secret-0123456789`.
    pub async fn product(&self, code: &str, linked: &[&str]) -> keyway::model::OAuthClient {
        let org = self.state.store.find_organization("Demo Vendor").await.unwrap().unwrap();
        let spec = keyway::admin::ProductSpec {
            code: code.into(),
            client_id: Some(code.into()),
            client_secret: Some(keyway::crypto::secrets::Secret::new(format!("{code}-secret-0123456789"))),
            redirect_uris: vec![self.demo.redirect_uri.clone()],
            linked_products: linked.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        keyway::admin::create_product(
            &self.state.store,
            keyway::cli::manage::token_defaults(&self.state.config),
            &org.id,
            spec,
            self.clock.now(),
        )
        .await
        .unwrap()
        .0
    }

    pub async fn client_token(&self, client_id: &str, secret: &str) -> String {
        let tok: serde_json::Value = self
            .client
            .post(self.url("/oauth2/token"))
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tok["access_token"].as_str().expect("access_token").to_string()
    }

    /// A client with its own cookie jar (another browser).
    pub fn new_browser(&self) -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap()
    }
}
