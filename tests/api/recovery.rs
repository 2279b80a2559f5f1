//! Issue 17 items 1 and 2, negative cases on both backends: reset links reused, expired, superseded, bound to
//! their user; the same "forgot password" answer for unknown addresses; logos of a wrong type or size refused.
use keyway::auth::recovery::{self, LinkKind};
use keyway::cli::branding::{BrandingCmd, SetArgs, Target};
use keyway::model::LicenseUser;
use keyway::store::users::NewUser;

use crate::dual;
use crate::helpers::{hidden, spawn_app_with, Db, TestApp};
use crate::lockout::{sign_in, Signed};

async fn demo_user(app: &TestApp) -> LicenseUser {
    let a = app.state.store.find_customer_accounts_by_code("demo-customer").await.unwrap().remove(0);
    app.state.store.find_user_by_email(&a.id, &app.demo.user_email).await.unwrap().unwrap()
}

async fn second_user(app: &TestApp, email: &str, password: &str) -> LicenseUser {
    let a = app.state.store.find_customer_accounts_by_code("demo-customer").await.unwrap().remove(0);
    let hash = app.state.passwords.hash(password).await.unwrap();
    let u = NewUser {
        customer_account_id: a.id.clone(),
        email: email.into(),
        name: "Second".into(),
        password_hash: Some(hash),
        email_verified: false,
        external_customer_no: None,
    };
    app.state.store.create_user(u, app.state.now()).await.unwrap()
}

fn token_of(link: &str) -> String {
    crate::helpers::query_param(link, "token").expect("token in link")
}

