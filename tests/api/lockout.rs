//! Issue 13: one password check with an atomic lockout for every surface (items 1–4 and the e-mail variants of
//! "How it must be shown"). Each test is named after its item.
use std::sync::Arc;

use serde_json::json;

use crate::dual;
use crate::helpers::{assert_license_error, hidden, spawn_app_with, Db, TestApp, CHALLENGE};

/// How a hosted sign-in ended, read from the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    In,
    /// The login form again with "incorrect" (the password was checked).
    Failed,
    /// The login form again with "too many attempts" (not checked).
    Locked,
}

pub async fn signed(res: reqwest::Response) -> Signed {
    match res.status().as_u16() {
        303 => Signed::In,
        200 => {
            let html = res.text().await.unwrap();
            if html.contains("Too many failed sign-in attempts") {
                Signed::Locked
            } else {
                assert!(html.contains("The e-mail address or password is incorrect."), "{html}");
                Signed::Failed
            }
        }
        s => panic!("unexpected status {s}"),
    }
}

/// The hosted login form of a code request, in `browser` (`prompt=login`: also where the browser is signed in).
pub async fn login_page(app: &TestApp, browser: &reqwest::Client) -> String {
    let url = app.authorize_url(&format!(
        "response_type=code&scope=openid&prompt=login&code_challenge={CHALLENGE}&code_challenge_method=S256"
    ));
    let res = browser.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200, "the login page");
    res.text().await.unwrap()
}

/// Posts `page`'s form from `browser`.
pub async fn post_login(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let form = [
        ("csrf_token", hidden(page, "csrf_token").unwrap()),
        ("authz", hidden(page, "authz").unwrap()),
        ("email", email.to_string()),
        ("password", password.to_string()),
    ];
    browser.post(app.url("/login")).form(&form).send().await.unwrap()
}

/// A sign-in attempt from `browser` through a fresh login page.
pub async fn sign_in(app: &TestApp, browser: &reqwest::Client, email: &str, password: &str) -> Signed {
    let page = login_page(app, browser).await;
    signed(post_login(app, browser, &page, email, password).await).await
}

fn password_activation(username: &str, password: &str, hw: &str) -> serde_json::Value {
    json!({"product": "demo-app", "hardware_id": hw, "username": username, "password": password})
}

async fn seats(app: &TestApp) -> i32 {
    app.state.store.find_license(app.demo.license_id).await.unwrap().unwrap().times_activated
}

fn verifications(app: &TestApp) -> u64 {
    app.state.passwords.verification_count()
}

/// Item 1: username + password on the License API counts failures and honours the lock: 8 wrong passwords, then
/// the right one is refused with the documented `user_locked` (400), and no seat is taken.
async fn item1_license_api_password_guessing_is_locked_out(app: TestApp) {
    let email = app.demo.user_email.clone();
    for i in 1..=8 {
        let res = app.activate(password_activation(&email, "wrong password", "hw-1")).await;
        // The first five are checked (the fifth failure locks); the rest are refused unchecked.
        let code = if i <= 5 { "invalid_credentials" } else { "user_locked" };
        assert_license_error(&app, res, 400, code).await;
    }
    let res = app.activate(password_activation(&email, &app.demo.user_password, "hw-1")).await;
    assert_license_error(&app, res, 400, "user_locked").await;
    assert_eq!(verifications(&app), 5, "only the attempts within the threshold were checked");
    assert_eq!(seats(&app).await, 0, "no seat taken");
    // user_licenses takes the same check and the same lock.
    let res = app
        .signed_get(&format!(
            "/api/v4/user_licenses?product=demo-app&username=demo%40example.com&password={}",
            app.demo.user_password
        ))
        .await;
    assert_license_error(&app, res, 400, "user_locked").await;
    // The lock ends.
    app.clock.advance(301);
    let res = app.activate(password_activation(&email, &app.demo.user_password, "hw-1")).await;
    assert_eq!(res.status(), 200);
}

