//! Independent clients against the real server: Python authlib as relying party, headless Chromium through the
//! hosted login. Their dependencies come from `.ci/install-deps.sh`; a missing one fails the test loudly.
use serde_json::json;

use crate::dual;
use crate::helpers::TestApp;

pub fn repo_path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Runs a script with the demo credentials in its environment; returns its last stdout line as JSON.
pub async fn run_script(
    app: &TestApp,
    program: &str,
    script: &str,
    scenario: &str,
    extra: &[(&str, String)],
) -> serde_json::Value {
    let mut cmd = tokio::process::Command::new(program);
    cmd.arg(repo_path(script))
        .env("KW_ISSUER", &app.base)
        .env("KW_BASE", &app.base)
        .env("KW_CLIENT_ID", &app.demo.client_id)
        .env("KW_CLIENT_SECRET", &app.demo.client_secret)
        .env("KW_REDIRECT_URI", &app.demo.redirect_uri)
        .env("KW_ACCOUNT", &app.demo.customer_account_code)
        .env("KW_USER_EMAIL", &app.demo.user_email)
        .env("KW_USER_PASSWORD", &app.demo.user_password)
        .env("KW_API_KEY", &app.demo.api_key)
        .env("KW_SHARED_KEY", &app.demo.shared_key)
        .env("KW_PRODUCT", &app.demo.product)
        .env("KW_SCENARIO", scenario)
        .kill_on_drop(true);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(180), cmd.output())
        .await
        .expect("script timed out")
        .expect("script starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} {scenario} failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON summary from {script}:\n{stdout}"));
    serde_json::from_str(last).expect("JSON summary")
}

pub fn artifacts_dir(name: &str) -> String {
    let dir = repo_path("target/test-artifacts").join(name);
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir.display().to_string()
}

async fn authlib_code_pkce_refresh_userinfo_revoke_introspect(app: TestApp) {
    let r = run_script(&app, "python3", "tests/oidc/authlib_rp.py", "code_pkce", &[]).await;
    assert_eq!(r["ok"], true, "{r}");
}

async fn authlib_implicit_flows(app: TestApp) {
    let r = run_script(&app, "python3", "tests/oidc/authlib_rp.py", "implicit", &[]).await;
    assert_eq!(r["ok"], true, "{r}");
}