/// Opens the reset link in `browser` and posts a new password; returns (status, page).
async fn use_link(app: &TestApp, browser: &reqwest::Client, token: &str, password: &str) -> (u16, String) {
    let page = browser.get(app.url(&format!("/password/reset?token={token}"))).send().await.unwrap();
    let status = page.status().as_u16();
    let html = page.text().await.unwrap();
    // An unusable link shows no form: post the CSRF token of another page, as an attacker replaying the POST would.
    let csrf = match hidden(&html, "csrf_token") {
        Some(c) => c,
        None => {
            assert_eq!(status, 410, "an unusable link says so at once: {html}");
            let login = browser.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
            hidden(&login, "csrf_token").unwrap()
        }
    };
    let form =
        [("csrf_token", csrf.as_str()), ("token", token), ("new_password", password), ("confirm_password", password)];
    let res = browser.post(app.url("/password/reset")).form(&form).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

async fn reset_link_reused_expired_superseded_and_bound_to_its_user(app: TestApp) {
    let (s, now) = (&app.state, app.state.now());
    let user = demo_user(&app).await;
    let other = second_user(&app, "second@example.com", "second-password-1").await;
    let browser = app.new_browser();

    // The demo user is signed in somewhere, and locked out on the hosted login by a stranger.
    let elsewhere = app.new_browser();
    assert_eq!(sign_in(&app, &elsewhere, &app.demo.user_email, &app.demo.user_password).await, Signed::In);
    assert_eq!(s.store.count_user_sessions(&user.id).await.unwrap(), 1);
    let stranger = app.new_browser();
    for _ in 0..5 {
        sign_in(&app, &stranger, &app.demo.user_email, "wrong-password").await;
    }
    assert_eq!(sign_in(&app, &stranger, &app.demo.user_email, &app.demo.user_password).await, Signed::Locked);

    // Expired: issued 31 minutes ago.
    let old =
        recovery::issue_link(&s.store, &s.config.issuer, &user, LinkKind::Reset, None, now - 31 * 60).await.unwrap();
    let (status, html) = use_link(&app, &browser, &token_of(&old), "expired-link-pw").await;
    assert_eq!(status, 410, "expired: {html}");
    assert!(html.contains("not valid any more"), "{html}");

    // Superseded: a newer link invalidates the older.
    let first = recovery::issue_link(&s.store, &s.config.issuer, &user, LinkKind::Reset, None, now).await.unwrap();
    let second = recovery::issue_link(&s.store, &s.config.issuer, &user, LinkKind::Reset, None, now).await.unwrap();
    let (status, _) = use_link(&app, &browser, &token_of(&first), "superseded-pw-1").await;
    assert_eq!(status, 410, "the older link stopped working");
    // Another user's newer link does not touch this user's link.
    let others = recovery::issue_link(&s.store, &s.config.issuer, &other, LinkKind::Reset, None, now).await.unwrap();

    // A password too short keeps the link usable.
    let (status, html) = use_link(&app, &browser, &token_of(&second), "short").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("at least 8 characters"), "{html}");

    let (status, html) = use_link(&app, &browser, &token_of(&second), "brand-new-password-1").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Your password has been changed"), "{html}");
    // The other sessions ended, the lockout is cleared, the new password works and the old does not.
    assert_eq!(s.store.count_user_sessions(&user.id).await.unwrap(), 0, "every session of the user ended");
    let fresh = app.new_browser();
    assert_eq!(sign_in(&app, &fresh, &app.demo.user_email, &app.demo.user_password).await, Signed::Failed);
    assert_eq!(sign_in(&app, &stranger, &app.demo.user_email, "brand-new-password-1").await, Signed::In, "unlocked");

    // Reused: the link worked once.
    let (status, _) = use_link(&app, &browser, &token_of(&second), "reuse-attempt-pw").await;
    assert_eq!(status, 410, "a used link is refused");
    assert_eq!(sign_in(&app, &app.new_browser(), &app.demo.user_email, "reuse-attempt-pw").await, Signed::Failed);

    // Another user's link changes that user's password only, whoever uses it.
    let (status, _) = use_link(&app, &browser, &token_of(&others), "others-new-pw-1").await;
    assert_eq!(status, 200);
    assert_eq!(sign_in(&app, &app.new_browser(), "second@example.com", "others-new-pw-1").await, Signed::In);
    assert_eq!(sign_in(&app, &app.new_browser(), &app.demo.user_email, "others-new-pw-1").await, Signed::Failed);
    assert_eq!(sign_in(&app, &app.new_browser(), &app.demo.user_email, "brand-new-password-1").await, Signed::In);

    // A made-up token, and one of the verification kind, are no reset links.
    let verify = recovery::issue_link(&s.store, &s.config.issuer, &user, LinkKind::Verify, None, now).await.unwrap();
    assert_eq!(use_link(&app, &browser, &token_of(&verify), "kind-confusion-1").await.0, 410);
    assert_eq!(use_link(&app, &browser, "not-a-token", "made-up-token-1").await.0, 410);
}

/// SMTP pointed at a closed port: sending fails in the background, which the answer must not show either.
async fn with_smtp(db: Db) -> TestApp {
    spawn_app_with(db, |c| {
        c.smtp_host = Some("127.0.0.1".into());
        c.smtp_port = Some(9);
        c.smtp_tls = keyway::mail::SmtpTls::None;
        c.smtp_from = Some("keyway <noreply@example.com>".into());
    })
    .await
}

async fn forgot(app: &TestApp, email: &str) -> (u16, String) {
    let browser = app.new_browser();
    let url = app.url(&format!("/password/forgot?client_id={}", app.demo.client_id));
    let page = browser.get(url).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&page, "csrf_token").expect("the forgot form");
    let form = [
        ("csrf_token", csrf.as_str()),
        ("client_id", app.demo.client_id.as_str()),
        ("customer_account_code", "demo-customer"),
        ("email", email),
    ];
    let res = browser.post(app.url("/password/forgot")).form(&form).send().await.unwrap();
    let status = res.status().as_u16();
    // The CSRF token differs per browser; everything else must be the same.
    let html = res.text().await.unwrap().replace(&csrf, "CSRF");
    (status, html)
}