/// Item 1: a user locked by five wrong hosted logins is locked on the License API too; no seat is taken.
async fn item1_hosted_login_lock_holds_on_the_license_api(app: TestApp) {
    let browser = app.new_browser();
    for _ in 0..5 {
        assert_eq!(sign_in(&app, &browser, &app.demo.user_email, "wrong password").await, Signed::Failed);
    }
    assert_eq!(sign_in(&app, &browser, &app.demo.user_email, &app.demo.user_password).await, Signed::Locked);
    let res = app.activate(password_activation(&app.demo.user_email, &app.demo.user_password, "hw-1")).await;
    assert_license_error(&app, res, 400, "user_locked").await;
    assert_eq!(seats(&app).await, 0);
    let lockouts = app.state.store.audit_events(Some("login.lockout")).await.unwrap();
    assert_eq!(lockouts.len(), 1);
    let attempts = app.state.store.audit_events(Some("login")).await.unwrap();
    assert!(attempts.iter().any(|e| e.outcome.ends_with("via license_api")), "the surface is audited");
}

/// Item 2: an unknown e-mail address costs exactly one argon2 verification, like a wrong password, on the hosted
/// login and on the License API (so timing does not tell which addresses exist).
async fn item2_unknown_email_costs_one_verification_like_a_wrong_password(app: TestApp) {
    let browser = app.new_browser();
    let cases = [
        (app.demo.user_email.as_str(), "wrong password"),
        ("nobody@example.com", "wrong password"),
        ("nobody-at-all", "x"),
    ];
    for (email, password) in cases {
        let before = verifications(&app);
        assert_eq!(sign_in(&app, &browser, email, password).await, Signed::Failed);
        assert_eq!(verifications(&app) - before, 1, "hosted login, {email}");
    }
    // A customer account code that does not exist (the form asks for it): the same work.
    let url = format!(
        "{}/oauth2/authorize?client_id={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&response_type=code&\
         scope=openid&code_challenge={CHALLENGE}&code_challenge_method=S256",
        app.base, app.demo.client_id
    );
    let page = browser.get(url).send().await.unwrap().text().await.unwrap();
    let form = [
        ("csrf_token", hidden(&page, "csrf_token").unwrap()),
        ("authz", hidden(&page, "authz").unwrap()),
        ("customer_account_code", "no-such-account".into()),
        ("email", app.demo.user_email.clone()),
        ("password", app.demo.user_password.clone()),
    ];
    let before = verifications(&app);
    assert_eq!(signed(browser.post(app.url("/login")).form(&form).send().await.unwrap()).await, Signed::Failed);
    assert_eq!(verifications(&app) - before, 1, "hosted login, unknown customer account");

    for (email, password) in cases {
        let before = verifications(&app);
        let res = app.activate(password_activation(email, password, "hw-1")).await;
        assert_license_error(&app, res, 400, "invalid_credentials").await;
        assert_eq!(verifications(&app) - before, 1, "License API, {email}");
    }
}

/// Item 3: 4 failures, then 12 wrong guesses and the right password at once, each on its own connection (own
/// client and cookie jar), with a real argon2 cost so that the requests overlap. At most `threshold - 4` = 1 of the
/// burst is checked, and never more than the threshold in all.
async fn item3_concurrent_burst_at_the_hosted_login_stays_within_the_threshold(db: Db) {
    let app = Arc::new(real_argon2(db).await);
    let first = app.new_browser();
    for _ in 0..4 {
        assert_eq!(sign_in(&app, &first, &app.demo.user_email, "wrong password").await, Signed::Failed);
    }
    let before = verifications(&app);
    assert_eq!(before, 4);
    let mut prepared = Vec::new();
    for i in 0..13 {
        let browser = app.new_browser();
        let page = login_page(&app, &browser).await;
        let password = if i == 6 { app.demo.user_password.clone() } else { format!("wrong guess {i}") };
        prepared.push((browser, page, password));
    }
    let start = Arc::new(tokio::sync::Barrier::new(prepared.len()));
    let tasks: Vec<_> = prepared
        .into_iter()
        .map(|(browser, page, password)| {
            let (app, start) = (app.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let res = post_login(&app, &browser, &page, &app.demo.user_email, &password).await;
                (password == app.demo.user_password, signed(res).await)
            })
        })
        .collect();
    let results: Vec<(bool, Signed)> =
        futures_util::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
    let checked = verifications(&app) - before;
    assert!(checked <= 1, "{checked} guesses of the burst were checked: {results:?}");
    let answered: Vec<_> = results.iter().filter(|(_, s)| *s != Signed::Locked).collect();
    assert_eq!(answered.len() as u64, checked, "every checked guess was answered as checked: {results:?}");
    assert!(
        results.iter().all(|(right, s)| *s != Signed::In || *right),
        "only the right password can sign in: {results:?}"
    );
    // Afterwards the address is locked for the right password too, unless the right one was the checked guess.
    if !results.iter().any(|(_, s)| *s == Signed::In) {
        let browser = app.new_browser();
        assert_eq!(sign_in(&app, &browser, &app.demo.user_email, &app.demo.user_password).await, Signed::Locked);
    }
    assert!(verifications(&app) <= 5, "never more than the threshold");
}

