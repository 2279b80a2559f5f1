//! SSO license activation (SPEC §3.4–3.5): codes and id_tokens, seats under concurrency, check/deactivate.
use serde_json::json;

use crate::dual;
use crate::helpers::{
    assert_license_error, verify_body_license_signature, verify_license_signature, TestApp, CHALLENGE, VERIFIER,
};

const CB: &str = "http://127.0.0.1:8765/callback";

fn code_body(code: &str, hw: &str) -> serde_json::Value {
    json!({"product": "demo-app", "hardware_id": hw, "customer_account_code": "demo-customer", "code": code,
           "redirect_uri": CB, "code_verifier": VERIFIER, "os_ver": "Linux \
               6.1", "hostname": "box", "sdk_ver": "4.0.0", "is_vm": false, "vm_info": null})
}

async fn code_activation_check_deactivate(app: TestApp) {
    let code = app.next_code().await;
    let res = app.activate(code_body(&code, "hw-1")).await;
    assert_eq!(res.status(), 200);
    let sig = res.headers()["LicenseSignature"].to_str().unwrap().to_string();
    let bytes = res.bytes().await.unwrap();
    verify_license_signature(&app, &bytes, &sig);
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    for k in [
        "id",
        "license_key",
        "license_type",
        "is_trial",
        "validity_period",
        "is_floating",
        "is_floating_cloud",
        "floating_timeout",
        "max_activations",
        "times_activated",
        "prevent_vm",
        "grace_period",
        "allow_grace_period",
        "start_date",
        "maintenance_period",
        "product_features",
        "custom_fields",
        "customer",
        "company",
        "product_details",
        "metadata",
        "user",
        "license_signature",
    ] {
        assert!(body.get(k).is_some(), "missing {k}");
    }
    assert_eq!(body["user"]["email"], "demo@example.com");
    assert_eq!(body["times_activated"], 1);
    assert_eq!(body["is_floating"], false);
    verify_body_license_signature(&app, &body, "hw-1", "demo@example.com");
    let info = app
        .state
        .store
        .find_activation(body["id"].as_i64().unwrap(), "hw-1")
        .await
        .unwrap()
        .unwrap()
        .device_info
        .unwrap();
    assert!(info.contains("Linux 6.1") && info.contains("4.0.0"));

    // Same device again with a fresh code: idempotent, no second seat.
    let again: serde_json::Value = app.activate(code_body(&app.next_code().await, "hw-1")).await.json().await.unwrap();
    assert_eq!(again["times_activated"], 1);

    let res =
        app.signed_get("/api/v4/check_license?product=demo-app&hardware_id=hw-1&username=demo%40example.com").await;
    assert_eq!(res.status(), 200);
    let check: serde_json::Value = res.json().await.unwrap();
    verify_body_license_signature(&app, &check, "hw-1", "demo@example.com");
    let res = app
        .signed_post_json(
            "/api/v4/deactivate_license",
            &json!({"product": "demo-app", "hardware_id": "hw-1", "username": "demo@example.com"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res =
        app.signed_get("/api/v4/check_license?product=demo-app&hardware_id=hw-1&username=demo%40example.com").await;
    assert_license_error(&app, res, 400, "license_not_active").await;
    assert_eq!(app.state.store.find_license(body["id"].as_i64().unwrap()).await.unwrap().unwrap().times_activated, 0);
    assert_eq!(app.state.store.audit_events(Some("license.activate")).await.unwrap().len(), 2);

    // The code was consumed: a replay is refused.
    assert_license_error(&app, app.activate(code_body(&code, "hw-2")).await, 400, "invalid_code").await;
}

async fn id_token_activation_is_single_use(app: TestApp) {
    let id_token = app.implicit_id_token().await;
    let body = json!({
        "product": "demo-app", "hardware_id": "hw-x", "customer_account_code": "demo-customer", "id_token": id_token,
    });
    let res = app.activate(body.clone()).await;
    assert_eq!(res.status(), 200);
    let b: serde_json::Value = res.json().await.unwrap();
    verify_body_license_signature(&app, &b, "hw-x", "demo@example.com");
    assert_license_error(&app, app.activate(body).await, 400, "invalid_id_token").await;
}

async fn foreign_and_forged_id_tokens_are_refused(app: TestApp) {
    // Signed by another key.
    let dir = tempfile::tempdir().unwrap();
    let other =
        keyway::crypto::keys::KeyRing::load_or_create(dir.path(), 1, keyway::crypto::keys::SigningAlg::RS256).unwrap();
    let now = app.clock.now();
    let claims = json!({
        "iss": app.base, "sub": "x", "aud": "demo-app", "exp": now + 600, "iat": now, "auth_time": now, "jti": "j1",
        "customer_account_code": "demo-customer",
    });
    let forged = keyway::crypto::jwt::sign(other.signer(), "JWT", &claims).unwrap();
    let res = app
        .activate(json!({
            "product": "demo-app", "hardware_id": "h", "customer_account_code": "demo-customer", "id_token": forged,
        }))
        .await;
    assert_license_error(&app, res, 400, "invalid_id_token").await;
    // Our key, another audience.
    let wrong_aud = json!({
        "iss": app.base, "sub": "x", "aud": "other-app", "exp": now + 600, "iat": now, "auth_time": now, "jti": "j2",
        "customer_account_code": "demo-customer",
    });
    let t = keyway::crypto::jwt::sign(app.state.keys().signer(), "JWT", &wrong_aud).unwrap();
    let res = app
        .activate(
            json!({"product": "demo-app", "hardware_id": "h", "customer_account_code": "demo-customer", "id_token": t}),
        )
        .await;
    assert_license_error(&app, res, 400, "invalid_id_token").await;
    // A real id_token, presented for another customer account.
    let now_account = app.state.store.find_organization("Demo Vendor").await.unwrap().unwrap();
    app.state.store.create_customer_account(&now_account.id, "other-customer", "Other", now).await.unwrap();
    let id_token = app.implicit_id_token().await;
    let res = app
        .activate(json!({
            "product": "demo-app", "hardware_id": "h", "customer_account_code": "other-customer", "id_token": id_token,
        }))
        .await;
    assert_license_error(&app, res, 400, "invalid_id_token").await;
    // Expired.
    app.clock.advance(3601);
    let res = app
        .activate(json!({
            "product": "demo-app", "hardware_id": "h", "customer_account_code": "demo-customer", "id_token": id_token,
        }))
        .await;
    assert_license_error(&app, res, 400, "invalid_id_token").await;
}

async fn code_for_product_a_cannot_activate_product_b(app: TestApp) {
    app.product("other-app", &[]).await;
    let code = app.next_code().await;
    let mut body = code_body(&code, "hw-b");
    body["product"] = json!("other-app");
    assert_license_error(&app, app.activate(body).await, 400, "invalid_code").await;
    // Untouched by the failed attempt at product B, the code still works for A.
    assert_eq!(app.activate(code_body(&code, "hw-a")).await.status(), 200);
}

async fn expired_code_and_bad_requests(app: TestApp) {
    let code = app.next_code().await;
    app.clock.advance(301);
    assert_license_error(&app, app.activate(code_body(&code, "hw")).await, 400, "invalid_code").await;
    let res = app.signed_post_json("/api/v4/activate_license", &json!({"hardware_id": "x"})).await;
    assert_license_error(&app, res, 400, "missing_params").await;
    let res = app.signed_post_json("/api/v4/activate_license", &json!(["not", "an", "object"])).await;
    assert_license_error(&app, res, 400, "invalid_params").await;
    let res = app
        .activate(json!({"product": "nope", "hardware_id": "x", "customer_account_code": "demo-customer", "code": "c"}))
        .await;
    assert_license_error(&app, res, 400, "unknown_product").await;
    let res = app
        .activate(json!({"product": "demo-app", "hardware_id": "x", "customer_account_code": "nope", "code": "c"}))
        .await;
    assert_license_error(&app, res, 400, "unknown_customer_account").await;
    let (date, auth) = app.signed_headers();
    let res = app
        .client
        .post(app.url("/api/v4/activate_license"))
        .header("Date", date)
        .header("Authorization", auth)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_license_error(&app, res, 400, "invalid_params").await;
}

async fn disabled_and_expired_licenses(app: TestApp) {
    app.state.store.set_license_enabled(app.demo.license_id, false).await.unwrap();
    assert_license_error(&app, app.activate(code_body(&app.next_code().await, "hw")).await, 400, "license_not_enabled")
        .await;
    app.state.store.set_license_enabled(app.demo.license_id, true).await.unwrap();
    let user = app
        .state
        .store
        .find_user_by_email(
            &app.state.store.find_license(app.demo.license_id).await.unwrap().unwrap().customer_account_id,
            "demo@example.com",
        )
        .await
        .unwrap()
        .unwrap();
    app.state.store.set_user_disabled(&user.id, true).await.unwrap();
    let res = app
        .activate(json!({
            "product": "demo-app", "hardware_id": "x", "customer_account_code": "demo-customer", "id_token": "x.y.z",
        }))
        .await;
    assert_license_error(&app, res, 400, "invalid_id_token").await;
    app.state.store.set_user_disabled(&user.id, false).await.unwrap();
    // An expired license: activation and check both say so, with the validity in the response format.
    app.state.store.set_license_expiry(app.demo.license_id, Some(app.clock.now() - 10)).await.unwrap();
    assert_license_error(&app, app.activate(code_body(&app.next_code().await, "hw")).await, 400, "license_expired")
        .await;
    app.state.store.set_license_expiry(app.demo.license_id, Some(app.clock.now() + 86400)).await.unwrap();
    let body: serde_json::Value = app.activate(code_body(&app.next_code().await, "hw")).await.json().await.unwrap();
    let v = body["validity_period"].as_str().unwrap();
    assert!(v.ends_with(".000Z") && v.len() == 24, "{v}");
    verify_body_license_signature(&app, &body, "hw", "demo@example.com");
    app.clock.advance(86401);
    let res = app.signed_get("/api/v4/check_license?product=demo-app&hardware_id=hw&username=demo%40example.com").await;
    assert_license_error(&app, res, 400, "license_expired").await;
}

async fn one_code_many_concurrent_activations_exactly_one_wins(app: TestApp) {
    let code = app.next_code().await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (c, url, (date, auth)) = (app.client.clone(), app.url("/api/v4/activate_license"), app.signed_headers());
        let body = code_body(&code, &format!("race-{i}"));
        tasks.push(tokio::spawn(async move {
            c.post(url)
                .header("Date", date)
                .header("Authorization", auth)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            200 => ok += 1,
            400 => {}
            s => panic!("unexpected status {s}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(app.state.store.find_license(app.demo.license_id).await.unwrap().unwrap().times_activated, 1);
}

async fn seats_are_never_oversold(app: TestApp) {
    // 40 seats and 50 devices activating at the same moment.
    let n = 40;
    app.state.store.set_license_max_activations(app.demo.license_id, n as i32).await.unwrap();
    let mut codes = Vec::new();
    for _ in 0..n + 10 {
        codes.push(app.next_code().await);
    }
    let mut tasks = Vec::new();
    for (i, code) in codes.into_iter().enumerate() {
        let (c, url, (date, auth)) = (app.client.clone(), app.url("/api/v4/activate_license"), app.signed_headers());
        let body = code_body(&code, &format!("device-{i}"));
        tasks.push(tokio::spawn(async move {
            let res = c.post(url).header("Date", date).header("Authorization", auth).json(&body).send().await.unwrap();
            (res.status().as_u16(), res.json::<serde_json::Value>().await.unwrap())
        }));
    }
    let (mut ok, mut full) = (0, 0);
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => ok += 1,
            400 if body["code"] == "license_activated_max_times" => full += 1,
            _ => panic!("unexpected {status} {body}"),
        }
    }
    assert_eq!((ok, full), (n, 10));
    let l = app.state.store.find_license(app.demo.license_id).await.unwrap().unwrap();
    assert_eq!(l.times_activated as usize, n);
    assert_eq!(app.state.store.active_devices(l.id).await.unwrap().len(), n);
}

async fn user_licenses_and_oauth_mode(app: TestApp) {
    let code = app.next_code().await;
    let res = app
        .signed_get(&format!(
            "/api/v4/user_licenses?product=demo-app&customer_account_code=demo-customer&\
        code={code}&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&code_verifier={VERIFIER}"
        ))
        .await;
    assert_eq!(res.status(), 200);
    let list: serde_json::Value = res.json().await.unwrap();
    assert_eq!(list[0]["license"]["id"], app.demo.license_id);
    assert_eq!(list[0]["user"]["email"], "demo@example.com");
    assert!(list[0]["license"]["license_enabled"].is_boolean());
    // OAuth mode: oauth_url needs no auth; a client-credentials token authenticates License API calls.
    let res = app.client.get(app.url("/api/v4/oauth_url?login_type=client_credentials")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("LicenseSignature"));
    let url = res.json::<serde_json::Value>().await.unwrap()["url"].as_str().unwrap().to_string();
    let tok: serde_json::Value = app
        .client
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-app"),
            ("client_secret", app.demo.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = tok["access_token"].as_str().unwrap().to_string();
    let (date, _) = app.signed_headers();
    let res = app
        .client
        .get(app.url("/api/v4/sso_url?product=demo-app&customer_account_code=demo-customer"))
        .header("Date", &date)
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A license user's own access token never opens the License API.
    let res = app.client.get(app.authorize_url("response_type=token&scope=openid")).send().await.unwrap();
    let user_token =
        crate::helpers::fragment_params(res.headers()["location"].to_str().unwrap()).remove("access_token").unwrap();
    let res = app
        .client
        .get(app.url("/api/v4/sso_url?product=demo-app&customer_account_code=demo-customer"))
        .header("Date", &date)
        .bearer_auth(&user_token)
        .send()
        .await
        .unwrap();
    assert_license_error(&app, res, 401, "oauth_token_malformed").await;
    app.clock.advance(3601);
    let res = app
        .client
        .get(app.url("/api/v4/sso_url?product=demo-app&customer_account_code=demo-customer"))
        .header("Date", &date)
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_license_error(&app, res, 401, "oauth_token_expired").await;
    let _ = CHALLENGE;
}

dual!(
    code_activation_check_deactivate,
    id_token_activation_is_single_use,
    foreign_and_forged_id_tokens_are_refused,
    code_for_product_a_cannot_activate_product_b,
    expired_code_and_bad_requests,
    disabled_and_expired_licenses,
    one_code_many_concurrent_activations_exactly_one_wins,
    seats_are_never_oversold,
    user_licenses_and_oauth_mode
);
