//! Issue 17 in headless Chromium (tests/browser/ui_recovery.py): branded login, the forgot-password round trip with
//! the mail read from a real SMTP server started here (tests/browser/smtp_sink.py, aiosmtpd), the lockout page,
//! the localized error page and the portal's deactivation with its confirmation. Screenshots at desktop and phone
//! size in target/test-artifacts/ui-recovery/ui-*.png.
use std::process::Stdio;

use keyway::cli::branding::{BrandingCmd, SetArgs, Target};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::external::{artifacts_dir, repo_path, run_script};
use crate::helpers::{spawn_app_with, Db, TestApp};
use crate::recovery::tiny_png;

/// A real SMTP server process (aiosmtpd) writing each message to `dir`; killed when dropped.
pub struct SmtpSink {
    pub port: u16,
    _child: tokio::process::Child,
}

pub async fn start_smtp_sink(dir: &str) -> SmtpSink {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = tokio::process::Command::new("python3")
        .arg(repo_path("tests/browser/smtp_sink.py"))
        .arg(port.to_string())
        .arg(dir)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 smtp_sink.py starts (aiosmtpd from .ci/install-deps.sh)");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line()).await;
    assert!(matches!(ready, Ok(Ok(Some(ref l))) if l == "ready"), "the SMTP sink did not start: {ready:?}");
    SmtpSink { port, _child: child }
}

pub async fn spawn_with_smtp(db: Db, port: u16) -> TestApp {
    spawn_app_with(db, |c| {
        c.smtp_host = Some("127.0.0.1".into());
        c.smtp_port = Some(port);
        c.smtp_tls = keyway::mail::SmtpTls::None;
        c.smtp_from = Some("Acme Studio <noreply@example.com>".into());
    })
    .await
}