/// Item 3 on the License API path: the same burst through `activate_license` with username and password.
async fn item3_concurrent_burst_at_the_license_api_stays_within_the_threshold(db: Db) {
    let app = Arc::new(real_argon2(db).await);
    for _ in 0..4 {
        let res = app.activate(password_activation(&app.demo.user_email, "wrong password", "hw-1")).await;
        assert_license_error(&app, res, 400, "invalid_credentials").await;
    }
    let before = verifications(&app);
    let start = Arc::new(tokio::sync::Barrier::new(13));
    let tasks: Vec<_> = (0..13)
        .map(|i| {
            let (app, start) = (app.clone(), start.clone());
            // Its own client: its own connection.
            let client = app.new_browser();
            tokio::spawn(async move {
                let password = if i == 6 { app.demo.user_password.clone() } else { format!("wrong guess {i}") };
                let (date, auth) = app.signed_headers();
                let body = password_activation(&app.demo.user_email, &password, &format!("hw-{i}"));
                start.wait().await;
                let res = client
                    .post(app.url("/api/v4/activate_license"))
                    .header("Date", date)
                    .header("Authorization", auth)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let body: serde_json::Value = res.json().await.unwrap();
                (password == app.demo.user_password, status, body["code"].as_str().unwrap_or("ok").to_string())
            })
        })
        .collect();
    let results: Vec<(bool, u16, String)> =
        futures_util::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
    let checked = verifications(&app) - before;
    assert!(checked <= 1, "{checked} guesses of the burst were checked: {results:?}");
    let not_locked = results.iter().filter(|(_, _, code)| code != "user_locked").count() as u64;
    assert_eq!(not_locked, checked, "{results:?}");
    assert!(results.iter().all(|(right, status, _)| *status != 200 || *right), "{results:?}");
    assert!(seats(&app).await <= 1);
    assert!(verifications(&app) <= 5);
}

async fn real_argon2(db: Db) -> TestApp {
    // OWASP's profile (the default): ~20 ms a verification here, two at a time, so the burst's checks overlap.
    spawn_app_with(db, |c| {
        c.argon2_memory_kib = 19 * 1024;
        c.argon2_iterations = 2;
    })
    .await
}

/// Item 4 (OWASP device cookies): five anonymous failures lock the address for every browser that never signed in
/// as the user, but not for the browser the user signed in with before; that one has its own, higher limit
/// (`lockout_device_threshold`, 10).
async fn item4_strangers_lock_unknown_browsers_but_not_the_users_own(app: TestApp) {
    let (email, password) = (app.demo.user_email.clone(), app.demo.user_password.clone());
    let users_browser = app.new_browser();
    assert_eq!(sign_in(&app, &users_browser, &email, &password).await, Signed::In);
    let stranger = app.new_browser();
    for _ in 0..5 {
        assert_eq!(sign_in(&app, &stranger, &email, "guess").await, Signed::Failed);
    }
    assert_eq!(sign_in(&app, &stranger, &email, &password).await, Signed::Locked, "the stranger is locked");
    assert_eq!(sign_in(&app, &app.new_browser(), &email, &password).await, Signed::Locked, "so is any new browser");
    assert_eq!(sign_in(&app, &users_browser, &email, &password).await, Signed::In, "the user's browser is not");

    // The user's own browser: ten failures are checked (more than a stranger gets), then it is locked too.
    for i in 1..=10 {
        assert_eq!(sign_in(&app, &users_browser, &email, "typo").await, Signed::Failed, "failure {i}");
    }
    assert_eq!(sign_in(&app, &users_browser, &email, &password).await, Signed::Locked);
    // A forged or foreign device cookie is no device token.
    let forged = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = {
        let url = app.authorize_url(&format!(
            "response_type=code&scope=openid&code_challenge={CHALLENGE}&code_challenge_method=S256"
        ));
        let res = forged.get(url).send().await.unwrap();
        let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        (res.text().await.unwrap(), cookie)
    };
    let user_id = app.state.store.find_users_by_email_in_org(&org_id(&app).await, &email).await.unwrap()[0].id.clone();
    let form = [
        ("csrf_token", hidden(&page.0, "csrf_token").unwrap()),
        ("authz", hidden(&page.0, "authz").unwrap()),
        ("email", email.clone()),
        ("password", password.clone()),
    ];
    let res = forged
        .post(app.url("/login"))
        .header("cookie", format!("{}; kw_device={user_id}.forgeddeviceid.AAAAAAAAAAAAAAAAAAAAAA", page.1))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(signed(res).await, Signed::Locked);
}