async fn forgot_password_answers_alike_for_unknown_addresses(app: TestApp) {
    let app = with_smtp(app.db).await;
    let known = forgot(&app, &app.demo.user_email).await;
    let unknown = forgot(&app, "nobody-here@example.com").await;
    assert_eq!(known.0, 200);
    assert!(known.1.contains("If an account with this address exists"), "{}", known.1);
    assert_eq!(known, unknown, "identical answers for a known and an unknown address");
    // The login page offers the way (SMTP configured), and hides it without SMTP.
    let login = app.login_page(&app.authorize_url("response_type=code&scope=openid")).await;
    assert!(login.contains("Forgot password?"), "{login}");
}

/// Mail on an anonymous request is limited per e-mail address (known or not, so the 429 tells nothing) and per
/// client address: nobody floods an inbox through keyway.
async fn forgot_password_is_limited_per_address_and_per_client(app: TestApp) {
    let app = spawn_app_with(app.db, |c| {
        c.smtp_host = Some("127.0.0.1".into());
        c.smtp_port = Some(9);
        c.smtp_tls = keyway::mail::SmtpTls::None;
        c.smtp_from = Some("keyway <noreply@example.com>".into());
        c.rate_limit_mail_per_address = 2;
        c.rate_limit_mail_per_ip = 5;
    })
    .await;
    let known = &app.demo.user_email;
    assert_eq!(forgot(&app, known).await.0, 200);
    assert_eq!(forgot(&app, &known.to_uppercase()).await.0, 200, "the same address in other case counts too");
    assert_eq!(forgot(&app, known).await.0, 429, "third request for one address within the hour");
    assert_eq!(forgot(&app, "nobody-here@example.com").await.0, 200, "an unknown address has its own budget");
    assert_eq!(forgot(&app, "nobody-here@example.com").await.0, 200);
    let (status, page) = forgot(&app, "someone-else@example.com").await;
    assert_eq!(status, 429, "the sixth request from one client address (five allowed): {page}");
}

