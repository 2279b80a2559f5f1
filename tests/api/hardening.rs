//! Issue 13, items 5–8: RP-initiated logout hints, introspection of disabled subjects, error formats before a
//! handler, and tenant scoping of the portal sign-in. Each test is named after its item.
use keyway::admin::UserSpec;
use keyway::model::{CustomerAccount, LicenseUser, OAuthClient};
use keyway::oauth::claims::{self, AuthContext, Echo, Subject};
use keyway::oauth::scope::Scope;
use serde_json::json;

use crate::dual;
use crate::helpers::{assert_license_error, hidden, jwt_claims, query_param, TestApp, CHALLENGE};
use crate::lockout::{login_page, post_login};

const CB: &str = "http://127.0.0.1:8765/callback";

async fn add_user(app: &TestApp, account: &CustomerAccount, email: &str, password: &str) -> LicenseUser {
    let hash = app.state.passwords.hash(password).await.unwrap();
    let spec = UserSpec {
        email: email.into(),
        name: email.into(),
        password_hash: Some(hash),
        external_customer_no: None,
        account_admin: false,
    };
    keyway::admin::create_user(&app.state.store, account, spec, app.clock.now()).await.unwrap()
}

async fn demo_account(app: &TestApp) -> std::sync::Arc<CustomerAccount> {
    let org = app.state.store.find_organization("Demo Vendor").await.unwrap().unwrap();
    app.state.store.find_customer_account_by_code(&org.id, "demo-customer").await.unwrap().unwrap()
}

/// Signs in from `browser` and redeems the code: the token response.
async fn tokens_for(app: &TestApp, browser: &reqwest::Client, email: &str, password: &str) -> serde_json::Value {
    let page = login_page(app, browser).await;
    let res = post_login(app, browser, &page, email, password).await;
    assert_eq!(res.status(), 303, "signed in as {email}");
    app.redeem(&query_param(res.headers()["location"].to_str().unwrap(), "code").unwrap()).await
}

/// Whether `browser`'s session still answers a `prompt=none` request with a code.
async fn session_works(app: &TestApp, browser: &reqwest::Client) -> bool {
    let url = app.authorize_url(&format!(
        "response_type=code&scope=openid&prompt=none&code_challenge={CHALLENGE}&code_challenge_method=S256"
    ));
    let res = browser.get(url).send().await.unwrap();
    query_param(res.headers()["location"].to_str().unwrap(), "code").is_some()
}

/// An id_token keyway would issue for `client` (any organization's product), about `sub` in session `sid`.
fn id_token_for(app: &TestApp, client: &OAuthClient, user: &LicenseUser, sid: &str) -> String {
    let keys = app.state.keys();
    let sub = Subject {
        user_id: user.id.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        email_verified: true,
        customer_account_code: "demo-customer".into(),
    };
    let ctx = AuthContext { auth_time: app.clock.now(), sid: Some(sid), grant_id: None, amr: None, idp: None };
    let c = claims::id_token(
        &app.base,
        client,
        &sub,
        &Scope::parse("openid").unwrap(),
        ctx,
        Echo::default(),
        app.clock.now(),
    );
    app.state.signer(&keys).id_token(&c).unwrap()
}

/// The RP-initiated logout request, from `browser`.
async fn logout(app: &TestApp, browser: &reqwest::Client, hint: &str, extra: &str) -> reqwest::Response {
    browser.get(app.url(&format!("/oauth2/logout?id_token_hint={hint}{extra}"))).send().await.unwrap()
}

/// The confirmation page (RP-Initiated Logout 1.0 §2: ask when the hint is not the session's), nothing ended.
async fn asks_first(res: reqwest::Response, what: &str) {
    assert_eq!(res.status(), 200, "{what}: no redirect");
    let html = res.text().await.unwrap();
    assert!(html.contains("Do you want to sign out?") && html.contains("name=\"csrf_token\""), "{what}: {html}");
}