async fn chromium_walks_sso_url_to_the_redirect_uri(app: TestApp) {
    let res =
        app.signed_get("/api/v4/sso_url?product=demo-app&customer_account_code=demo-customer&state=browser").await;
    let url = res.json::<serde_json::Value>().await.unwrap()["url"].as_str().unwrap().to_string();
    let dir = artifacts_dir(&format!("browser-{:?}", app.db).to_lowercase());
    let r = run_script(
        &app,
        "python3",
        "tests/browser/login_flow.py",
        "login",
        &[("KW_SSO_URL", url), ("KW_ARTIFACTS", dir.clone())],
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    let code = r["code"].as_str().expect("code from the browser");
    assert!(!code.is_empty());
    assert!(std::path::Path::new(&dir).join("login.png").exists(), "screenshot saved");
}

async fn chromium_german_login_page(app: TestApp) {
    let url = app.authorize_url("response_type=code&scope=openid");
    let dir = artifacts_dir(&format!("browser-de-{:?}", app.db).to_lowercase());
    let r = run_script(
        &app,
        "python3",
        "tests/browser/login_flow.py",
        "login",
        &[("KW_SSO_URL", url), ("KW_ARTIFACTS", dir), ("KW_LANG", "de".into())],
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
}

/// Issue 12 item 10 with the library that found it: openid-client v6 (tests/oidc) signs in with code + PKCE, is
/// signed in silently the second time, and `max_age=0` right after (same second) shows the login form again.
async fn openid_client_max_age_zero_forces_a_fresh_login(app: TestApp) {
    let r = run_script(&app, "node", "tests/oidc/openid_client_rp.mjs", "max_age", &[]).await;
    assert_eq!(r["first_login_form"], true, "{r}");
    assert_eq!(r["second_login_form"], false, "the session answers a plain request: {r}");
    assert_eq!(r["max_age_0_login_form"], true, "max_age=0 is prompt=login: {r}");
    assert_eq!((&r["same_sub"], &r["auth_time_present"]), (&json!(true), &json!(true)), "{r}");
}

dual!(
    authlib_code_pkce_refresh_userinfo_revoke_introspect,
    authlib_implicit_flows,
    chromium_walks_sso_url_to_the_redirect_uri,
    chromium_german_login_page,
    openid_client_max_age_zero_forces_a_fresh_login
);

async fn sdk(app: &TestApp, program: &str, script: &str, scenario: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tmp");
    let pem = dir.path().join("license_public.pem");
    std::fs::write(&pem, &app.demo.license_public_key_pem).expect("pem");
    run_script(app, program, script, scenario, &[("KW_PUBLIC_KEY_FILE", pem.display().to_string())]).await
}

async fn python_sdk_code_activation_check_deactivate(app: TestApp) {
    let r = sdk(&app, "python3", "tests/sdk/python_sdk_flow.py", "code").await;
    assert_eq!(r["ok"], true, "{r}");
}

async fn python_sdk_token_activation(app: TestApp) {
    let r = sdk(&app, "python3", "tests/sdk/python_sdk_flow.py", "token").await;
    assert_eq!(r["ok"], true, "{r}");
}

async fn python_sdk_user_licenses_and_errors(app: TestApp) {
    let r = sdk(&app, "python3", "tests/sdk/python_sdk_flow.py", "user_licenses").await;
    assert_eq!(r["ok"], true, "{r}");
    let r = sdk(&app, "python3", "tests/sdk/python_sdk_flow.py", "error").await;
    assert_eq!(r["ok"], true, "{r}");
}

async fn node_sdk_code_activation(app: TestApp) {
    let r = sdk(&app, "node", "tests/sdk/node_sdk_flow.mjs", "code").await;
    assert_eq!(r["ok"], true, "{r}");
    let r = sdk(&app, "node", "tests/sdk/node_sdk_flow.mjs", "token").await;
    assert_eq!(r["ok"], true, "{r}");
}

dual!(
    python_sdk_code_activation_check_deactivate,
    python_sdk_token_activation,
    python_sdk_user_licenses_and_errors,
    node_sdk_code_activation
);

async fn chromium_follows_a_nonce_link_into_the_portal(app: TestApp) {
    let token = app.management_token("Demo Vendor").await;
    let b: serde_json::Value = app
        .client
        .post(app.url("/api/v1/sso"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"customer_account_code": "demo-customer", "email": "demo@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dir = artifacts_dir(&format!("portal-{:?}", app.db).to_lowercase());
    let r = run_script(
        &app,
        "python3",
        "tests/browser/login_flow.py",
        "portal",
        &[("KW_SSO_URL", b["url"].as_str().unwrap().to_string()), ("KW_ARTIFACTS", dir.clone())],
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(std::path::Path::new(&dir).join("portal.png").exists());
}

dual!(chromium_follows_a_nonce_link_into_the_portal);

/// The same authlib scenarios with `access_token_signing_alg = "ES256"`: joserfc verifies the ES256 access tokens
/// against the P-256 key in the JWKS and the RS256 id_tokens (at_hash included) against the RSA key.
mod authlib_with_es256_access_tokens {
    use super::run_script;
    use crate::helpers::{spawn_app_with, Db};
    use keyway::crypto::keys::SigningAlg;

    async fn both_scenarios(db: Db) {
        let app = spawn_app_with(db, |c| c.access_token_signing_alg = SigningAlg::ES256).await;
        for scenario in ["code_pkce", "implicit"] {
            let r = run_script(
                &app,
                "python3",
                "tests/oidc/authlib_rp.py",
                scenario,
                &[("KW_ACCESS_TOKEN_ALG", "ES256".into())],
            )
            .await;
            assert_eq!(r["ok"], true, "{scenario}: {r}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        both_scenarios(Db::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        both_scenarios(Db::Postgres).await
    }
}