async fn forgot_password_hides_itself_without_smtp(app: TestApp) {
    let login = app.login_page(&app.authorize_url("response_type=code&scope=openid")).await;
    assert!(!login.contains("Forgot password?"), "{login}");
    let res = app.client.get(app.url("/password/forgot")).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

fn set_args(org: &str, logo: Option<std::path::PathBuf>) -> SetArgs {
    SetArgs {
        target: Target { org: org.into(), product: Some("demo-app".into()) },
        name: Some("Acme Studio".into()),
        logo,
        no_logo: false,
        primary_color: Some("#6cb0ff".into()),
        text_color: None,
        support_url: Some("https://support.example.com/".into()),
        privacy_url: None,
    }
}

async fn logo_of_wrong_type_or_size_is_refused(app: TestApp) {
    let (store, now) = (&app.state.store, app.state.now());
    let org = store.find_client(&app.demo.client_id).await.unwrap().unwrap().organization_id.clone();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let svg = write("logo.png", b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"></svg>");
    let gif = write("logo.gif", b"GIF89a\x01\x00\x01\x00");
    let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
    big.resize(300 * 1024, 7);
    let big = write("big.png", &big);
    for (path, why) in [(svg, "SVG"), (gif, "not a PNG or JPEG"), (big, "at most")] {
        let err =
            keyway::cli::branding::run(store, BrandingCmd::Set(set_args(&org, Some(path))), now).await.unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
    }
    assert!(store
        .find_branding(&org, &store.find_client(&app.demo.client_id).await.unwrap().unwrap().id)
        .await
        .unwrap()
        .is_none());
    // A low-contrast text colour is refused too.
    let mut low = set_args(&org, None);
    low.text_color = Some("#ffffff".into());
    let err = keyway::cli::branding::run(store, BrandingCmd::Set(low), now).await.unwrap_err();
    assert!(err.to_string().contains("contrast"), "{err}");

    // A real PNG is taken, served at its content hash for a year, and shown on the product's login page.
    let png = write("logo.png", &tiny_png());
    keyway::cli::branding::run(store, BrandingCmd::Set(set_args(&org, Some(png))), now).await.unwrap();
    let page = app.login_page(&app.authorize_url("response_type=code&scope=openid")).await;
    assert!(page.contains("Acme Studio") && page.contains("https://support.example.com/"), "{page}");
    let start = page.find("/branding/logo/").expect("logo URL");
    let logo_url = &page[start..start + page[start..].find('"').unwrap()];
    let res = app.client.get(app.url(logo_url)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(res.bytes().await.unwrap().as_ref(), tiny_png().as_slice());
    // #6cb0ff got black text (white would be 2.3:1).
    assert!(page.contains("/branding/theme/6cb0ff-000000.css"), "{page}");
    let css = app.client.get(app.url("/branding/theme/6cb0ff-ffffff.css")).send().await.unwrap();
    assert_eq!(css.status(), 404, "a pair below 4.5:1 is never served");
}

/// Issue 17 item 5: a sign-in whose license has no free seat gets a notice (continue, or free a seat in the
/// portal) instead of the redirect; with a seat free, the redirect comes at once.
async fn full_license_gets_a_seat_notice_after_sign_in(app: TestApp) {
    use crate::helpers::VERIFIER;
    let browser = app.new_browser();
    assert_eq!(sign_in(&app, &browser, &app.demo.user_email, &app.demo.user_password).await, Signed::In, "seat free");
    app.state.store.set_license_max_activations(app.demo.license_id, 1).await.unwrap();
    let code = app.next_code().await;
    let res = app
        .activate(serde_json::json!({
            "product": "demo-app", "hardware_id": "seat-notice-hw-1", "customer_account_code": "demo-customer",
            "code": code, "redirect_uri": app.demo.redirect_uri, "code_verifier": VERIFIER,
        }))
        .await;
    assert_eq!(res.status(), 200);
    let browser = app.new_browser();
    let page = crate::lockout::login_page(&app, &browser).await;
    let res = crate::lockout::post_login(&app, &browser, &page, &app.demo.user_email, &app.demo.user_password).await;
    assert_eq!(res.status(), 200, "the notice instead of the redirect");
    assert!(res.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("kw_session=")));
    let html = res.text().await.unwrap();
    assert!(html.contains("All seats are in use") && html.contains("1 of 1 devices"), "{html}");
    let start = html.find("id=\"seat-continue\" href=\"").unwrap() + "id=\"seat-continue\" href=\"".len();
    let cont = html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&");
    assert!(cont.starts_with(&app.demo.redirect_uri) && cont.contains("code="), "{cont}");
    assert!(html.contains("href=\"/account?org="), "{html}");
}

/// A 1x1 PNG.
pub fn tiny_png() -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
        .unwrap()
}

dual!(
    reset_link_reused_expired_superseded_and_bound_to_its_user,
    forgot_password_answers_alike_for_unknown_addresses,
    forgot_password_hides_itself_without_smtp,
    forgot_password_is_limited_per_address_and_per_client,
    logo_of_wrong_type_or_size_is_refused,
    full_license_gets_a_seat_notice_after_sign_in,
    password_change_checks_the_current_password_under_the_lockout,
    handler_error_pages_speak_the_browsers_language,
    failed_forms_say_so_in_the_title_and_the_portal_names_what_it_signs_in_to,
    a_reset_unlocks_the_users_own_browser_too,
);