/// Item 5: an attacker's id_token (another user's, another organization's product's, or expired) as
/// `id_token_hint` does not end the victim's session; the victim's own hint ends it at once.
async fn item5_logout_with_someone_elses_id_token_hint_asks_first(app: TestApp) {
    let account = demo_account(&app).await;
    let victim = app.new_browser();
    let tok = tokens_for(&app, &victim, &app.demo.user_email, &app.demo.user_password).await;
    let victims_hint = tok["id_token"].as_str().unwrap().to_string();
    let victim_sid = jwt_claims(&victims_hint)["sid"].as_str().unwrap().to_string();
    let victim_user = app.state.store.find_user_by_email(&account.id, &app.demo.user_email).await.unwrap().unwrap();

    add_user(&app, &account, "mallory@example.com", "mallory-password-1").await;
    let attacker = app.new_browser();
    let attackers = tokens_for(&app, &attacker, "mallory@example.com", "mallory-password-1").await;
    let attackers_hint = attackers["id_token"].as_str().unwrap().to_string();

    // Another organization's product: even naming the victim and the victim's session, it is not this session's.
    let other_org = app.state.store.create_organization("Other Vendor", app.clock.now()).await.unwrap();
    let spec = keyway::admin::ProductSpec {
        code: "other-app".into(),
        client_id: Some("other-app".into()),
        redirect_uris: vec![CB.into()],
        post_logout_redirect_uris: vec![CB.into()],
        ..Default::default()
    };
    let defaults = keyway::cli::manage::token_defaults(&app.state.config);
    let other_product = keyway::admin::create_product(&app.state.store, defaults, &other_org.id, spec, app.clock.now())
        .await
        .unwrap()
        .0;
    let foreign_hint = id_token_for(&app, &other_product, &victim_user, &victim_sid);

    asks_first(logout(&app, &victim, &attackers_hint, "").await, "another user's id_token").await;
    assert!(session_works(&app, &victim).await);
    let to_cb = "&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&state=x";
    asks_first(logout(&app, &victim, &attackers_hint, to_cb).await, "with a registered post_logout_redirect_uri").await;
    asks_first(logout(&app, &victim, &foreign_hint, "").await, "another organization's product's id_token").await;
    assert!(session_works(&app, &victim).await);
    app.clock.advance(3700);
    assert!(jwt_claims(&attackers_hint)["exp"].as_i64().unwrap() < app.clock.now());
    asks_first(logout(&app, &victim, &attackers_hint, "").await, "an expired id_token of another user").await;
    assert!(session_works(&app, &victim).await, "the victim is still signed in");
    assert!(session_works(&app, &attacker).await, "nothing ended the attacker's session either");

    // The victim's own hint (expired by now, which §2 allows) ends the session without asking.
    let res = logout(&app, &victim, &victims_hint, to_cb).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "http://127.0.0.1:8765/callback?state=x");
    assert!(!session_works(&app, &victim).await, "signed out");
}

async fn introspect(app: &TestApp, client: (&str, &str), token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/oauth2/introspect"))
        .basic_auth(client.0, Some(client.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

async fn inactive(res: reqwest::Response, what: &str) {
    assert_eq!(res.status(), 200, "{what}");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body, json!({"active": false}), "{what}: RFC 7662 §2.2, nothing but active=false");
}

async fn userinfo_refuses(app: &TestApp, at: &str, what: &str) {
    let res = app.client.get(app.url("/oauth2/userInfo")).bearer_auth(at).send().await.unwrap();
    assert_eq!(res.status(), 401, "{what}");
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""), "{what}");
}

