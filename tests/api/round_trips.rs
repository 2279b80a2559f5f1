//! Issue 12, item 7: database statements per request, read from `Store::statement_count` (every statement the
//! store runs; BEGIN/COMMIT/ROLLBACK counted apart). On PostgreSQL each statement is one round trip; SQLite runs
//! them in-process. Measured on this branch (statements + BEGIN/COMMIT), the same on both engines unless said:
//! code activation 5 + 2, token endpoint code redemption 1 + 0 on PostgreSQL and 2 + 2 on SQLite (with a refresh
//! token; the claim and the refresh token are one statement on PostgreSQL, one transaction on SQLite), refresh
//! 4 + 2, hosted login POST 4 + 0 on PostgreSQL and 7 + 2 on SQLite (issue 16: the sign-in's throttle reset, audit
//! event, session and code are one statement on PostgreSQL and one transaction, one commit, on SQLite; the
//! account's MFA policy is cached like the account; the user's second factors come with the user).
//!
//! Products, customer accounts, their MFA policies and API keys are cached for 5 s (store/cache.rs). Each measured request follows a
//! request that touched the same cache entries, so these are the numbers of the steady state, not of a cold cache.
use serde_json::json;

use crate::dual;
use crate::helpers::{hidden, TestApp, CHALLENGE, VERIFIER};

const CB: &str = "http://127.0.0.1:8765/callback";

/// The response to `request` and the statements it made.
async fn measure<F: std::future::Future<Output = reqwest::Response>>(
    app: &TestApp,
    what: &str,
    request: F,
) -> (reqwest::Response, keyway::store::StatementCount) {
    let before = app.state.store.statement_count();
    let res = request.await;
    let n = app.state.store.statement_count() - before;
    eprintln!("{:?} {what}: {} statements + {} BEGIN/COMMIT", app.db, n.statements, n.transaction_control);
    (res, n)
}

async fn code_activation_makes_at_most_five_statements(app: TestApp) {
    let code = app.next_code().await;
    // Warms the API key, product and account lookups.
    let res = app.signed_get("/api/v4/sso_url?product=demo-app&customer_account_code=demo-customer").await;
    assert_eq!(res.status(), 200);
    let body = json!({
        "product": "demo-app", "hardware_id": "rt-hw", "customer_account_code": "demo-customer", "code": code,
        "redirect_uri": CB, "code_verifier": VERIFIER,
    });
    let (res, n) = measure(&app, "License API code activation", app.activate(body)).await;
    assert_eq!(res.status(), 200);
    // The code claim with its user (one statement, no transaction: no refresh token is offered); the user's licenses
    // with their activation on the device; one transaction for the seat, the activation row and the audit event.
    assert!(n.statements <= 5, "{n:?}");
    assert_eq!(n.transaction_control, 2, "one transaction: the seat");
}

async fn token_refresh_and_login_statements(app: TestApp) {
    let code = app.code("openid%20offline_access").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    let (res, n) = measure(&app, "token endpoint, authorization_code", app.token(&form)).await;
    assert_eq!(res.status(), 200);
    // The claim with its user, and the refresh token: one statement on PostgreSQL, one transaction on SQLite.
    match app.db {
        crate::helpers::Db::Postgres => assert!(n.statements == 1 && n.transaction_control == 0, "{n:?}"),
        crate::helpers::Db::Sqlite => assert!(n.statements <= 2 && n.transaction_control == 2, "{n:?}"),
    }
    let tok: serde_json::Value = res.json().await.unwrap();
    assert!(tok["refresh_token"].is_string(), "offline_access: a refresh token, stored with the claim");

    let refresh = [("grant_type", "refresh_token"), ("refresh_token", tok["refresh_token"].as_str().unwrap())];
    let (res, n) = measure(&app, "token endpoint, refresh_token", app.token(&refresh)).await;
    assert_eq!(res.status(), 200);
    // The token with its grant's revocation, the user; one transaction: retire the old token, store the new one.
    assert!(n.statements <= 4 && n.transaction_control == 2, "{n:?}");

    let browser = app.new_browser();
    let authorize = app.authorize_url(&format!(
        "response_type=code&scope=openid&code_challenge={CHALLENGE}&code_challenge_method=S256"
    ));
    let page = browser.get(authorize).send().await.unwrap().text().await.unwrap();
    let form = [
        ("csrf_token", hidden(&page, "csrf_token").unwrap()),
        ("authz", hidden(&page, "authz").unwrap()),
        ("email", app.demo.user_email.clone()),
        ("password", app.demo.user_password.clone()),
    ];
    let post = async { browser.post(app.url("/login")).form(&form).send().await.unwrap() };
    let (res, n) = measure(&app, "hosted login POST", post).await;
    assert_eq!(res.status(), 303);
    // The user with their second factors (what the MFA decision after the password needs), the attempt reserved;
    // the attempt cleared, the audit event, the session and the code written together (one statement on PostgreSQL,
    // one transaction of four on SQLite: the only commit besides the reservation's); (issue 17) the user's licenses
    // of the product for the seat notice. The account's MFA policy, read after the password and again where the code
    // is issued, comes from the cache.
    match app.db {
        crate::helpers::Db::Postgres => assert!(n.statements == 4 && n.transaction_control == 0, "{n:?}"),
        crate::helpers::Db::Sqlite => assert!(n.statements == 7 && n.transaction_control == 2, "{n:?}"),
    }
}

dual!(code_activation_makes_at_most_five_statements, token_refresh_and_login_statements);
