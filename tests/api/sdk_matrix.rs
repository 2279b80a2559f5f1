//! The official Python SDK at the versions apps in the field ship (docs/SDK-FIELDS.md), each in its own virtual
//! environment from `.ci/install-deps.sh`, against the real server (`tests/sdk/python_sdk_matrix.py`); and the
//! License API rules those versions depend on: a code activation without `redirect_uri` is redeemed against the
//! redirect URI the code was issued for, a given one must match, PKCE is still checked, and the token endpoint keeps
//! RFC 6749 §4.1.3.
use serde_json::{json, Value};

use crate::dual;
use crate::external::{repo_path, run_script};
use crate::helpers::{assert_license_error, query_param, TestApp, CHALLENGE, VERIFIER};

const CB: &str = "http://127.0.0.1:8765/callback";

/// The Python of one SDK version's venv; missing means `.ci/install-deps.sh` was not run.
fn venv_python(version: &str) -> String {
    let python = repo_path(&format!("tests/sdk/.venvs/{version}/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run .ci/install-deps.sh (it makes one venv per SDK version)",
        python.display()
    );
    python.display().to_string()
}

/// Runs every flow the installed SDK version supports; checks the version, the flows that ran and the transport.
async fn matrix(app: &TestApp, version: &str, transport: &str, flows: &[&str]) -> Value {
    let dir = tempfile::tempdir().expect("tmp");
    let pem = dir.path().join("license_public.pem");
    std::fs::write(&pem, &app.demo.license_public_key_pem).expect("pem");
    let python = venv_python(version);
    let r = run_script(
        app,
        &python,
        "tests/sdk/python_sdk_matrix.py",
        "matrix",
        &[("KW_PUBLIC_KEY_FILE", pem.display().to_string())],
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["sdk_version"], version, "{r}");
    assert_eq!(r["transport"], transport, "{r}");
    assert_eq!(r["flows"], json!(flows), "{r}");
    // Every response the SDK read was signed and verified with keyway's license key, and the getters ran.
    assert!(r["signature_verifications"].as_u64().unwrap_or(0) >= flows.len() as u64, "{r}");
    assert!(r["getter_reads"].as_u64().unwrap_or(0) > 0, "{r}");
    if transport == "https" {
        assert!(r["tls_connections"].as_u64().unwrap_or(0) > 0, "{r}");
    }
    r
}

/// Before 3.12 the SDK cannot send redirect_uri; 2.x and 3.0 have no get_user_licenses at all.
const FLOWS_2_X: &[&str] = &["code", "id_token", "password", "error(bogus code)"];
const FLOWS_3_5: &[&str] = &["code", "id_token", "password", "user_licenses(credentials)", "error(bogus code)"];
const FLOWS_3_12: &[&str] = &[
    "code",
    "code+redirect_uri",
    "id_token",
    "password",
    "user_licenses(code)",
    "user_licenses(code+redirect_uri)",
    "user_licenses(credentials)",
    "error(bogus code)",
    "error(other redirect_uri)",
];

async fn python_sdk_2_0_1_over_tls(app: TestApp) {
    matrix(&app, "2.0.1", "https", FLOWS_2_X).await;
}

async fn python_sdk_3_0_0_over_tls(app: TestApp) {
    matrix(&app, "3.0.0", "https", FLOWS_2_X).await;
}

async fn python_sdk_3_5_0(app: TestApp) {
    matrix(&app, "3.5.0", "http", FLOWS_3_5).await;
}

async fn python_sdk_3_8_0(app: TestApp) {
    matrix(&app, "3.8.0", "http", FLOWS_3_5).await;
}

async fn python_sdk_3_12_0(app: TestApp) {
    matrix(&app, "3.12.0", "http", FLOWS_3_12).await;
}

async fn python_sdk_4_0_0(app: TestApp) {
    matrix(&app, "4.0.0", "http", FLOWS_3_12).await;
}

dual!(
    python_sdk_2_0_1_over_tls,
    python_sdk_3_0_0_over_tls,
    python_sdk_3_5_0,
    python_sdk_3_8_0,
    python_sdk_3_12_0,
    python_sdk_4_0_0
);

/// A code for the demo client from an authorization request with `extra` (reusing the browser session).
async fn code_with(app: &TestApp, extra: &str) -> String {
    let url = app.authorize_url(&format!("response_type=code&scope=openid%20email&{extra}"));
    let res = app.client.get(&url).send().await.expect("authorize");
    let location = if res.status() == 200 {
        app.login(&url).await
    } else {
        res.headers()["location"].to_str().unwrap().to_string()
    };
    query_param(&location, "code").expect("code in the redirect")
}

fn activation(code: &str, hardware_id: &str) -> Value {
    json!({"product": "demo-app", "hardware_id": hardware_id, "customer_account_code": "demo-customer", "code": code})
}

fn user_licenses_path(query: &str) -> String {
    format!("/api/v4/user_licenses?product=demo-app&customer_account_code=demo-customer&{query}")
}

async fn code_without_redirect_uri_is_redeemed_against_the_issued_one(app: TestApp) {
    // As SDK 3.x before 3.12 sends it: no redirect_uri (the code was issued for CB), no PKCE.
    let code = code_with(&app, "state=s").await;
    let res = app.activate(activation(&code, "hw-no-uri")).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["email"], "demo@example.com");
    assert_eq!(body["hardware_id"], "hw-no-uri");
    // Still single use.
    assert_license_error(&app, app.activate(activation(&code, "hw-no-uri-2")).await, 400, "invalid_code").await;

    // With PKCE: the verifier is still required and checked, the redirect_uri still optional.
    let code = code_with(&app, &format!("code_challenge={CHALLENGE}&code_challenge_method=S256")).await;
    let mut body = activation(&code, "hw-pkce");
    body["code_verifier"] = json!(VERIFIER);
    assert_eq!(app.activate(body).await.status(), 200);

    // user_licenses redeems the same way.
    let code = code_with(&app, "state=u").await;
    let res = app.signed_get(&user_licenses_path(&format!("code={code}"))).await;
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.unwrap();
    assert_eq!(list[0]["user"]["email"], "demo@example.com", "{list}");
    assert_eq!(list[0]["license"]["id"], app.demo.license_id, "{list}");
}

