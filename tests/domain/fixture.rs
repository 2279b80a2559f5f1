//! `Fixture`: a migrated store with one organization, a confidential and a public product, a customer account, a
//! user with a known password and a 3-seat license assigned to that user. SQLite: a temp file; PostgreSQL: a fresh
//! schema of its own (dropped afterwards) in the database `keyway_domain_tests` on 127.0.0.1:5432
//! (`KEYWAY_TEST_PG` to point elsewhere). A schema isolates the test's tables like a database of its own, but takes
//! milliseconds to create and drop where `CREATE DATABASE` + `DROP DATABASE` take ~0.6 s (each forces a checkpoint):
//! that keeps these tests well under a second on PostgreSQL too.
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use keyway::admin::{self, LicenseSpec, ProductSpec, TokenDefaults, UserSpec};
use keyway::auth::password::{Lockout, PasswordCheck};
use keyway::crypto::keys::{KeyRing, SigningAlg};
use keyway::crypto::password::{PasswordHasherConfig, Passwords};
use keyway::crypto::secrets::Secret;
use keyway::model::{CustomerAccount, License, LicenseUser, OAuthClient};
use keyway::oauth::tokens::{Signer, Verifier};
use keyway::store::grants::RefreshRecord;
use keyway::store::throttle::Limits;
use keyway::store::Store;
use sqlx::Connection;

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub const ISSUER: &str = "https://keyway.test";
pub const REDIRECT_URI: &str = "https://app.example/callback";
pub const PASSWORD: &str = "correct horse battery";
pub const EMAIL: &str = "user@example.com";
pub const SEATS: i32 = 3;

const PG_DATABASE: &str = "keyway_domain_tests";

pub struct Fixture {
    pub store: Store,
    pub now: i64,
    pub keys: Arc<KeyRing>,
    pub passwords: Passwords,
    pub lockout: Lockout,
    /// Confidential product (client secret `client-secret-0123456789`).
    pub product: OAuthClient,
    /// Public product (no secret: PKCE required at the authorization endpoint).
    pub public: OAuthClient,
    pub account: Arc<CustomerAccount>,
    pub user: LicenseUser,
    pub license: License,
    pub organization_id: String,
    _tmp: tempfile::TempDir,
    pg_schema: Option<String>,
}