/// The user's own browser (device token) locked by their own typos: a password reset starts its count over with
/// the address's, so the new password signs in there at once (it stayed locked until the lock's end), while a
/// stranger's counts are gone as well.
async fn a_reset_unlocks_the_users_own_browser_too(app: TestApp) {
    let (s, now) = (&app.state, app.state.now());
    let email = app.demo.user_email.clone();
    let own = app.new_browser();
    assert_eq!(sign_in(&app, &own, &email, &app.demo.user_password).await, Signed::In);
    for _ in 0..s.config.lockout_device_threshold {
        assert_eq!(sign_in(&app, &own, &email, "typo").await, Signed::Failed);
    }
    assert_eq!(sign_in(&app, &own, &email, &app.demo.user_password).await, Signed::Locked);
    let link = recovery::issue_link(&s.store, &s.config.issuer, &demo_user(&app).await, LinkKind::Reset, None, now)
        .await
        .unwrap();
    let new_pw = "after-the-reset-1";
    let (status, page) = use_link(&app, &app.new_browser(), &token_of(&link), new_pw).await;
    assert!(status == 200 && page.contains("Your password has been changed"), "{status}: {page}");
    assert_eq!(sign_in(&app, &own, &email, new_pw).await, Signed::In, "the user's own browser, right after the reset");
}

