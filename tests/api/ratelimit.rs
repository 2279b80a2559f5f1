//! Issue 15 item 4: rate limits per client address and per account identifier on the sign-in form, the token
//! endpoint and the License API. A burst beyond the limit gets 429 with `Retry-After` in the surface's format;
//! other addresses and accounts are unaffected. The server runs behind a (simulated) proxy: `trust_forwarded_for`,
//! each request names its client in `X-Forwarded-For`.
use crate::dual;
use crate::helpers::{assert_license_error, hidden, query_param, TestApp, CHALLENGE, VERIFIER};

const XFF: &str = "x-forwarded-for";

fn retry_after(res: &reqwest::Response) -> u64 {
    let v = res.headers().get("retry-after").expect("Retry-After").to_str().unwrap();
    let secs: u64 = v.parse().expect("Retry-After in seconds");
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
    secs
}

/// POSTs the hosted sign-in form from `ip` as `email`.
async fn sign_in(app: &TestApp, ip: &str, email: &str, password: &str) -> reqwest::Response {
    // A fresh browser each time: no session cookie, so authorize shows the form.
    let browser = app.new_browser();
    let url = app.authorize_url(&format!(
        "response_type=code&scope=openid&code_challenge={CHALLENGE}&code_challenge_method=S256"
    ));
    let page = browser.get(url).send().await.unwrap().text().await.unwrap();
    let form = [
        ("csrf_token", hidden(&page, "csrf_token").unwrap()),
        ("authz", hidden(&page, "authz").unwrap()),
        ("email", email.to_string()),
        ("password", password.to_string()),
    ];
    browser.post(app.url("/login")).header(XFF, ip).form(&form).send().await.unwrap()
}

async fn sign_in_form_is_limited_per_address_and_per_account(app: TestApp) {
    for _ in 0..3 {
        let res = sign_in(&app, "10.0.0.1", "nobody@example.com", "wrong-password").await;
        assert_eq!(res.status(), 200, "the form again with an error, not limited yet");
    }
    let res = sign_in(&app, "10.0.0.1", "someone@example.com", "wrong-password").await;
    assert_eq!(res.status(), 429, "the fourth attempt from one address within the minute");
    retry_after(&res);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("Too many attempts"), "{html}");
    // A client cannot dodge the per-address limit with its own X-Forwarded-For entries: the proxy's (last) counts.
    let res = sign_in(&app, "203.0.113.7, 10.0.0.1", "someone@example.com", "wrong-password").await;
    assert_eq!(res.status(), 429);

    // Another address, the real user: signed in as usual.
    let res = sign_in(&app, "10.0.0.2", &app.demo.user_email, &app.demo.user_password).await;
    assert_eq!(res.status(), 303);
    assert!(query_param(res.headers()["location"].to_str().unwrap(), "code").is_some());

    // Per account (limit 5): attempts for one e-mail spread over many addresses.
    for i in 0..4 {
        let res = sign_in(&app, &format!("10.1.0.{i}"), &app.demo.user_email, "wrong-password").await;
        assert_eq!(res.status(), 200, "attempt {i}");
    }
    let res = sign_in(&app, "10.1.0.9", &app.demo.user_email.to_uppercase(), "wrong-password").await;
    assert_eq!(res.status(), 429, "the sixth attempt for one e-mail (case-insensitive)");
    retry_after(&res);
    assert_eq!(sign_in(&app, "10.1.0.10", "other@example.com", "x").await.status(), 200, "other accounts unaffected");
}

async fn token_endpoint_is_limited_with_an_oauth_error(app: TestApp) {
    let bogus = [
        ("grant_type", "authorization_code"),
        ("code", "nope"),
        ("redirect_uri", "http://x"),
        ("code_verifier", VERIFIER),
    ];
    let post = |ip: &'static str| {
        app.client
            .post(app.url("/oauth2/token"))
            .header(XFF, ip)
            .basic_auth(&app.demo.client_id, Some(&app.demo.client_secret))
            .form(&bogus)
            .send()
    };
    for _ in 0..3 {
        assert_eq!(post("10.0.0.1").await.unwrap().status(), 400, "invalid_grant, not limited yet");
    }
    let res = post("10.0.0.1").await.unwrap();
    assert_eq!(res.status(), 429);
    retry_after(&res);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "slow_down", "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("retry after"));

    // Normal traffic from elsewhere: a whole sign-in and code redemption.
    let code = app.code("openid").await;
    let res = app
        .client
        .post(app.url("/oauth2/token"))
        .header(XFF, "10.0.0.2")
        .basic_auth(&app.demo.client_id, Some(&app.demo.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:8765/callback"),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn license_api_is_limited_with_a_signed_license_error(app: TestApp) {
    let check = |ip: &'static str| {
        let (date, auth) = app.signed_headers();
        app.client
            .get(app.url("/api/v4/check_license?product=demo-app&hardware_id=hw-1&license_key=x"))
            .header(XFF, ip)
            .header("Date", date)
            .header("Authorization", auth)
            .send()
    };
    for _ in 0..3 {
        assert_ne!(check("10.0.0.1").await.unwrap().status(), 429);
    }
    let res = check("10.0.0.1").await.unwrap();
    retry_after(&res);
    // Status, `code`, the documented body and a valid LicenseSignature.
    assert_license_error(&app, res, 429, "too_many_requests").await;
    let res = check("10.0.0.2").await.unwrap();
    assert_ne!(res.status(), 429, "another address is not limited");
}

/// The defaults do not get in the way of a busy but normal client: a burst of sign-ins, token requests and
/// License API calls from one address.
async fn default_limits_leave_normal_traffic_alone(app: TestApp) {
    for _ in 0..10 {
        let code = app.next_code().await;
        app.redeem(&code).await;
    }
    for _ in 0..10 {
        let res = sign_in(&app, "127.0.0.1", &app.demo.user_email, &app.demo.user_password).await;
        assert_eq!(res.status(), 303);
    }
    for _ in 0..50 {
        let res = app.signed_get("/api/v4/check_license?product=demo-app&hardware_id=hw-1&license_key=x").await;
        assert_ne!(res.status(), 429);
    }
}

async fn limited(db: crate::helpers::Db) -> TestApp {
    crate::helpers::spawn_app_with(db, |c| {
        c.trust_forwarded_for = true;
        c.rate_limit_login_per_ip = 3;
        c.rate_limit_login_per_account = 5;
        c.rate_limit_token_per_ip = 3;
        c.rate_limit_license_per_ip = 3;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_form_limits_sqlite() {
    sign_in_form_is_limited_per_address_and_per_account(limited(crate::helpers::Db::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_limits_postgres() {
    token_endpoint_is_limited_with_an_oauth_error(limited(crate::helpers::Db::Postgres).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_limits_sqlite() {
    token_endpoint_is_limited_with_an_oauth_error(limited(crate::helpers::Db::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn license_api_limits_sqlite() {
    license_api_is_limited_with_a_signed_license_error(limited(crate::helpers::Db::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn license_api_limits_postgres() {
    license_api_is_limited_with_a_signed_license_error(limited(crate::helpers::Db::Postgres).await).await;
}

dual!(default_limits_leave_normal_traffic_alone);