async fn code_sent_with_another_redirect_uri_is_refused(app: TestApp) {
    let code = code_with(&app, "state=s").await;
    for other in ["http://127.0.0.1:8765/other", "http://127.0.0.1:8765/callback/", "http://127.0.0.1:8766/callback"] {
        let mut body = activation(&code, "hw-other");
        body["redirect_uri"] = json!(other);
        assert_license_error(&app, app.activate(body).await, 400, "invalid_code").await;
        let path = user_licenses_path(&format!("code={code}&redirect_uri={}", keyway::encoding::component(other)));
        assert_license_error(&app, app.signed_get(&path).await, 400, "invalid_code").await;
    }
    assert!(
        app.state.store.find_activation(app.demo.license_id, "hw-other").await.unwrap().is_none(),
        "nothing was activated"
    );
    // The exact redirect_uri is accepted (the refusals did not consume the code).
    let mut body = activation(&code, "hw-other");
    body["redirect_uri"] = json!(CB);
    assert_eq!(app.activate(body).await.status(), 200);
}

async fn code_with_pkce_challenge_needs_the_verifier(app: TestApp) {
    let code = code_with(&app, &format!("code_challenge={CHALLENGE}&code_challenge_method=S256")).await;
    // Without the verifier: with and without redirect_uri, on both endpoints.
    assert_license_error(&app, app.activate(activation(&code, "hw-pkce")).await, 400, "invalid_code").await;
    let mut body = activation(&code, "hw-pkce");
    body["redirect_uri"] = json!(CB);
    assert_license_error(&app, app.activate(body).await, 400, "invalid_code").await;
    assert_license_error(&app, app.signed_get(&user_licenses_path(&format!("code={code}"))).await, 400, "invalid_code")
        .await;
    // A wrong verifier.
    let mut body = activation(&code, "hw-pkce");
    body["code_verifier"] = json!("wrong-verifier-wrong-verifier-wrong-verifier-xx");
    assert_license_error(&app, app.activate(body).await, 400, "invalid_code").await;
    assert!(
        app.state.store.find_activation(app.demo.license_id, "hw-pkce").await.unwrap().is_none(),
        "nothing was activated"
    );
}