fn pg_admin_url() -> String {
    std::env::var("KEYWAY_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// The URL of another database on the admin URL's server.
fn pg_url(database: &str) -> String {
    let base = pg_admin_url();
    let (prefix, _) = base.rsplit_once('/').expect("KEYWAY_TEST_PG names a database");
    format!("{prefix}/{database}")
}

async fn pg_run(url: &str, sql: &str) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query(sql).execute(&mut conn).await?;
    conn.close().await
}

/// A new schema in the shared test database (created by the first test that needs it); the URL whose connections
/// use it (`search_path`, so the migrations and every statement land there).
async fn pg_schema() -> (String, String) {
    if let Err(e) = pg_run(&pg_admin_url(), &format!("CREATE DATABASE {PG_DATABASE}")).await {
        // 42P04 duplicate_database (or 23505 when two tests create it at once): it is there.
        let code = e.as_database_error().and_then(|d| d.code()).map(|c| c.to_string()).unwrap_or_default();
        assert!(code == "42P04" || code == "23505", "PostgreSQL at 127.0.0.1:5432 must be reachable: {e}");
    }
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    pg_run(&pg_url(PG_DATABASE), &format!("CREATE SCHEMA {schema}")).await.expect("create schema");
    (format!("{}?options=-c%20search_path%3D{schema}", pg_url(PG_DATABASE)), schema)
}

/// RSA key generation takes ~0.1 s: one key ring for every run of this binary, kept in the temp directory (a test
/// key, never used outside these tests). Made in a private directory and renamed into place, so concurrent test
/// processes never see half a key.
fn template_keys() -> &'static PathBuf {
    static KEYS: OnceLock<PathBuf> = OnceLock::new();
    KEYS.get_or_init(|| {
        let shared = std::env::temp_dir().join("keyway-domain-test-keys-v1");
        if KeyRing::load(&shared, 1).is_err() {
            let fresh = std::env::temp_dir().join(format!("keyway-domain-test-keys-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&fresh).expect("key dir");
            KeyRing::load_or_create(&fresh, 1, SigningAlg::RS256).expect("keys");
            // Losing the race to another process is fine: its key is as good.
            if std::fs::rename(&fresh, &shared).is_err() {
                let _ = std::fs::remove_dir_all(&fresh);
            }
        }
        shared
    })
}

pub const DEFAULTS: TokenDefaults =
    TokenDefaults { access_token_ttl: 3600, id_token_ttl: 3600, refresh_token_ttl: 86400 };

impl Fixture {
    pub async fn new(db: Db) -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (url, pg_schema) = match db {
            Db::Sqlite => (format!("sqlite://{}/keyway.db", tmp.path().display()), None),
            Db::Postgres => {
                let (url, schema) = pg_schema().await;
                (url, Some(schema))
            }
        };
        let store = Store::open(&url, 16).await.expect("store");
        let now = keyway::clock::system_now();
        let keys = Arc::new(KeyRing::load(template_keys(), now).expect("key ring"));
        // Cheap argon2: the rules are under test, not the cost.
        let hasher = PasswordHasherConfig::new(8, 1, 1).expect("argon2 params");
        let hash = hasher.hash(PASSWORD).expect("hash");
        let passwords = Passwords::start(hasher, 2).expect("password threads");
        let limits = |threshold| Limits { threshold, window: 900, lock_seconds: 300 };
        let lockout = Lockout { untrusted: limits(5), known_device: limits(10) };
        let org = store.create_organization("Vendor", now).await.unwrap();
        let product_spec = |code: &str, secret: Option<&str>| ProductSpec {
            code: code.into(),
            client_id: Some(code.into()),
            client_secret: secret.map(Secret::new),
            public: secret.is_none(),
            redirect_uris: vec![REDIRECT_URI.into()],
            ..Default::default()
        };
        let create = |spec| admin::create_product(&store, DEFAULTS, &org.id, spec, now);
        let product = create(product_spec("app", Some("client-secret-0123456789"))).await.unwrap().0;
        let public = create(product_spec("public-app", None)).await.unwrap().0;
        let account = Arc::new(store.create_customer_account(&org.id, "acme", "Acme", now).await.unwrap());
        let user = admin::create_user(
            &store,
            &account,
            UserSpec {
                email: EMAIL.into(),
                name: "User".into(),
                password_hash: Some(hash),
                external_customer_no: None,
                account_admin: false,
            },
            now,
        )
        .await
        .unwrap();
        let license = admin::create_license(
            &store,
            &product,
            &account,
            LicenseSpec {
                max_activations: SEATS,
                license_type: "perpetual".into(),
                user_emails: vec![EMAIL.into()],
                key: Some("AAAA-BBBB-CCCC-DDDD".into()),
                expires_at: None,
                trial: false,
            },
            now,
        )
        .await
        .unwrap();
        Fixture {
            store,
            now,
            keys,
            passwords,
            lockout,
            product,
            public,
            account,
            user,
            license,
            organization_id: org.id,
            _tmp: tmp,
            pg_schema,
        }
    }

    pub fn signer(&self) -> Signer<'_> {
        Signer { issuer: ISSUER, keys: &self.keys, access_alg: SigningAlg::RS256 }
    }

    pub fn verifier(&self) -> Verifier<'_> {
        Verifier { issuer: ISSUER, keys: &self.keys }
    }

    pub fn password_check(&self) -> PasswordCheck<'_> {
        PasswordCheck { store: &self.store, passwords: &self.passwords, lockout: &self.lockout }
    }

    /// A live refresh token record of the user for the confidential product, in session `sid-1`, created at `now`
    /// and valid for an hour (not stored).
    pub fn refresh_record(&self, id: &str, token_hash: String, grant_id: &str, scope: &str) -> RefreshRecord {
        RefreshRecord {
            id: id.to_string(),
            token_hash,
            grant_id: grant_id.to_string(),
            product_id: self.product.id.clone(),
            license_user_id: self.user.id.clone(),
            session_id: Some("sid-1".into()),
            scope: scope.to_string(),
            auth_time: self.now,
            expires_at: self.now + 3600,
            rotated_at: None,
            revoked_at: None,
            created_at: self.now,
            amr: None,
            idp: None,
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(schema) = self.pg_schema.take() {
            // Drop runs outside async context: a short-lived runtime on its own thread drops the schema.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
                rt.block_on(async move {
                    let _ = pg_run(&pg_url(PG_DATABASE), &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
                });
            })
            .join();
        }
    }
}

/// Runs each named `async fn(Fixture)` on SQLite and on PostgreSQL: `dual_store!(a, b)` makes the tests
/// `a::sqlite`, `a::postgres`, `b::sqlite`, …
#[macro_export]
macro_rules! dual_store {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::fixture::Fixture::new($crate::fixture::Db::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::fixture::Fixture::new($crate::fixture::Db::Postgres).await).await
            }
        }
    )* };
}