/// A form that comes back with an error says "Error:" first in its title, the first thing a screen reader announces
/// (WCAG technique G199), in the page's language; the portal's sign-in names the vendor of its portal link (their
/// branding's name), else "your license portal", instead of its own page title ("Sign in to Your licenses").
async fn failed_forms_say_so_in_the_title_and_the_portal_names_what_it_signs_in_to(app: TestApp) {
    let b = app.new_browser();
    let page = crate::lockout::login_page(&app, &b).await;
    assert!(page.contains("<title>Sign in · keyway</title>"), "{page}");
    let res = crate::lockout::post_login(&app, &b, &page, &app.demo.user_email, "wrong password").await;
    assert!(res.text().await.unwrap().contains("<title>Error: Sign in · keyway</title>"));
    assert_eq!(sign_in(&app, &b, &app.demo.user_email, &app.demo.user_password).await, Signed::In);
    let (status, page) = change_password(&app, &b, "x", "short", "short").await;
    assert_eq!(status, 400);
    assert!(page.contains("<title>Error: Change password · keyway</title>"), "{page}");

    let german = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .default_headers([(reqwest::header::ACCEPT_LANGUAGE, "de".parse().unwrap())].into_iter().collect())
        .build()
        .unwrap();
    let page = crate::lockout::login_page(&app, &german).await;
    let res = crate::lockout::post_login(&app, &german, &page, &app.demo.user_email, "falsch").await;
    assert!(res.text().await.unwrap().contains("<title>Fehler: Anmelden · keyway</title>"));
    let page = german.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Anmelden bei <strong>Ihrem Lizenzportal</strong>"), "{page}");

    let page = b.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign in to <strong>your license portal</strong>"), "{page}");
    let (store, now) = (&app.state.store, app.state.now());
    let org = store.find_client(&app.demo.client_id).await.unwrap().unwrap().organization_id.clone();
    let mut args = set_args(&org, None);
    args.target.product = None;
    keyway::cli::branding::run(store, BrandingCmd::Set(args), now).await.unwrap();
    let page = b.get(app.url(&format!("/login?org={org}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign in to <strong>Acme Studio</strong>"), "{page}");
}

/// The error pages handlers write themselves (a malformed or used sign-in link, an unknown device, a malformed
/// federation start) are in the browser's language like the rest of the hosted UI (docs/ACCESSIBILITY.md listed them
/// as English only).
async fn handler_error_pages_speak_the_browsers_language(app: TestApp) {
    let get = |path: &str, lang: &str, browser: &reqwest::Client| {
        let req = browser.get(app.url(path)).header("accept-language", lang);
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let b = app.new_browser();
    let cases = [
        ("/sso", 400, "The sign-in link is malformed.", "Der Anmeldelink ist fehlerhaft."),
        (
            "/sso?nonce=never-issued",
            400,
            "This sign-in link is invalid, has expired or was already used.",
            "Dieser Anmeldelink ist ungültig, abgelaufen oder wurde bereits verwendet.",
        ),
        ("/federation/start", 400, "The sign-in link is malformed.", "Der Anmeldelink ist fehlerhaft."),
    ];
    for (path, status, en, de) in cases {
        let (s, page) = get(path, "en", &b).await;
        assert!(s == status && page.contains(en), "{path} in English: {s} {page}");
        let (s, page) = get(path, "de-DE,de;q=0.9", &b).await;
        assert!(s == status && page.contains(de) && !page.contains(en), "{path} in German: {s} {page}");
    }
    assert_eq!(sign_in(&app, &b, &app.demo.user_email, &app.demo.user_password).await, Signed::In);
    let (s, page) = get("/account/devices/999999/deactivate", "de", &b).await;
    assert!(s == 404 && page.contains("Dieses aktive Gerät gibt es nicht."), "{s} {page}");
    let (s, page) = get("/account/devices/not-a-number/deactivate", "en", &b).await;
    assert!(s == 404 && page.contains("No such active device."), "{s} {page}");
}

/// Posts the portal's password change form from `browser`; (status, page).
async fn change_password(
    app: &TestApp,
    browser: &reqwest::Client,
    current: &str,
    new: &str,
    confirm: &str,
) -> (u16, String) {
    let page = browser.get(app.url("/account/password")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csrf = hidden(&page.text().await.unwrap(), "csrf_token").unwrap();
    let form = [
        ("csrf_token", csrf.as_str()),
        ("current_password", current),
        ("new_password", new),
        ("confirm_password", confirm),
    ];
    let res = browser.post(app.url("/account/password")).form(&form).send().await.unwrap();
    let status = res.status().as_u16();
    let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_string());
    (status, location.unwrap_or(res.text().await.unwrap()))
}

/// The portal's password change: the new password's rules; the current password checked through the one password
/// path, so wrong guesses count toward the browser's lockout (ten for a browser the user signed in with) and, once
/// locked, even the right one is not checked and nothing changes; after the lock the change goes through, the user's
/// other sessions end, and only the new password signs in.
async fn password_change_checks_the_current_password_under_the_lockout(app: TestApp) {
    let (email, pw) = (app.demo.user_email.clone(), app.demo.user_password.clone());
    let new_pw = "a-brand-new-password-2";
    let (b, other) = (app.new_browser(), app.new_browser());
    assert_eq!(sign_in(&app, &b, &email, &pw).await, Signed::In);
    assert_eq!(sign_in(&app, &other, &email, &pw).await, Signed::In);

    let (status, page) = change_password(&app, &b, &pw, new_pw, "something else").await;
    assert_eq!(status, 400);
    assert!(page.contains("The two passwords are not the same."), "{page}");
    let (status, page) = change_password(&app, &b, &pw, "short", "short").await;
    assert_eq!(status, 400);
    assert!(page.contains("at least 8 characters"), "{page}");

    for i in 0..app.state.config.lockout_device_threshold {
        let (status, page) = change_password(&app, &b, &format!("guess {i}"), new_pw, new_pw).await;
        assert_eq!(status, 400);
        assert!(page.contains("The current password is not correct."), "guess {i}: {page}");
    }
    let (status, page) = change_password(&app, &b, &pw, new_pw, new_pw).await;
    assert_eq!(status, 400);
    assert!(page.contains("Too many failed sign-in attempts"), "locked, the right password not checked: {page}");
    assert_eq!(sign_in(&app, &app.new_browser(), &email, &pw).await, Signed::In, "the password did not change");

    app.clock.advance(app.state.config.lockout_seconds + 1);
    let (status, location) = change_password(&app, &b, &pw, new_pw, new_pw).await;
    assert_eq!((status, location.as_str()), (303, "/account?notice=password"));
    let res = other.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), 303, "the user's other session ended");
    assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), 200, "the one that asked stays");
    assert_eq!(sign_in(&app, &app.new_browser(), &email, &pw).await, Signed::Failed);
    assert_eq!(sign_in(&app, &app.new_browser(), &email, new_pw).await, Signed::In);
}
