//! SPEC §3.3 `GET /api/v4/sso_url`.
use crate::dual;
use crate::helpers::{assert_license_error, verify_license_signature, TestApp};

async fn builds_the_hosted_login_url(app: TestApp) {
    let res = app.signed_get("/api/v4/sso_url?product=demo-app&customer_account_code=demo-customer").await;
    assert_eq!(res.status(), 200);
    let sig = res.headers().get("LicenseSignature").expect("signed").to_str().unwrap().to_string();
    let bytes = res.bytes().await.unwrap();
    verify_license_signature(&app, &bytes, &sig);
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    // Compact JSON, as the Node SDK re-serialises and verifies.
    assert_eq!(serde_json::to_vec(&body).unwrap().len(), bytes.len());
    let url = body["url"].as_str().unwrap();
    let expected = format!(
        "{}/oauth2/authorize?client_id=demo-app&response_type=code&\
            redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&scope=openid%20email%20profile&\
            customer_account_code=demo-customer",
        app.base
    );
    assert_eq!(url, expected);
    assert_eq!(body["openid_configuration"]["issuer"], app.base.as_str());
    assert_eq!(body["openid_configuration"]["token_endpoint"], format!("{}/oauth2/token", app.base));
    assert_eq!(body["openid_configuration"]["introspection_endpoint"], format!("{}/oauth2/introspect", app.base));
    assert_eq!(body["openid_configuration"]["end_session_endpoint"], format!("{}/oauth2/logout", app.base));
    assert_eq!(body["alternate_urls"], serde_json::json!([]));
}

async fn token_response_type_and_extensions(app: TestApp) {
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let res = app
        .signed_get(&format!(
            "/api/v4/sso_url?product=demo-app&customer_account_code=demo-customer&response_type=token&\
            redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&state=st%201&nonce=n-1&code_challenge={challenge}&\
            code_challenge_method=S256&login_hint=demo%40example.com"
        ))
        .await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let url = url::Url::parse(body["url"].as_str().unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "token");
    assert_eq!(q["state"], "st 1");
    assert_eq!(q["nonce"], "n-1");
    assert_eq!(q["code_challenge"], challenge);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["login_hint"], "demo@example.com");
    assert_eq!(q["scope"], "openid email profile");
}

async fn documented_errors(app: TestApp) {
    let base = "/api/v4/sso_url?";
    let cases = [
        ("product=nope&customer_account_code=demo-customer", "unknown_product"),
        ("product=demo-app&customer_account_code=nope", "unknown_customer_account"),
        ("customer_account_code=demo-customer", "missing_params"),
        ("", "missing_params"),
        ("product=demo-app&customer_account_code=demo-customer&response_type=id_token", "invalid_response_type"),
        (
            "product=demo-app&customer_account_code=demo-customer&\
            redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
            "invalid_redirect_uri",
        ),
        (
            "product=demo-app&customer_account_code=demo-customer&\
            redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback%2F",
            "invalid_redirect_uri",
        ),
        (
            "product=demo-app&customer_account_code=demo-customer&code_challenge=abc&\
            code_challenge_method=plain",
            "invalid_params",
        ),
        ("product=%ff%fe&customer_account_code=demo-customer", "invalid_params"),
        ("product=demo-app&product=demo-app&customer_account_code=demo-customer", "invalid_params"),
    ];
    for (q, code) in cases {
        let res = app.signed_get(&format!("{base}{q}")).await;
        assert_license_error(&app, res, 400, code).await;
    }
    let body = assert_license_error(&app, app.signed_get("/api/v4/sso_url?x=1").await, 400, "missing_params").await;
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("product") && msg.contains("customer_account_code"), "{msg}");
    let long = "a".repeat(10_000);
    let res = app.signed_get(&format!("{base}product=demo-app&customer_account_code=demo-customer&state={long}")).await;
    assert_license_error(&app, res, 400, "invalid_params").await;
}

async fn products_of_another_organization_are_unknown(app: TestApp) {
    let now = app.clock.now();
    let other = app.state.store.create_organization("Other Vendor", now).await.unwrap();
    app.state.store.create_api_key(&other.id, "other-key", "other-shared", now).await.unwrap();
    let (date, auth) = app.signed_headers_with("other-key", "other-shared", now);
    let res = app
        .client
        .get(app.url("/api/v4/sso_url?product=demo-app&customer_account_code=demo-customer"))
        .header("Date", date)
        .header("Authorization", auth)
        .send()
        .await
        .unwrap();
    assert_license_error(&app, res, 400, "unknown_product").await;
}

dual!(
    builds_the_hosted_login_url,
    token_response_type_and_extensions,
    documented_errors,
    products_of_another_organization_are_unknown
);
