//! Backend-initiated SSO (SPEC §6): Tyk nonces, SendGrid 303 codes, ABC minted tokens, token exchange, portal.
use serde_json::json;

use crate::dual;
use crate::helpers::{hidden, jwt_claims, TestApp, CHALLENGE, VERIFIER};

async fn tyk_nonce_signs_into_the_portal_once(app: TestApp) {
    let token = app.management_token("Demo Vendor").await;
    let res = app
        .client
        .post(app.url("/api/sso"))
        .header("authorization", &token)
        .json(&json!({
            "ForSection": "portal", "OrgID": "demo-customer", "EmailAddress": "demo@example.com", "GroupID": "",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["Status"], "OK");
    assert_eq!(body["Message"], "SSO Nonce created");
    let nonce = body["Meta"].as_str().unwrap().to_string();
    assert_eq!(body.as_object().unwrap().len(), 3);
    let browser = app.new_browser();
    let res = browser.get(app.url(&format!("/sso?nonce={nonce}"))).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/account");
    assert!(res.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("kw_session=")));
    let page = browser.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("demo@example.com") && page.contains("Demo App"), "{page}");
    // Single use.
    let res = app.new_browser().get(app.url(&format!("/sso?nonce={nonce}"))).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(app
        .state
        .store
        .audit_events(Some("sso.nonce.redeem"))
        .await
        .unwrap()
        .iter()
        .any(|e| e.outcome == "success"));
    // Bearer form and the admin route.
    let res = app
        .client
        .post(app.url("/api/sso"))
        .bearer_auth(&token)
        .json(&json!({"ForSection": "portal", "OrgID": "demo-customer", "EmailAddress": "demo@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .post(app.url("/admin/sso"))
        .header("admin-auth", "test-admin-secret")
        .json(&json!({
            "DisplayName": "", "EmailAddress": "demo@example.com", "ForSection": "portal", "GroupID": "",
            "GroupsIDs": null, "OrgID": "demo-customer", "SSOOnlyForRegisteredUsers": false, "UserNotAllowed": false,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn tyk_errors_in_the_api_error_shape(app: TestApp) {
    let token = app.management_token("Demo Vendor").await;
    let ok_body = json!({"ForSection": "portal", "OrgID": "demo-customer", "EmailAddress": "demo@example.com"});
    let check = |res: reqwest::Response, status: u16| async move {
        assert_eq!(res.status().as_u16(), status);
        let b: serde_json::Value = res.json().await.unwrap();
        assert_eq!(b["Status"], "Error");
        assert!(b["Meta"].is_null());
        b["Message"].as_str().unwrap().to_string()
    };
    assert_eq!(
        check(app.client.post(app.url("/api/sso")).json(&ok_body).send().await.unwrap(), 401).await,
        "Not authorised"
    );
    check(
        app.client.post(app.url("/api/sso")).header("authorization", "kwm_wrong").json(&ok_body).send().await.unwrap(),
        401,
    )
    .await;
    check(
        app.client.post(app.url("/admin/sso")).header("admin-auth", "wrong").json(&ok_body).send().await.unwrap(),
        401,
    )
    .await;
    check(app.client.post(app.url("/api/sso")).header("authorization", &token).body("").send().await.unwrap(), 400)
        .await;
    check(
        app.client.post(app.url("/api/sso")).header("authorization", &token).body("{nope").send().await.unwrap(),
        400,
    )
    .await;
    let m = check(
        app.client
            .post(app.url("/api/sso"))
            .header("authorization", &token)
            .json(&json!({"ForSection": "portal", "OrgID": "nope", "EmailAddress": "a@b.c"}))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(m.contains("Org id not found ('nope')"), "{m}");
    check(
        app.client
            .post(app.url("/api/sso"))
            .header("authorization", &token)
            .json(&json!({"ForSection": "dashboard", "OrgID": "demo-customer", "EmailAddress": "demo@example.com"}))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    check(app.client.post(app.url("/api/sso")).header("authorization", &token).json(&json!({
        "ForSection": "portal", "OrgID": "demo-customer", "EmailAddress": "demo@example.com", "UserNotAllowed": true,
    })).send().await.unwrap(), 403).await;
    // Registered-only: unknown users are refused; without the flag they are created just in time.
    check(
        app.client
            .post(app.url("/api/sso"))
            .header("authorization", &token)
            .json(&json!({
                "ForSection": "portal", "OrgID": "demo-customer", "EmailAddress": "new@example.com",
                "SSOOnlyForRegisteredUsers": true,
            }))
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    let account = app.state.store.find_customer_accounts_by_code("demo-customer").await.unwrap().remove(0);
    assert!(app.state.store.find_user_by_email(&account.id, "new@example.com").await.unwrap().is_none());
    let res = app
        .client
        .post(app.url("/api/sso"))
        .header("authorization", &token)
        .json(&json!({
            "ForSection": "portal", "OrgID": "demo-customer", "EmailAddress": "New@Example.com",
            "DisplayName": "New Person",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let u = app
        .state
        .store
        .find_user_by_email(&account.id, "new@example.com")
        .await
        .unwrap()
        .expect("created just in time");
    assert_eq!(u.name, "New Person");
    // Another organization's token cannot reach this account.
    let other = app.management_token("Other Vendor").await;
    check(
        app.client.post(app.url("/api/sso")).header("authorization", &other).json(&ok_body).send().await.unwrap(),
        400,
    )
    .await;
}

async fn one_time_credentials_expire_and_race(app: TestApp) {
    let token = app.management_token("Demo Vendor").await;
    let mint = || async {
        let b: serde_json::Value = app
            .client
            .post(app.url("/api/v1/sso"))
            .bearer_auth(&token)
            .json(&json!({"customer_account_code": "demo-customer", "email": "demo@example.com"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(b["expires_in"], 60);
        b["nonce"].as_str().unwrap().to_string()
    };
    let n = mint().await;
    app.clock.advance(61);
    assert_eq!(
        app.new_browser().get(app.url(&format!("/sso?nonce={n}"))).send().await.unwrap().status(),
        400,
        "expired after 60 s"
    );
    let n = mint().await;
    app.clock.advance(59);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (c, url) = (app.new_browser(), app.url(&format!("/sso?nonce={n}")));
        tasks.push(tokio::spawn(async move { c.get(url).send().await.unwrap().status().as_u16() }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            303 => wins += 1,
            400 => {}
            s => panic!("unexpected {s}"),
        }
    }
    assert_eq!(wins, 1, "exactly one session");
}

async fn native_nonce_into_a_product_login_flow(app: TestApp) {
    let token = app.management_token("Demo Vendor").await;
    let b: serde_json::Value = app
        .client
        .post(app.url("/api/v1/sso"))
        .bearer_auth(&token)
        .json(&json!({"customer_account_code": "demo-customer", "email": "demo@example.com", "product": "demo-app"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = app.client.get(b["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.contains("/oauth2/authorize?client_id=demo-app"), "{loc}");
    // Already signed in: the authorize request answers with a code right away.
    let res = app.client.get(&loc).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(res.headers()["location"].to_str().unwrap().starts_with("http://127.0.0.1:8765/callback?code="));
    let res = app
        .client
        .post(app.url("/api/v1/sso"))
        .bearer_auth(&token)
        .json(&json!({"email": "demo@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "invalid_request");
    let res = app
        .client
        .post(app.url("/api/v1/sso"))
        .json(&json!({"customer_account_code": "demo-customer", "email": "demo@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn sendgrid_303_code_for_the_admin_identity(app: TestApp) {
    let token = app.management_token("Demo Vendor").await;
    let res =
        app.client.post(app.url("/v3/partners/accounts/demo-customer/sso")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(&format!("{}/sso?code=", app.base)), "{loc}");
    let browser = app.new_browser();
    let res = browser.get(&loc).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(browser.get(app.url("/account")).send().await.unwrap().text().await.unwrap().contains("demo@example.com"));
    assert_eq!(app.new_browser().get(&loc).send().await.unwrap().status(), 400, "usable once");

    let errors = |res: reqwest::Response, status: u16, id: &'static str| async move {
        assert_eq!(res.status().as_u16(), status);
        let b: serde_json::Value = res.json().await.unwrap();
        let e = &b["errors"][0];
        assert_eq!(e["error_id"], id);
        assert!(e["message"].is_string() && e["field"].is_string());
    };
    errors(app.client.post(app.url("/v3/partners/accounts/demo-customer/sso")).send().await.unwrap(), 401, "10-40100")
        .await;
    errors(
        app.client
            .post(app.url("/v3/partners/accounts/demo-customer/sso"))
            .bearer_auth("kwm_bad")
            .send()
            .await
            .unwrap(),
        401,
        "10-40100",
    )
    .await;
    errors(
        app.client.post(app.url("/v3/partners/accounts/nope/sso")).bearer_auth(&token).send().await.unwrap(),
        404,
        "10-40400",
    )
    .await;
    let other = app.management_token("Other Vendor").await;
    errors(
        app.client.post(app.url("/v3/partners/accounts/demo-customer/sso")).bearer_auth(&other).send().await.unwrap(),
        404,
        "10-40400",
    )
    .await;
    let org = app.state.store.find_organization("Demo Vendor").await.unwrap().unwrap();
    app.state.store.create_customer_account(&org.id, "no-admin", "No Admin", app.clock.now()).await.unwrap();
    errors(
        app.client.post(app.url("/v3/partners/accounts/no-admin/sso")).bearer_auth(&token).send().await.unwrap(),
        403,
        "10-40300",
    )
    .await;
    // Native form.
    let res = app
        .client
        .post(app.url("/api/v1/customer-accounts/demo-customer/users/demo%40example.com/sso"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = app
        .client
        .post(app.url("/api/v1/customer-accounts/demo-customer/users/nobody%40example.com/sso"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

async fn abc_minted_token_and_redemption(app: TestApp) {
    app.product("abc-a", &["abc-b"]).await;
    app.product("abc-b", &[]).await;
    let at = app.client_token("abc-a", "abc-a-secret-0123456789").await;
    let call = |headers: Vec<(&'static str, String)>, body: serde_json::Value| {
        let mut r = app.client.post(app.url("/v2/get_sso_token")).json(&body);
        for (k, v) in headers {
            r = r.header(k, v);
        }
        r.send()
    };
    let good = || {
        vec![
            ("x-api-version", "1.0.0".to_string()),
            ("x-lob-client-id", "abc-a".to_string()),
            ("Authorization", format!("Bearer {at}")),
        ]
    };
    let body = json!({"CIINo": "CII-0001", "LOBId": "abc-b", "Functionality": "D"});
    let res = call(good(), body.clone()).await.unwrap();
    assert_eq!(res.status(), 200);
    let b: serde_json::Value = res.json().await.unwrap();
    assert_eq!(b["ReturnCode"], 1);
    assert_eq!(b["ReturnMessage"], "Token Generated successfully");
    assert!(b["TokenRefNo"].as_str().unwrap().chars().all(|c| c.is_ascii_digit()));
    let t = b["TokenNo"].as_str().unwrap().to_string();
    let c = jwt_claims(&t);
    assert_eq!(
        (c["CIINo"].as_str(), c["LOBId"].as_str(), c["Functionality"].as_str(), c["aud"].as_str()),
        (Some("CII-0001"), Some("abc-b"), Some("D"), Some("abc-b"))
    );
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 3600);
    assert!(c["jti"].is_string() && c["iss"] == app.base.as_str());
    // The linked product redeems it once.
    let bt = app.client_token("abc-b", "abc-b-secret-0123456789").await;
    let r = app
        .client
        .post(app.url("/api/v1/sso-tokens/redeem"))
        .bearer_auth(&bt)
        .json(&json!({"token": t}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["email"], "demo@example.com");
    assert_eq!(
        app.client
            .post(app.url("/api/v1/sso-tokens/redeem"))
            .bearer_auth(&bt)
            .json(&json!({"token": t}))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    // Errors with the document's statuses.
    let mut no_version = good();
    no_version.remove(0);
    assert_eq!(call(no_version, body.clone()).await.unwrap().status(), 400);
    let mut no_auth = good();
    no_auth.pop();
    assert_eq!(call(no_auth, body.clone()).await.unwrap().status(), 401);
    let mut bad = good();
    bad[2].1 = "Bearer nope".into();
    assert_eq!(call(bad, body.clone()).await.unwrap().status(), 401);
    let mut other_lob = good();
    other_lob[1].1 = "abc-b".into();
    assert_eq!(call(other_lob, body.clone()).await.unwrap().status(), 403);
    assert_eq!(
        call(good(), json!({"CIINo": "CII-0001", "LOBId": "demo-app", "Functionality": "D"})).await.unwrap().status(),
        403,
        "not linked"
    );
    let res = call(good(), json!({"CIINo": "CII-0001"})).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["ReturnCode"], 0);
    app.clock.advance(3601);
    assert_eq!(call(good(), body).await.unwrap().status(), 401, "expired token");
}

async fn token_exchange_for_a_linked_product(app: TestApp) {
    app.product("tx-a", &["tx-b"]).await;
    app.product("tx-b", &[]).await;
    let url = format!(
        "{}/oauth2/authorize?client_id=tx-a&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&\
        customer_account_code=demo-customer&response_type=code&scope=openid%20email&code_challenge={CHALLENGE}&\
        code_challenge_method=S256",
        app.base
    );
    let loc = app.login(&url).await;
    let code = crate::helpers::query_param(&loc, "code").unwrap();
    let tok: serde_json::Value = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth("tx-a", Some("tx-a-secret-0123456789"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:8765/callback"),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let subject = tok["access_token"].as_str().unwrap();
    let exchange = |aud: &str, subject: &str| {
        app.client
            .post(app.url("/oauth2/token"))
            .basic_auth("tx-a", Some("tx-a-secret-0123456789"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                ("subject_token", subject),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
                ("audience", aud),
            ])
            .send()
    };
    let res = exchange("tx-b", subject).await.unwrap();
    assert_eq!(res.status(), 200);
    let b: serde_json::Value = res.json().await.unwrap();
    assert_eq!(b["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
    assert_eq!(jwt_claims(b["access_token"].as_str().unwrap())["aud"], "tx-b");
    let res = exchange("demo-app", subject).await.unwrap();
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "invalid_target");
    let res = exchange("tx-b", "garbage").await.unwrap();
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "invalid_request");
    // A client without linked products may not exchange.
    let res = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth("demo-app", Some(&app.demo.client_secret))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", subject),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
            ("audience", "tx-b"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "unauthorized_client");
}

async fn portal_deactivation_frees_the_seat(app: TestApp) {
    let code = app.next_code().await;
    let res = app
        .activate(json!({
            "product": "demo-app", "hardware_id": "portal-hw", "customer_account_code": "demo-customer", "code": code,
            "redirect_uri": "http://127.0.0.1:8765/callback", "code_verifier": VERIFIER, "hostname": "laptop",
        }))
        .await;
    assert_eq!(res.status(), 200);
    let page = app.client.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("laptop (portal-hw)"), "{page}");
    let action_start = page.find("/account/devices/").unwrap();
    let action = &page[action_start..page[action_start..].find('"').unwrap() + action_start];
    let res = app.client.post(app.url(action)).form(&[("csrf_token", "forged")]).send().await.unwrap();
    assert_eq!(res.status(), 400, "CSRF required");
    let csrf = hidden(&page, "csrf_token").unwrap();
    let res = app.client.post(app.url(action)).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(app.state.store.find_license(app.demo.license_id).await.unwrap().unwrap().times_activated, 0);
    assert!(app
        .state
        .store
        .audit_events(Some("license.deactivate"))
        .await
        .unwrap()
        .iter()
        .any(|e| e.outcome.contains("portal")));
    // Without a session, the portal sends you to sign in; the portal login works with the account code.
    let browser = app.new_browser();
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().headers()["location"], "/login");
    let login = browser.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let res = browser
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", hidden(&login, "csrf_token").unwrap().as_str()),
            ("authz", ""),
            ("customer_account_code", "demo-customer"),
            ("email", "demo@example.com"),
            ("password", app.demo.user_password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/account");
}

dual!(
    tyk_nonce_signs_into_the_portal_once,
    tyk_errors_in_the_api_error_shape,
    one_time_credentials_expire_and_race,
    native_nonce_into_a_product_login_flow,
    sendgrid_303_code_for_the_admin_identity,
    abc_minted_token_and_redemption,
    token_exchange_for_a_linked_product,
    portal_deactivation_frees_the_seat
);