/// Item 6: a disabled user's and a disabled product's access and refresh tokens introspect as inactive; userinfo
/// refuses them; the token endpoint refuses the disabled client and authorize shows an error page.
async fn item6_disabled_user_and_product_tokens_are_inactive(app: TestApp) {
    let tok = app.redeem(&app.code("openid%20offline_access").await).await;
    let (at, rt) = (tok["access_token"].as_str().unwrap(), tok["refresh_token"].as_str().unwrap());
    let demo = ("demo-app", app.demo.client_secret.as_str());
    app.product("other-app", &[]).await;
    let other = ("other-app", "other-app-secret-0123456789");
    assert_eq!(introspect(&app, demo, at).await.json::<serde_json::Value>().await.unwrap()["active"], true);
    assert_eq!(introspect(&app, demo, rt).await.json::<serde_json::Value>().await.unwrap()["active"], true);
    assert_eq!(introspect(&app, other, at).await.json::<serde_json::Value>().await.unwrap()["active"], true);

    let user_id = jwt_claims(at)["sub"].as_str().unwrap().to_string();
    app.state.store.set_user_disabled(&user_id, true).await.unwrap();
    inactive(introspect(&app, demo, at).await, "disabled user's access token").await;
    inactive(introspect(&app, demo, rt).await, "disabled user's refresh token").await;
    userinfo_refuses(&app, at, "disabled user").await;
    app.state.store.set_user_disabled(&user_id, false).await.unwrap();
    assert_eq!(introspect(&app, demo, at).await.json::<serde_json::Value>().await.unwrap()["active"], true);

    let product = app.state.store.find_client("demo-app").await.unwrap().unwrap();
    app.state.store.set_product_disabled(&product.id, true).await.unwrap();
    inactive(introspect(&app, other, at).await, "disabled product's access token").await;
    inactive(introspect(&app, other, rt).await, "disabled product's refresh token").await;
    let res = introspect(&app, demo, at).await;
    assert_eq!(res.status(), 401, "the disabled product cannot authenticate");
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "invalid_client");
    userinfo_refuses(&app, at, "disabled product").await;
    let res = app.token(&[("grant_type", "refresh_token"), ("refresh_token", rt)]).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "invalid_client");
    let res = app.new_browser().get(app.authorize_url("response_type=code&scope=openid")).send().await.unwrap();
    assert_eq!(res.status(), 400, "an error page, never a redirect");
    assert!(res.headers().get("location").is_none());
    assert!(res.text().await.unwrap().contains("this application is disabled"));
}

fn big_form() -> String {
    format!("grant_type=client_credentials&padding={}", "x".repeat(70 * 1024))
}

async fn json_body(res: reqwest::Response, status: u16, what: &str) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status, "{what}");
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"), "{what}");
    res.json().await.unwrap_or_else(|e| panic!("{what}: JSON ({e})"))
}

async fn html_page(res: reqwest::Response, status: u16, what: &str) {
    assert_eq!(res.status().as_u16(), status, "{what}");
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{what}");
    let html = res.text().await.unwrap();
    assert!(html.contains("Request id"), "{what}: the error page: {html}");
}

