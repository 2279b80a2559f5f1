//! SPEC §3.1 request authentication: every error code, over HTTP.
use crate::dual;
use crate::helpers::{assert_license_error, TestApp};

const SSO: &str = "/api/v4/sso_url?product=demo-app&customer_account_code=demo-customer";

async fn get_with(app: &TestApp, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.client.get(app.url(SSO));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request")
}

async fn correctly_signed_request_passes(app: TestApp) {
    let res = app.signed_get(SSO).await;
    assert_eq!(res.status(), 200);
    // Python SDK spelling: apiKey, no spaces.
    let (date, auth) = app.signed_headers();
    let res = get_with(&app, &[("Date", &date), ("Authorization", &auth.replace("apikey=", "apiKey="))]).await;
    assert_eq!(res.status(), 200);
    // Spaces after commas are accepted.
    let res = get_with(&app, &[("Date", &date), ("Authorization", &auth.replace(",", ", "))]).await;
    assert_eq!(res.status(), 200);
}

async fn missing_headers(app: TestApp) {
    let (date, auth) = app.signed_headers();
    assert_license_error(&app, get_with(&app, &[("Authorization", &auth)]).await, 400, "missing_headers").await;
    assert_license_error(&app, get_with(&app, &[("Date", &date)]).await, 400, "missing_headers").await;
    assert_license_error(&app, get_with(&app, &[]).await, 400, "missing_headers").await;
}

async fn duplicated_or_non_ascii_headers(app: TestApp) {
    let (date, auth) = app.signed_headers();
    let res = get_with(&app, &[("Date", &date), ("Date", &date), ("Authorization", &auth)]).await;
    assert_license_error(&app, res, 400, "missing_headers").await;
    let res = app
        .client
        .get(app.url(SSO))
        .header("Date", reqwest::header::HeaderValue::from_bytes(b"Tue, 07 Jun 2011 \xff GMT").unwrap())
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_license_error(&app, res, 400, "missing_headers").await;
}

async fn missing_authorization_params_are_listed(app: TestApp) {
    let (date, _) = app.signed_headers();
    let res = get_with(&app, &[("Date", &date), ("Authorization", r#"algorithm="hmac-sha256",headers="date""#)]).await;
    let body = assert_license_error(&app, res, 400, "authorization_missing_params").await;
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("signature") && msg.contains("apikey"), "{msg}");
    let res = get_with(&app, &[("Date", &date), ("Authorization", "complete garbage ;;; == ,,,")]).await;
    assert_license_error(&app, res, 400, "authorization_missing_params").await;
}

async fn invalid_headers_param(app: TestApp) {
    let (date, auth) = app.signed_headers();
    let res = get_with(
        &app,
        &[("Date", &date), ("Authorization", &auth.replace(r#"headers="date""#, r#"headers="date host""#))],
    )
    .await;
    assert_license_error(&app, res, 400, "authorization_invalid_headers").await;
}

async fn hmac_required(app: TestApp) {
    let (date, auth) = app.signed_headers();
    let res = get_with(&app, &[("Date", &date), ("Authorization", &auth.replace("hmac-sha256", "hmac-sha1"))]).await;
    assert_license_error(&app, res, 400, "hmac_required").await;
}

async fn stale_future_and_garbage_dates(app: TestApp) {
    let now = app.clock.now();
    for at in [now - 16 * 60, now + 16 * 60] {
        let (date, auth) = app.signed_headers_with(&app.demo.api_key, &app.demo.shared_key, at);
        assert_license_error(
            &app,
            get_with(&app, &[("Date", &date), ("Authorization", &auth)]).await,
            400,
            "date_header_diff",
        )
        .await;
    }
    // Inside the 15-minute window both ways is fine.
    for at in [now - 14 * 60, now + 14 * 60] {
        let (date, auth) = app.signed_headers_with(&app.demo.api_key, &app.demo.shared_key, at);
        assert_eq!(get_with(&app, &[("Date", &date), ("Authorization", &auth)]).await.status(), 200);
    }
    let (_, auth) = app.signed_headers();
    assert_license_error(
        &app,
        get_with(&app, &[("Date", "yesterday"), ("Authorization", &auth)]).await,
        400,
        "date_header_diff",
    )
    .await;
}

async fn unknown_and_revoked_api_keys(app: TestApp) {
    let now = app.clock.now();
    let (date, auth) = app.signed_headers_with("00000000-0000-0000-0000-000000000000", &app.demo.shared_key, now);
    assert_license_error(
        &app,
        get_with(&app, &[("Date", &date), ("Authorization", &auth)]).await,
        400,
        "invalid_api_key",
    )
    .await;
    app.state.store.revoke_api_key(&app.demo.api_key).await.unwrap();
    let (date, auth) = app.signed_headers();
    assert_license_error(
        &app,
        get_with(&app, &[("Date", &date), ("Authorization", &auth)]).await,
        400,
        "invalid_api_key",
    )
    .await;
}

async fn signature_mismatch(app: TestApp) {
    let (date, auth) = app.signed_headers_with(&app.demo.api_key, "not-the-shared-key", app.clock.now());
    assert_license_error(
        &app,
        get_with(&app, &[("Date", &date), ("Authorization", &auth)]).await,
        400,
        "signature_mismatch",
    )
    .await;
    // Signature computed for another Date.
    let (_, auth) = app.signed_headers_with(&app.demo.api_key, &app.demo.shared_key, app.clock.now() - 1);
    let (date, _) = app.signed_headers();
    assert_license_error(
        &app,
        get_with(&app, &[("Date", &date), ("Authorization", &auth)]).await,
        400,
        "signature_mismatch",
    )
    .await;
}

async fn bearer_garbage_is_malformed(app: TestApp) {
    let (date, _) = app.signed_headers();
    let res = get_with(&app, &[("Date", &date), ("Authorization", "Bearer not.a.jwt")]).await;
    assert_license_error(&app, res, 401, "oauth_token_malformed").await;
}

async fn unknown_paths_are_json_errors(app: TestApp) {
    let res = app.signed_get("/api/v4/nope").await;
    assert_license_error(&app, res, 404, "not_found").await;
}

dual!(
    correctly_signed_request_passes,
    missing_headers,
    duplicated_or_non_ascii_headers,
    missing_authorization_params_are_listed,
    invalid_headers_param,
    hmac_required,
    stale_future_and_garbage_dates,
    unknown_and_revoked_api_keys,
    signature_mismatch,
    bearer_garbage_is_malformed,
    unknown_paths_are_json_errors
);