async fn org_id(app: &TestApp) -> String {
    app.state.store.find_organization("Demo Vendor").await.unwrap().unwrap().id
}

/// The e-mail variants of "How it must be shown": case, surrounding white space and Unicode compatibility forms
/// (full-width letters, NFKC) count toward one lock, and none of them gets past it.
async fn item9_email_variants_count_toward_one_lock(app: TestApp) {
    let variants =
        ["Demo@Example.COM ", " demo@example.com", "ｄｅｍｏ@example.com", "DEMO@example.com", "demo@EXAMPLE.com"];
    let browser = app.new_browser();
    for v in variants {
        assert_eq!(sign_in(&app, &browser, v, "wrong password").await, Signed::Failed, "{v:?}");
    }
    assert_eq!(
        sign_in(&app, &browser, &app.demo.user_email, &app.demo.user_password).await,
        Signed::Locked,
        "five mixed failures lock the real address"
    );
    for v in variants {
        assert_eq!(sign_in(&app, &app.new_browser(), v, &app.demo.user_password).await, Signed::Locked, "{v:?}");
        let res = app.activate(password_activation(v, &app.demo.user_password, "hw-1")).await;
        assert_license_error(&app, res, 400, "user_locked").await;
    }
    assert_eq!(verifications(&app), 5, "nothing after the lock was checked");

    // The same on the License API, where the username names no account: five mixed failures there lock the address
    // at the hosted login.
    app.clock.advance(301);
    for v in variants {
        let res = app.activate(password_activation(v, "wrong password", "hw-1")).await;
        assert_license_error(&app, res, 400, "invalid_credentials").await;
    }
    assert_eq!(sign_in(&app, &app.new_browser(), &app.demo.user_email, &app.demo.user_password).await, Signed::Locked);
    assert_eq!(seats(&app).await, 0);
}

/// A correct password starts the count over and is audited, on the hosted login and the License API alike (issue
/// 16 writes the hosted sign-in's bookkeeping with its session and code in one commit): four wrong passwords, the
/// right one, four wrong again are all checked, none locked; the hosted sign-in's code redeems and its session
/// stands (the next authorization request is answered without the login page).
async fn a_success_starts_the_count_over_on_every_surface(app: TestApp) {
    let browser = app.new_browser();
    let email = app.demo.user_email.clone();
    for round in 0..2 {
        for _ in 0..4 {
            assert_eq!(sign_in(&app, &browser, &email, "wrong password").await, Signed::Failed, "round {round}");
        }
        let page = login_page(&app, &browser).await;
        let res = post_login(&app, &browser, &page, &email, &app.demo.user_password).await;
        assert_eq!(res.status(), 303, "round {round}: signed in");
        let location = res.headers()["location"].to_str().unwrap().to_string();
        let code = crate::helpers::query_param(&location, "code").expect("a code");
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:8765/callback"),
            ("code_verifier", crate::helpers::VERIFIER),
        ];
        assert_eq!(app.token(&form).await.status(), 200, "round {round}: the code was stored with the session");
    }
    let again = app.authorize_url(&format!(
        "response_type=code&scope=openid&code_challenge={CHALLENGE}&code_challenge_method=S256"
    ));
    let res = browser.get(again).send().await.unwrap();
    assert_eq!(res.status(), 303, "the session was stored: no login page");

    for round in 0..2 {
        for _ in 0..4 {
            let res = app.activate(password_activation(&email, "wrong password", "hw-1")).await;
            assert_license_error(&app, res, 400, "invalid_credentials").await;
        }
        let res = app.activate(password_activation(&email, &app.demo.user_password, "hw-1")).await;
        assert_eq!(res.status(), 200, "round {round}: activated");
    }
    let events = app.state.store.audit_events(Some("login")).await.unwrap();
    let successes = |surface: &str| {
        events.iter().filter(|e| e.outcome == format!("success via {surface}") && e.actor.contains(&e.subject)).count()
    };
    assert_eq!(successes("hosted_login"), 2);
    assert_eq!(successes("license_api"), 2);
    assert!(app.state.store.audit_events(Some("login.lockout")).await.unwrap().is_empty(), "never locked");
}