/// Item 7: what is refused before a handler gets to the request (oversize bodies, content types, malformed query
/// strings, methods) is answered in the surface's own format.
async fn item7_errors_before_a_handler_come_in_the_surface_format(app: TestApp) {
    // License API: signed JSON with `code`.
    let (date, auth) = app.signed_headers();
    let oversize = format!("{{\"product\":\"demo-app\",\"padding\":\"{}\"}}", "x".repeat(70 * 1024));
    let res = app
        .client
        .post(app.url("/api/v4/activate_license"))
        .header("Date", &date)
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .body(oversize)
        .send()
        .await
        .unwrap();
    assert_license_error(&app, res, 413, "payload_too_large").await;
    let res = app.signed_post_json("/api/v4/activate_license", &json!(["not", "an", "object"])).await;
    assert_license_error(&app, res, 400, "invalid_params").await;
    for query in
        ["product=%ff&customer_account_code=demo-customer", "product=demo-app&product=demo-app&customer_account_code=x"]
    {
        let res = app.signed_get(&format!("/api/v4/sso_url?{query}")).await;
        assert_license_error(&app, res, 400, "invalid_params").await;
    }
    let (date, auth) = app.signed_headers();
    let res = app
        .client
        .put(app.url("/api/v4/activate_license"))
        .header("Date", date)
        .header("Authorization", auth)
        .send()
        .await
        .unwrap();
    assert_license_error(&app, res, 405, "method_not_allowed").await;

    // Token, revocation, introspection: RFC 6749 §5.2 JSON.
    for path in ["/oauth2/token", "/oauth2/revoke", "/oauth2/introspect"] {
        let res = app
            .client
            .post(app.url(path))
            .basic_auth("demo-app", Some(&app.demo.client_secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(big_form())
            .send()
            .await
            .unwrap();
        assert_eq!(json_body(res, 400, &format!("{path} oversize")).await["error"], "invalid_request");
        let res = app
            .client
            .post(app.url(path))
            .basic_auth("demo-app", Some(&app.demo.client_secret))
            .json(&json!({"grant_type": "client_credentials", "token": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(json_body(res, 400, &format!("{path} as JSON")).await["error"], "invalid_request");
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.headers()["allow"], "POST");
        assert_eq!(json_body(res, 405, &format!("GET {path}")).await["error"], "invalid_request");
    }
    let res = app
        .client
        .post(app.url("/oauth2/token"))
        .form(&[("grant_type", "x"), ("grant_type", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(json_body(res, 400, "a repeated parameter").await["error"], "invalid_request");
    let res = app.client.post(app.url("/oauth2/userInfo")).body(big_form()).send().await.unwrap();
    assert_eq!(json_body(res, 400, "userinfo oversize").await["error"], "invalid_request");
    let res = app.client.delete(app.url("/oauth2/userInfo")).send().await.unwrap();
    assert_eq!(json_body(res, 405, "DELETE userinfo").await["error"], "invalid_request");

    // Hosted pages: the HTML error page.
    let res = app.client.post(app.url("/login")).body(big_form()).send().await.unwrap();
    html_page(res, 413, "/login oversize").await;
    let res = app.client.post(app.url("/oauth2/authorize")).body(big_form()).send().await.unwrap();
    html_page(res, 413, "POST /oauth2/authorize oversize").await;
    html_page(app.client.get(app.url("/oauth2/authorize?client_id=%ff")).send().await.unwrap(), 400, "%ff").await;
    html_page(app.client.get(app.url("/oauth2/logout?state=a&state=b")).send().await.unwrap(), 400, "repeated").await;
    for path in ["/oauth2/authorize", "/oauth2/logout", "/logout"] {
        let res = app.client.put(app.url(path)).send().await.unwrap();
        assert_eq!(res.headers()["allow"], "GET, POST", "PUT {path}");
        html_page(res, 405, &format!("PUT {path}")).await;
    }

    // Backend SSO and ABC routes: each in its document's error shape.
    let b = json_body(app.client.get(app.url("/api/sso")).send().await.unwrap(), 405, "GET /api/sso").await;
    assert_eq!(b["Status"], "Error");
    let res = app.client.post(app.url("/api/sso")).body("x".repeat(70 * 1024)).send().await.unwrap();
    assert_eq!(json_body(res, 400, "Tyk oversize").await["Status"], "Error");
    let b = json_body(app.client.get(app.url("/api/v1/sso")).send().await.unwrap(), 405, "GET /api/v1/sso").await;
    assert_eq!(b["error"], "invalid_request");
    let res = app.client.get(app.url("/v3/partners/accounts/demo-customer/sso")).send().await.unwrap();
    assert!(json_body(res, 405, "GET SendGrid").await["errors"][0]["error_id"].is_string());
    let b = json_body(app.client.get(app.url("/v2/get_sso_token")).send().await.unwrap(), 405, "GET ABC").await;
    assert!(b["ReturnMessage"].is_string());
}

/// Item 8: portal sign-in is scoped by the account code and the e-mail address, never refused because another
/// organization uses the same code; `/login?org=<organization id>` restricts it to one organization.
async fn item8_portal_sign_in_is_scoped_per_organization(app: TestApp) {
    let now = app.clock.now();
    let vendor_b = app.state.store.create_organization("Vendor B", now).await.unwrap();
    let b_account =
        app.state.store.create_customer_account(&vendor_b.id, "demo-customer", "B Customer GmbH", now).await.unwrap();
    add_user(&app, &b_account, "bob@b.example", "bob-password-1").await;

    let portal = |org: Option<&str>, email: &str, password: &str| {
        let (app, org, email, password) = (&app, org.map(str::to_string), email.to_string(), password.to_string());
        async move {
            let browser = app.new_browser();
            let path = org.as_ref().map_or("/login".to_string(), |o| format!("/login?org={o}"));
            let page = browser.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
            assert_eq!(hidden(&page, "organization"), org, "the form carries the organization");
            let mut form = vec![
                ("csrf_token", hidden(&page, "csrf_token").unwrap()),
                ("customer_account_code", "demo-customer".to_string()),
                ("email", email),
                ("password", password),
            ];
            if let Some(o) = org {
                form.push(("organization", o));
            }
            let res = browser.post(app.url("/login")).form(&form).send().await.unwrap();
            if res.status() != 303 {
                return None;
            }
            assert_eq!(res.headers()["location"], "/account");
            let account = browser.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
            Some(if account.contains("B Customer GmbH") { "B" } else { "A" })
        }
    };
    let (a_email, a_password) = (app.demo.user_email.clone(), app.demo.user_password.clone());
    assert_eq!(portal(None, &a_email, &a_password).await, Some("A"), "vendor A's user is not blocked by B's code");
    assert_eq!(portal(None, "bob@b.example", "bob-password-1").await, Some("B"));

    // The same address in both organizations: each user with their own password.
    add_user(&app, &b_account, &a_email, "b-side-password-1").await;
    assert_eq!(portal(None, &a_email, &a_password).await, Some("A"));
    assert_eq!(portal(None, &a_email, "b-side-password-1").await, Some("B"));
    assert_eq!(portal(None, &a_email, "neither").await, None);

    // The vendor's portal link names its organization: only its accounts.
    let a_org = app.state.store.find_organization("Demo Vendor").await.unwrap().unwrap().id;
    assert_eq!(portal(Some(&vendor_b.id), &a_email, &a_password).await, None, "A's password is not B's user's");
    assert_eq!(portal(Some(&vendor_b.id), &a_email, "b-side-password-1").await, Some("B"));
    assert_eq!(portal(Some(&a_org), "bob@b.example", "bob-password-1").await, None);
    assert_eq!(portal(Some(&a_org), &a_email, &a_password).await, Some("A"));
}

dual!(
    item5_logout_with_someone_elses_id_token_hint_asks_first,
    item6_disabled_user_and_product_tokens_are_inactive,
    item7_errors_before_a_handler_come_in_the_surface_format,
    item8_portal_sign_in_is_scoped_per_organization,
    portal_link_signs_in_without_an_account_code,
);

/// From a vendor's portal link (`/login?org=…`) the customer account code may be left empty: the address's users in
/// that organization are checked (each with its own password; IdP-only accounts left out), never another vendor's.
/// Without a portal link the code is still needed. The field is marked required only then.
async fn portal_link_signs_in_without_an_account_code(app: TestApp) {
    let now = app.clock.now();
    let a_org = app.state.store.find_organization("Demo Vendor").await.unwrap().unwrap().id;
    let second = app.state.store.create_customer_account(&a_org, "second-customer", "Second Ltd", now).await.unwrap();
    let (email, password) = (app.demo.user_email.clone(), app.demo.user_password.clone());
    add_user(&app, &second, &email, "second-account-pw-1").await;
    let vendor_b = app.state.store.create_organization("Vendor B", now).await.unwrap();
    let b_account = app.state.store.create_customer_account(&vendor_b.id, "b-customer", "B GmbH", now).await.unwrap();
    add_user(&app, &b_account, &email, "b-side-password-1").await;

    let portal = |org: Option<&str>, password: &str| {
        let (app, org, email, password) = (&app, org.map(str::to_string), email.clone(), password.to_string());
        async move {
            let browser = app.new_browser();
            let path = org.as_ref().map_or("/login".to_string(), |o| format!("/login?org={o}"));
            let page = browser.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
            let field =
                page.split("id=\"customer_account_code\"").nth(1).unwrap().split('>').next().unwrap().to_string();
            assert_eq!(field.contains(" required"), org.is_none(), "required only without a portal link: {field}");
            let mut form = vec![
                ("csrf_token", hidden(&page, "csrf_token").unwrap()),
                ("customer_account_code", String::new()),
                ("email", email),
                ("password", password),
            ];
            if let Some(o) = org {
                form.push(("organization", o));
            }
            let res = browser.post(app.url("/login")).form(&form).send().await.unwrap();
            if res.status() != 303 {
                return None;
            }
            let account = browser.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
            Some(if account.contains("Second Ltd") {
                "second"
            } else if account.contains("B GmbH") {
                "B"
            } else {
                "demo"
            })
        }
    };
    assert_eq!(portal(Some(&a_org), &password).await, Some("demo"));
    assert_eq!(portal(Some(&a_org), "second-account-pw-1").await, Some("second"), "each user with their own password");
    assert_eq!(portal(Some(&a_org), "b-side-password-1").await, None, "never another vendor's user");
    assert_eq!(portal(Some(&vendor_b.id), "b-side-password-1").await, Some("B"));
    assert_eq!(portal(None, &password).await, None, "without a portal link the code is needed");
}