async fn token_endpoint_still_requires_the_redirect_uri(app: TestApp) {
    // RFC 6749 §4.1.3: the authorization request had a redirect_uri, so the token request must repeat it.
    let code = code_with(&app, "state=t").await;
    let res = app.token(&[("grant_type", "authorization_code"), ("code", &code)]).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "invalid_grant", "{err}");
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:8765/other"),
        ])
        .await;
    assert_eq!(res.status(), 400);
    let res = app.token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]).await;
    assert_eq!(res.status(), 200, "the code was valid: only the missing redirect_uri was refused");
}

async fn user_licenses_with_the_users_credentials(app: TestApp) {
    // Python SDK 3.5–3.8: get_user_licenses(LicenseID.from_user(e-mail, password)), as query parameters.
    let pw = keyway::encoding::component(&app.demo.user_password);
    let res = app
        .signed_get(&format!("/api/v4/user_licenses?product=demo-app&username=demo%40example.com&password={pw}"))
        .await;
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["license"]["id"], app.demo.license_id);
    assert_eq!(list[0]["user"]["email"], "demo@example.com");
    assert_eq!(list[0]["license"].get("borrowed_until"), Some(&Value::Null), "{list}");
    let res = app
        .signed_get("/api/v4/user_licenses?product=demo-app&username=demo%40example.com&password=wrong-password")
        .await;
    // The one password check of every surface: counted toward the lockout, answered alike for unknown users.
    assert_license_error(&app, res, 400, "invalid_credentials").await;
    let res = app.signed_get(&format!("/api/v4/user_licenses?username=demo%40example.com&password={pw}")).await;
    assert_license_error(&app, res, 400, "missing_params").await;
    let res =
        app.signed_get(&format!("/api/v4/user_licenses?product=nope&username=demo%40example.com&password={pw}")).await;
    assert_license_error(&app, res, 400, "unknown_product").await;
    // Without credentials or a code: the SSO fields are named as missing.
    let res = app.signed_get("/api/v4/user_licenses?product=demo-app&username=demo%40example.com").await;
    assert_license_error(&app, res, 400, "missing_params").await;
}

async fn check_response_has_the_fields_sdk_3_reads(app: TestApp) {
    let code = code_with(&app, "state=f").await;
    assert_eq!(app.activate(activation(&code, "hw-fields")).await.status(), 200);
    // As SDK 3.5+ checks an SSO activation: by license_id (and the license_key the activation returned).
    let res = app
        .signed_get(&format!(
            "/api/v4/check_license?product=demo-app&hardware_id=hw-fields&license_id={}",
            app.demo.license_id
        ))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let sdk = keyway::license::response::sdk_fields();
    for (k, v) in sdk.as_object().unwrap() {
        assert_eq!(body.get(k), Some(v), "check response field {k}: {body}");
    }
}

dual!(
    code_without_redirect_uri_is_redeemed_against_the_issued_one,
    code_sent_with_another_redirect_uri_is_refused,
    code_with_pkce_challenge_needs_the_verifier,
    token_endpoint_still_requires_the_redirect_uri,
    user_licenses_with_the_users_credentials,
    check_response_has_the_fields_sdk_3_reads
);