dual!(
    a_success_starts_the_count_over_on_every_surface,
    item1_license_api_password_guessing_is_locked_out,
    item1_hosted_login_lock_holds_on_the_license_api,
    item2_unknown_email_costs_one_verification_like_a_wrong_password,
    item4_strangers_lock_unknown_browsers_but_not_the_users_own,
    item9_email_variants_count_toward_one_lock,
    support_staff_unlock_every_count_of_the_user,
);

/// `keyway user unlock`: the address locked by a stranger, the user's own browser locked by typos, the second factor
/// locked: one command lifts them all (audited), and the right password signs in everywhere at once.
async fn support_staff_unlock_every_count_of_the_user(app: TestApp) {
    use keyway::cli::manage::{ManageCommand, UserCmd, UserRef};
    use keyway::store::throttle::{Limits, Reservation};
    let (email, password) = (app.demo.user_email.clone(), app.demo.user_password.clone());
    let own = app.new_browser();
    assert_eq!(sign_in(&app, &own, &email, &password).await, Signed::In);
    let stranger = app.new_browser();
    for _ in 0..app.state.config.lockout_threshold {
        assert_eq!(sign_in(&app, &stranger, &email, "guess").await, Signed::Failed);
    }
    for _ in 0..app.state.config.lockout_device_threshold {
        assert_eq!(sign_in(&app, &own, &email, "typo").await, Signed::Failed);
    }
    assert_eq!(sign_in(&app, &own, &email, &password).await, Signed::Locked);
    assert_eq!(sign_in(&app, &app.new_browser(), &email, &password).await, Signed::Locked);
    let user = app.state.store.find_users_by_email_in_org(&org_id(&app).await, &email).await.unwrap().remove(0);
    let mfa_key = keyway::auth::mfa::throttle_key(&user.id);
    let one = Limits { threshold: 1, window: 900, lock_seconds: 300 };
    let now = app.clock.now();
    app.state.store.reserve_login_attempt(&mfa_key, one, now).await.unwrap();
    assert!(matches!(
        app.state.store.reserve_login_attempt(&mfa_key, one, now).await.unwrap(),
        Reservation::Locked { .. }
    ));

    let r = UserRef { org: "Demo Vendor".into(), account: "demo-customer".into(), email: email.clone() };
    keyway::cli::manage::run(&app.state.store, &app.state.config, ManageCommand::User(UserCmd::Unlock(r)), now)
        .await
        .unwrap();
    assert_eq!(sign_in(&app, &own, &email, &password).await, Signed::In, "the user's own browser");
    assert_eq!(sign_in(&app, &app.new_browser(), &email, &password).await, Signed::In, "any browser");
    assert_eq!(
        app.state.store.reserve_login_attempt(&mfa_key, one, now).await.unwrap(),
        Reservation::Granted { attempt: 1 },
        "the second factor's count"
    );
    let events = app.state.store.audit_events(Some("lockout.cleared")).await.unwrap();
    assert!(events.iter().any(|e| e.subject == user.id && e.actor.contains("cli")), "{events:?}");
}

/// The burst tests start their own app (a real argon2 cost).
mod item3_concurrent_burst_at_the_hosted_login_stays_within_the_threshold {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::item3_concurrent_burst_at_the_hosted_login_stays_within_the_threshold(crate::helpers::Db::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::item3_concurrent_burst_at_the_hosted_login_stays_within_the_threshold(crate::helpers::Db::Postgres).await
    }
}

mod item3_concurrent_burst_at_the_license_api_stays_within_the_threshold {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::item3_concurrent_burst_at_the_license_api_stays_within_the_threshold(crate::helpers::Db::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::item3_concurrent_burst_at_the_license_api_stays_within_the_threshold(crate::helpers::Db::Postgres).await
    }
}