/// Brands the demo product and gives the demo license an active device.
pub async fn brand_and_activate(app: &TestApp) -> String {
    let client = app.state.store.find_client(&app.demo.client_id).await.unwrap().unwrap();
    let org = client.organization_id.clone();
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.png");
    std::fs::write(&logo, tiny_png()).unwrap();
    let args = SetArgs {
        target: Target { org: org.clone(), product: Some(client.short_code.clone()) },
        name: Some("Acme Studio".into()),
        logo: Some(logo),
        no_logo: false,
        primary_color: Some("#7b2d8b".into()),
        text_color: None,
        support_url: Some("https://support.example.com/".into()),
        privacy_url: Some("https://example.com/privacy".into()),
    };
    keyway::cli::branding::run(&app.state.store, BrandingCmd::Set(args), app.state.now()).await.unwrap();
    crate::ui_a11y::activate_a_long_named_device(app).await;
    org
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_branded_login_forgot_password_via_real_smtp_lockout_error_and_portal_deactivation() {
    let out = artifacts_dir("ui-recovery");
    let mail_dir = tempfile::tempdir().unwrap();
    let sink = start_smtp_sink(&mail_dir.path().display().to_string()).await;
    let app = spawn_with_smtp(Db::Sqlite, sink.port).await;
    let org = brand_and_activate(&app).await;
    let r = run_script(
        &app,
        "python3",
        "tests/browser/ui_recovery.py",
        "ui",
        &[
            ("KW_ARTIFACTS", out.clone()),
            ("KW_MAIL_DIR", mail_dir.path().display().to_string()),
            ("KW_BRAND_NAME", "Acme Studio".into()),
            ("KW_ORG", org),
        ],
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    for step in ["branded-login", "forgot", "forgot-sent", "reset", "reset-done", "lockout", "error-de", "portal"]
        .into_iter()
        .chain(["deactivate-confirm", "deactivated"])
    {
        for size in ["desktop", "phone"] {
            let shot = std::path::Path::new(&out).join(format!("ui-{step}-{size}.png"));
            let len = std::fs::metadata(&shot).unwrap_or_else(|_| panic!("{} missing", shot.display())).len();
            assert!(len > 1000, "{} is empty", shot.display());
        }
    }
    // The seat is free again.
    let license = app.state.store.find_license(app.demo.license_id).await.unwrap().unwrap();
    assert_eq!(license.times_activated, 0);
}

/// axe-core on every page issue 17 added, branded, in both themes at desktop and phone size (as ui_a11y.rs does
/// for the others): no serious or critical violation, visible focus, no sideways scrolling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_axe_recovery_lockout_error_and_portal_pages_in_both_themes() {
    use keyway::auth::recovery::{self, LinkKind};
    let mail_dir = tempfile::tempdir().unwrap();
    let sink = start_smtp_sink(&mail_dir.path().display().to_string()).await;
    let app = spawn_with_smtp(Db::Sqlite, sink.port).await;
    let _org = brand_and_activate(&app).await;
    let (s, now) = (&app.state, app.state.now());
    let a = s.store.find_customer_accounts_by_code("demo-customer").await.unwrap().remove(0);
    let user = s.store.find_user_by_email(&a.id, &app.demo.user_email).await.unwrap().unwrap();
    let cid = Some(app.demo.client_id.as_str());
    let reset = recovery::issue_link(&s.store, &s.config.issuer, &user, LinkKind::Reset, cid, now).await.unwrap();
    let verify = recovery::issue_link(&s.store, &s.config.issuer, &user, LinkKind::Verify, cid, now).await.unwrap();
    // An address (unknown to keyway) locked by five wrong passwords: the sixth attempt gets the lockout page.
    let browser = app.new_browser();
    for _ in 0..5 {
        crate::lockout::sign_in(&app, &browser, "locked-out@example.com", "wrong").await;
    }
    let login = app.authorize_url("response_type=code&scope=openid&state=axe");
    let forgot = app.url(&format!("/password/forgot?client_id={}", app.demo.client_id));
    let bad_link = app.url(&format!(
        "/oauth2/authorize?client_id={}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code",
        app.demo.client_id
    ));
    let device = s.store.active_devices(app.demo.license_id).await.unwrap()[0].id;
    // The second-factor pages: a user with an authenticator app gets the challenge after the password; a user of an
    // account that requires MFA and has none, the enrolment.
    let org = s.store.find_organization("Demo Vendor").await.unwrap().unwrap().id;
    let hash = s.passwords.hash("second-factor-pw").await.unwrap();
    let with_totp = keyway::admin::UserSpec {
        email: "totp-user@example.com".into(),
        name: "TOTP".into(),
        password_hash: Some(hash.clone()),
        external_customer_no: None,
        account_admin: false,
    };
    let totp_user = keyway::admin::create_user(&s.store, &a, with_totp, now).await.unwrap();
    assert!(s.store.insert_totp(&totp_user.id, &[7u8; 20], 0, now).await.unwrap());
    let strict = s.store.create_customer_account(&org, "mfa-required", "MFA Required", now).await.unwrap();
    let policy = keyway::store::mfa::MfaPolicy { required: true, after_idp: false };
    s.store.set_mfa_policy(&strict.id, policy, now).await.unwrap();
    let to_enrol = keyway::admin::UserSpec {
        email: "enrol-user@example.com".into(),
        name: "Enrol".into(),
        password_hash: Some(hash),
        external_customer_no: None,
        account_admin: false,
    };
    keyway::admin::create_user(&s.store, &strict, to_enrol, now).await.unwrap();
    let strict_login = login.replace("customer_account_code=demo-customer", "customer_account_code=mfa-required");
    // The seat notice: a user whose only license of the product has every seat taken.
    let full = s.store.create_customer_account(&org, "full-seats", "Full Seats", now).await.unwrap();
    let seat_user = keyway::admin::UserSpec {
        email: "full-seats@example.com".into(),
        name: "Full".into(),
        password_hash: Some(s.passwords.hash("full-seats-pw").await.unwrap()),
        external_customer_no: None,
        account_admin: false,
    };
    keyway::admin::create_user(&s.store, &full, seat_user, now).await.unwrap();
    let product = s.store.find_client(&app.demo.client_id).await.unwrap().unwrap();
    let one_seat = keyway::admin::LicenseSpec {
        max_activations: 1,
        license_type: "perpetual".into(),
        user_emails: vec![],
        key: None,
        expires_at: None,
        trial: false,
    };
    keyway::admin::create_license(&s.store, &product, &full, one_seat, now).await.unwrap();
    let res = app
        .activate(json!({"product": "demo-app", "hardware_id": "the-only-seat", "username": "full-seats@example.com",
            "password": "full-seats-pw"}))
        .await;
    assert_eq!(res.status(), 200, "the one seat taken");
    let full_login = login.replace("customer_account_code=demo-customer", "customer_account_code=full-seats");
    let pages = json!([
        {"name": "branded-login", "url": login, "expect_text": "Acme Studio"},
        {"name": "forgot", "url": forgot, "expect_text": "Reset your password"},
        {"name": "forgot-sent", "url": forgot, "form": {"email": "someone@example.com"}, "expect_text": "Check your e-mail"},
        {"name": "reset", "url": reset, "expect_text": "Choose a new password"},
        {"name": "reset-invalid", "url": app.url("/password/reset?token=nope"), "expect_text": "not valid any more"},
        {"name": "verify", "url": verify, "expect_text": "Confirm your e-mail address"},
        {"name": "lockout", "url": login, "form": {"email": "locked-out@example.com", "password": "x"},
         "expect_text": "Sign-in paused"},
        {"name": "mfa-challenge", "url": login,
         "form": {"email": "totp-user@example.com", "password": "second-factor-pw"},
         "expect_text": "Enter the 6-digit code"},
        {"name": "seat-notice", "url": full_login,
         "form": {"email": "full-seats@example.com", "password": "full-seats-pw"},
         "expect_text": "All seats are in use"},
        {"name": "mfa-enrol", "url": strict_login,
         "form": {"email": "enrol-user@example.com", "password": "second-factor-pw"},
         "expect_text": "Scan the QR code"},
        {"name": "error-friendly", "url": bad_link, "expect_text": "This sign-in link is not valid"},
        {"name": "error-friendly-de", "url": format!("{bad_link}&lang=de"), "expect_text": "Dieser Anmeldelink"},
        {"name": "portal", "url": app.url("/account?notice=deactivated&lang=en"), "signed_in": true,
         "expect_text": "License key"},
        {"name": "deactivate-confirm", "url": app.url(&format!("/account/devices/{device}/deactivate")),
         "signed_in": true, "expect_text": "Deactivate device?"},
        {"name": "password-change", "url": app.url("/account/password"), "signed_in": true,
         "expect_text": "Current password"},
        {"name": "security", "url": app.url("/account/security"), "signed_in": true,
         "expect_text": "Sign-in security"},
    ]);
    let dir = artifacts_dir("a11y-ui-recovery");
    let r = run_script(
        &app,
        "python3",
        "tests/browser/axe_check.py",
        "axe",
        &[("KW_PAGES", pages.to_string()), ("KW_LOGIN_URL", login.clone()), ("KW_ARTIFACTS", dir.clone())],
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["violations"], json!([]), "{r}");
    let checked = r["checked"].as_array().expect("checked");
    assert_eq!(checked.len(), pages.as_array().unwrap().len() * 4, "every page in both themes and sizes: {r}");
    let login_order = checked.iter().find(|c| c["page"] == "branded-login").unwrap()["focus_order"].as_array().unwrap();
    let order: Vec<&str> = login_order.iter().map(|s| s.as_str().unwrap()).collect();
    crate::ui_a11y::assert_login_focus_order(&order);
}
