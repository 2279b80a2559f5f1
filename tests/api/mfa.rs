//! Multi-factor authentication (issue 17 items 3, 4) on both backends: TOTP enrolment forced by the account policy,
//! codes computed here by an independent RFC 6238 implementation (HMAC-SHA1 and RFC 4226 §5.3 truncation written
//! out below, not keyway's totp-rs), replay refusal, the wrong-code lockout, single-use recovery codes, no code by
//! any path before the second factor, `acr_values` step-up, `amr`/`acr` in the id_token, a passkey of one user
//! refused for another, and the recent sign-in that changes to the factors need (`reauth_seconds`).
use hmac::{Hmac, Mac};

use crate::dual;
use crate::helpers::{hidden, jwt_claims, query_param, TestApp, CHALLENGE};

dual!(
    required_policy_forces_enrolment_and_codes_are_single_use,
    wrong_codes_lock_the_second_factor,
    no_code_by_any_path_before_the_second_factor,
    acr_values_step_up_and_claims,
    license_api_password_alone_is_refused_under_mfa,
    factor_changes_need_a_recent_sign_in,
    signing_in_again_asks_for_the_second_factor_too
);

/// WebAuthn needs a domain as RP id (an IP address is none): this test's issuer is `http://localhost:<port>`.
mod passkey_of_another_user_is_refused {
    use crate::helpers::{spawn_app_with, Db};
    fn localhost(c: &mut keyway::config::Config) {
        c.issuer = c.issuer.replace("127.0.0.1", "localhost");
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::passkey_of_another_user_is_refused(spawn_app_with(Db::Sqlite, localhost).await).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::passkey_of_another_user_is_refused(spawn_app_with(Db::Postgres, localhost).await).await
    }
}

/// WebAuthn needs a domain as RP id: the issuer is `http://localhost:<port>`.
mod passkey_enrolment_only_without_a_factor {
    use crate::helpers::{spawn_app_with, Db};
    fn localhost(c: &mut keyway::config::Config) {
        c.issuer = c.issuer.replace("127.0.0.1", "localhost");
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::passkey_enrolment_only_without_a_factor(spawn_app_with(Db::Sqlite, localhost).await).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::passkey_enrolment_only_without_a_factor(spawn_app_with(Db::Postgres, localhost).await).await
    }
}

/// RFC 4648 base32 (upper case, spaces ignored, no padding).
pub(crate) fn base32_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut acc, mut out) = (0u32, 0u64, Vec::new());
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = A.iter().position(|x| *x == c.to_ascii_uppercase()).expect("base32 digit") as u64;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// RFC 6238 TOTP (SHA-1, 30 s, 6 digits) as RFC 4226 §5.3 defines the truncation.
pub(crate) fn totp(secret: &[u8], unix: i64) -> String {
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret).unwrap();
    mac.update(&((unix / 30) as u64).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = (h[19] & 0xf) as usize;
    let bin =
        (u32::from(h[o] & 0x7f) << 24) | (u32::from(h[o + 1]) << 16) | (u32::from(h[o + 2]) << 8) | u32::from(h[o + 3]);
    format!("{:06}", bin % 1_000_000)
}

#[test]
fn independent_totp_matches_rfc6238_appendix_b() {
    // RFC 6238 Appendix B (SHA-1): T = 59 → 94287082, T = 1111111109 → 07081804 (last six digits).
    assert_eq!(totp(b"12345678901234567890", 59), "287082");
    assert_eq!(totp(b"12345678901234567890", 1111111109), "081804");
    assert_eq!(base32_decode("GEZDGNBVGY3TQOJQ"), b"1234567890");
}

pub(crate) fn manual_key(html: &str) -> String {
    let start = html.find("id=\"manual-key\">").expect("manual key") + "id=\"manual-key\">".len();
    html[start..].split('<').next().unwrap().to_string()
}

fn recovery_codes(html: &str) -> Vec<String> {
    html.split("<li><code>").skip(1).map(|s| s.split('<').next().unwrap().to_string()).collect()
}

fn auth_url(app: &TestApp, extra: &str) -> String {
    app.authorize_url(&format!(
        "response_type=code&scope=openid%20email&state=s1&nonce=n1&code_challenge={CHALLENGE}&\
         code_challenge_method=S256{extra}"
    ))
}

async fn set_policy(app: &TestApp, required: bool, after_idp: bool) {
    let account =
        app.state.store.find_customer_account_by_code(&demo_org(app).await, "demo-customer").await.unwrap().unwrap();
    let p = keyway::store::mfa::MfaPolicy { required, after_idp };
    app.state.store.set_mfa_policy(&account.id, p, app.clock.now()).await.unwrap();
}

async fn demo_org(app: &TestApp) -> String {
    app.state.store.find_organization("Demo Vendor").await.unwrap().unwrap().id
}

/// Password sign-in in `browser`; asserts it stops at the second factor (no code, no session) and returns nothing.
async fn password_then_second_factor(app: &TestApp, browser: &reqwest::Client, url: &str, email: &str, pw: &str) {
    let page = browser.get(url).send().await.unwrap().text().await.unwrap();
    let form = [
        ("csrf_token", hidden(&page, "csrf_token").unwrap()),
        ("authz", hidden(&page, "authz").unwrap()),
        ("email", email.to_string()),
        ("password", pw.to_string()),
    ];
    let res = browser.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login/mfa", "the password alone issues nothing");
    assert!(
        !res.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("kw_session=")),
        "no session before the second factor"
    );
}

async fn post_form(browser: &reqwest::Client, url: String, form: &[(&str, &str)]) -> reqwest::Response {
    browser.post(url).form(form).send().await.unwrap()
}

/// Enrols TOTP in the pending sign-in of `browser`: the secret, the recovery codes, and the final redirect.
async fn enrol(app: &TestApp, browser: &reqwest::Client) -> (Vec<u8>, Vec<String>, String) {
    let page = browser.get(app.url("/login/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<svg"), "server-side QR code inline");
    let secret = base32_decode(&manual_key(&page));
    let csrf = hidden(&page, "csrf_token").unwrap();
    let res = post_form(browser, app.url("/login/mfa/enrol"), &[("csrf_token", &csrf), ("code", "000000")]).await;
    assert_eq!(res.status(), 400, "a wrong first code does not confirm");
    let code = totp(&secret, app.clock.now());
    let res = post_form(browser, app.url("/login/mfa/enrol"), &[("csrf_token", &csrf), ("code", &code)]).await;
    assert_eq!(res.status(), 200);
    let codes = recovery_codes(&res.text().await.unwrap());
    assert_eq!(codes.len(), 10, "ten recovery codes");
    let res = post_form(browser, app.url("/login/mfa/continue"), &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), 303);
    (secret, codes, res.headers()["location"].to_str().unwrap().to_string())
}

/// Submits a code at the challenge of `browser`; the response.
async fn submit_code(app: &TestApp, browser: &reqwest::Client, code: &str) -> reqwest::Response {
    let page = browser.get(app.url("/login/mfa")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&page, "csrf_token").expect("challenge page");
    post_form(browser, app.url("/login/mfa"), &[("csrf_token", &csrf), ("code", code)]).await
}

fn code_of(location: &str) -> String {
    query_param(location, "code").unwrap_or_else(|| panic!("a code in {location}"))
}

async fn required_policy_forces_enrolment_and_codes_are_single_use(app: TestApp) {
    set_policy(&app, true, false).await;
    let (email, pw) = (app.demo.user_email.clone(), app.demo.user_password.clone());
    let url = auth_url(&app, "");
    password_then_second_factor(&app, &app.client, &url, &email, &pw).await;
    let (secret, codes, location) = enrol(&app, &app.client).await;
    let tokens = app.redeem(&code_of(&location)).await;
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "urn:keyway:mfa");
    // Stored sealed with the KEK and bound to the user (issue 15), never as the secret itself.
    let rec = app.state.store.find_totp(claims["sub"].as_str().unwrap()).await.unwrap().expect("the enrolment");
    assert!(keyway::crypto::kek::is_sealed(&rec.secret_enc));
    assert_eq!(app.state.store.open_totp_secret(&rec).unwrap().as_ref(), Some(&secret));

    // A second browser: the code of the step just used is refused (RFC 6238 §5.2), the next step's accepted.
    let b = app.new_browser();
    password_then_second_factor(&app, &b, &url, &email, &pw).await;
    let used = totp(&secret, app.clock.now());
    let res = submit_code(&app, &b, &used).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("can be used only once"), "replay refused");
    app.clock.advance(30);
    let res = submit_code(&app, &b, &totp(&secret, app.clock.now())).await;
    assert_eq!(res.status(), 303);
    code_of(res.headers()["location"].to_str().unwrap());

    // A recovery code signs in once.
    let c = app.new_browser();
    password_then_second_factor(&app, &c, &url, &email, &pw).await;
    let res = submit_code(&app, &c, &codes[3].to_uppercase()).await;
    assert_eq!(res.status(), 303, "recovery code accepted (case-insensitive)");
    code_of(res.headers()["location"].to_str().unwrap());
    let d = app.new_browser();
    password_then_second_factor(&app, &d, &url, &email, &pw).await;
    let res = submit_code(&app, &d, &codes[3]).await;
    assert_eq!(res.status(), 200, "a used recovery code is refused");
}

async fn wrong_codes_lock_the_second_factor(app: TestApp) {
    set_policy(&app, true, false).await;
    let (email, pw) = (app.demo.user_email.clone(), app.demo.user_password.clone());
    let url = auth_url(&app, "");
    password_then_second_factor(&app, &app.client, &url, &email, &pw).await;
    let (secret, _, _) = enrol(&app, &app.client).await;
    app.clock.advance(30);
    let b = app.new_browser();
    password_then_second_factor(&app, &b, &url, &email, &pw).await;
    let threshold = app.state.config.lockout_threshold;
    for _ in 0..threshold {
        let res = submit_code(&app, &b, "123456").await;
        assert_eq!(res.status(), 200);
    }
    let res = submit_code(&app, &b, &totp(&secret, app.clock.now())).await;
    assert_eq!(res.status(), 200, "the right code is not even checked while locked");
    assert!(res.text().await.unwrap().contains("Too many wrong codes"));
    // The lock ends; the right code then passes.
    app.clock.advance(app.state.config.lockout_seconds + 30);
    let c = app.new_browser();
    password_then_second_factor(&app, &c, &url, &email, &pw).await;
    let res = submit_code(&app, &c, &totp(&secret, app.clock.now())).await;
    assert_eq!(res.status(), 303);
}

async fn no_code_by_any_path_before_the_second_factor(app: TestApp) {
    // A session from before the policy: the next authorization steps up instead of issuing a code.
    let url = auth_url(&app, "");
    let loc = app.login(&url).await;
    code_of(&loc);
    set_policy(&app, true, false).await;
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login/mfa", "step-up, not a code");
    let res = app.client.get(auth_url(&app, "&prompt=none")).send().await.unwrap();
    assert!(query_param(res.headers()["location"].to_str().unwrap_or(""), "code").is_none(), "prompt=none: no code");

    // Password, then trying to skip enrolment: continue without a confirmed factor, or another authorize.
    let b = app.new_browser();
    password_then_second_factor(&app, &b, &url, &app.demo.user_email, &app.demo.user_password).await;
    let page = b.get(app.url("/login/mfa")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&page, "csrf_token").unwrap();
    let res = post_form(&b, app.url("/login/mfa/continue"), &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), 400, "continue without a passed factor");
    let res = post_form(&b, app.url("/login/mfa"), &[("csrf_token", &csrf), ("code", "000000")]).await;
    assert!(res.headers().get("location").is_none(), "a code for a user without TOTP is refused");
    let res = b.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200, "no session: the login page again");
    // The portal is no way around it either.
    let res = b.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.headers()["location"], "/login");
    // The pending state is short-lived and bound to its browser cookie.
    app.clock.advance(301);
    let res = b.get(app.url("/login/mfa")).send().await.unwrap();
    assert_eq!(res.status(), 400, "expired");
}

async fn acr_values_step_up_and_claims(app: TestApp) {
    let disco: serde_json::Value =
        app.client.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(disco["acr_values_supported"].as_array().unwrap().iter().any(|v| v == "urn:keyway:mfa"));
    let loc = app.login(&auth_url(&app, "")).await;
    let claims = jwt_claims(app.redeem(&code_of(&loc)).await["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["acr"], "urn:keyway:sfa");
    // The same session, now asked for MFA: step-up (here an enrolment, the user has no factor yet).
    let res = app.client.get(auth_url(&app, "&acr_values=urn%3Akeyway%3Amfa")).send().await.unwrap();
    assert_eq!(res.headers()["location"], "/login/mfa");
    let (_, _, loc) = enrol(&app, &app.client).await;
    let claims = jwt_claims(app.redeem(&code_of(&loc)).await["id_token"].as_str().unwrap());
    assert_eq!(claims["acr"], "urn:keyway:mfa");
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    // The session now has MFA: asking again issues at once.
    let res = app.client.get(auth_url(&app, "&acr_values=urn%3Akeyway%3Amfa")).send().await.unwrap();
    code_of(res.headers()["location"].to_str().unwrap());
}

async fn passkey_of_another_user_is_refused(app: TestApp) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let store = &app.state.store;
    let account = store.find_customer_account_by_code(&demo_org(&app).await, "demo-customer").await.unwrap().unwrap();
    let a = store.find_user_by_email(&account.id, &app.demo.user_email).await.unwrap().unwrap();
    let hash = app.state.passwords.hash("b-password-123").await.unwrap();
    let spec = keyway::admin::UserSpec {
        email: "b@example.com".into(),
        name: "B".into(),
        password_hash: Some(hash),
        external_customer_no: None,
        account_admin: false,
    };
    let b_user = keyway::admin::create_user(store, &account, spec, app.clock.now()).await.unwrap();
    // A's credential (its stored form is never reached: the owner check refuses it first).
    let a_cred = URL_SAFE_NO_PAD.encode(b"credential-of-user-a");
    let rec = keyway::store::mfa::PasskeyRecord {
        credential_id: a_cred.clone(),
        license_user_id: a.id.clone(),
        name: "key".into(),
        passkey: "{}".into(),
        created_at: app.clock.now(),
        last_used_at: None,
    };
    store.insert_passkey(&rec).await.unwrap();
    let assertion = |handle: &str| {
        serde_json::json!({
            "id": a_cred, "rawId": a_cred, "type": "public-key", "extensions": {},
            "response": {"authenticatorData": "AAAA", "clientDataJSON": "e30", "signature": "AAAA", "userHandle": handle}
        })
        .to_string()
    };
    let url = auth_url(&app, "");
    let b_handle = URL_SAFE_NO_PAD.encode(keyway::auth::mfa::passkey::user_handle(&b_user.id).as_bytes());
    // Passwordless: A's credential presented under B's user handle.
    let page = app.client.get(&url).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&page, "csrf_token").unwrap();
    let res = post_form(&app.client, app.url("/login/passkey/options"), &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), 200);
    let options: serde_json::Value = res.json().await.unwrap();
    assert_eq!(options["publicKey"]["rpId"], "localhost", "RP id from the issuer host");
    assert_eq!(options["publicKey"]["userVerification"], "required");
    let res = post_form(
        &app.client,
        app.url("/login/passkey"),
        &[("csrf_token", &csrf), ("credential", &assertion(&b_handle))],
    )
    .await;
    assert_eq!(res.status(), 400, "a credential is not another user's");
    assert!(res.headers().get("location").is_none());
}

/// Headless Chromium (tests/browser/mfa_flow.py): TOTP enrolment and sign-in with pyotp codes, replay refused,
/// recovery code, passkey registration and passwordless and second-factor sign-in on a virtual authenticator; the
/// id_tokens verified by Authlib. Screenshots in target/test-artifacts/ui-mfa-*.
mod chromium_totp_recovery_and_passkeys {
    use crate::helpers::{spawn_app_with, Db};
    fn localhost(c: &mut keyway::config::Config) {
        c.issuer = c.issuer.replace("127.0.0.1", "localhost");
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::chromium_totp_recovery_and_passkeys(spawn_app_with(Db::Sqlite, localhost).await).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::chromium_totp_recovery_and_passkeys(spawn_app_with(Db::Postgres, localhost).await).await
    }
}

async fn chromium_totp_recovery_and_passkeys(app: TestApp) {
    use crate::external::{artifacts_dir, run_script};
    set_policy(&app, true, false).await;
    let base = app.base.replace("127.0.0.1", "localhost");
    let url = auth_url(&app, "").replace(&app.base, &base);
    let dir = if matches!(app.db, crate::helpers::Db::Sqlite) {
        crate::external::repo_path("target/test-artifacts").display().to_string()
    } else {
        artifacts_dir("ui-mfa-postgres")
    };
    // A second user of the account, with no factor yet: enrols a passkey instead of an authenticator app.
    let account = app.state.store.find_customer_account_by_code(&demo_org(&app).await, "demo-customer").await.unwrap();
    let spec = keyway::admin::UserSpec {
        email: "passkey-first@example.com".into(),
        name: "Passkey First".into(),
        password_hash: Some(app.state.passwords.hash("passkey-first-pw").await.unwrap()),
        external_customer_no: None,
        account_admin: false,
    };
    keyway::admin::create_user(&app.state.store, &account.unwrap(), spec, app.clock.now()).await.unwrap();
    let env = [
        ("KW_ENROL_EMAIL", "passkey-first@example.com".to_string()),
        ("KW_ENROL_PASSWORD", "passkey-first-pw".to_string()),
        ("KW_BASE", base.clone()),
        ("KW_AUTHORIZE_URL", url),
        ("KW_CODE_VERIFIER", crate::helpers::VERIFIER.to_string()),
        ("KW_SERVER_NOW", app.clock.now().to_string()),
        ("KW_ARTIFACTS", dir.clone()),
    ];
    let r = run_script(&app, "python3", "tests/browser/mfa_flow.py", "mfa", &env).await;
    assert_eq!(r["ok"], true, "{r}");
    let mfa = serde_json::json!("urn:keyway:mfa");
    assert_eq!(r["enrol"]["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{r}");
    assert_eq!(r["totp"]["acr"], mfa, "{r}");
    assert_eq!(r["recovery"]["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{r}");
    assert_eq!(r["passkey_login"]["amr"], serde_json::json!(["hwk", "user", "mfa"]), "{r}");
    assert_eq!(r["passkey_login"]["acr"], mfa, "{r}");
    assert_eq!(r["passkey_second_factor"]["amr"], serde_json::json!(["pwd", "hwk", "mfa"]), "{r}");
    assert!(r["sign_count"].as_i64().unwrap_or(0) >= 2, "two assertions counted: {r}");
    assert_eq!(r["passkey_enrol"]["amr"], serde_json::json!(["pwd", "hwk", "mfa"]), "{r}");
    assert_eq!(r["passkey_enrol"]["acr"], mfa, "{r}");

    // The account now signs in through its IdP only: the demo user's passkey (the virtual key exported above, put on
    // a new authenticator in a fresh browser) is no way in any more, like the keyway password.
    let account = app.state.store.find_customer_account_by_code(&demo_org(&app).await, "demo-customer").await.unwrap();
    let spec = keyway::federation::setup::IdpSpec::Oidc {
        issuer: "http://127.0.0.1:9".into(),
        client_id: "keyway".into(),
        client_secret: Some(keyway::crypto::secrets::Secret::new("idp-secret")),
        scopes: vec![],
        email_claim: "email".into(),
        allow_unverified_email: false,
    };
    let opts = keyway::federation::setup::Options {
        display_name: Some("Globex SSO".into()),
        password_login: false,
        just_in_time: false,
    };
    keyway::federation::setup::set(&app.state.store, &app.base, &account.unwrap(), spec, opts, app.clock.now())
        .await
        .unwrap();
    let env = [
        ("KW_BASE", base),
        ("KW_CREDENTIAL", r["credential"].to_string()),
        ("KW_IDP_NAME", "Globex SSO".to_string()),
        ("KW_ARTIFACTS", dir),
    ];
    let r = run_script(&app, "python3", "tests/browser/passkey_idp_only.py", "idp-only", &env).await;
    assert_eq!(r["ok"], true, "{r}");
}

/// The License API's username/password activation is one factor: refused (as a wrong password) once the account
/// requires MFA, accepted again when the policy is off.
async fn license_api_password_alone_is_refused_under_mfa(app: TestApp) {
    let body = serde_json::json!({"product": "demo-app", "hardware_id": "hw-mfa", "username": app.demo.user_email,
        "password": app.demo.user_password});
    set_policy(&app, true, false).await;
    let res = app.activate(body.clone()).await;
    crate::helpers::assert_license_error(&app, res, 400, "invalid_credentials").await;
    set_policy(&app, false, false).await;
    let res = app.activate(body).await;
    assert_eq!(res.status(), 200, "single-factor accounts keep password activation");
}

// --- changes to the factors need a recent sign-in ---------------------------------------------------------------

/// The portal's sign-in as the demo user in `browser` (the password alone); the response.
async fn portal_sign_in(app: &TestApp, browser: &reqwest::Client) -> reqwest::Response {
    let page = browser.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let form = [
        ("csrf_token", hidden(&page, "csrf_token").unwrap()),
        ("customer_account_code", "demo-customer".to_string()),
        ("email", app.demo.user_email.clone()),
        ("password", app.demo.user_password.clone()),
    ];
    browser.post(app.url("/login")).form(&form).send().await.unwrap()
}

async fn security_page(app: &TestApp, browser: &reqwest::Client) -> String {
    let res = browser.get(app.url("/account/security")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|c| c.to_str().unwrap().strip_prefix("kw_session=").map(|v| v.split(';').next().unwrap().to_string()))
}

/// A session signed in longer ago than `reauth_seconds` sees the security page ask for a new sign-in instead of its
/// changes, and every change is refused (403) until then: no authenticator set up, no recovery codes, no passkey
/// ceremony. A wrong password is refused; the right one starts a new session (the old one ends) and the changes work.
async fn factor_changes_need_a_recent_sign_in(app: TestApp) {
    let b = app.new_browser();
    let res = portal_sign_in(&app, &b).await;
    assert_eq!(res.status(), 303);
    let old_session = session_cookie(&res).expect("a session");
    let page = security_page(&app, &b).await;
    assert!(page.contains("id=\"set-up-totp\"") && !page.contains("id=\"reauth-form\""), "fresh: {page}");

    app.clock.advance(app.state.config.reauth_seconds + 1);
    let page = security_page(&app, &b).await;
    assert!(page.contains("id=\"reauth-form\""), "{page}");
    assert!(!page.contains("id=\"set-up-totp\"") && !page.contains("passkey-form"), "no changes offered: {page}");
    let csrf = hidden(&page, "csrf_token").unwrap();
    for path in ["/account/security/totp", "/account/security/recovery-codes", "/account/security/totp/remove"] {
        let res = post_form(&b, app.url(path), &[("csrf_token", &csrf)]).await;
        assert_eq!(res.status(), 403, "{path}");
        assert!(!res.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("kw_wa=")));
        assert!(res.text().await.unwrap().contains("id=\"reauth-form\""), "{path} asks to sign in again");
    }
    let res = post_form(&b, app.url("/account/security/passkeys/options"), &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "reauthenticate");

    let res =
        post_form(&b, app.url("/account/security/confirm"), &[("csrf_token", &csrf), ("password", "wrong")]).await;
    assert_eq!(res.status(), 400);
    assert!(session_cookie(&res).is_none());
    let body = res.text().await.unwrap();
    assert!(body.contains("id=\"security-error\"") && body.contains("id=\"reauth-form\""), "{body}");
    let pw = app.demo.user_password.clone();
    let res = post_form(&b, app.url("/account/security/confirm"), &[("csrf_token", &csrf), ("password", &pw)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/account/security");
    let new_session = session_cookie(&res).expect("a new session");
    assert_ne!(new_session, old_session);
    let page = security_page(&app, &b).await;
    assert!(page.contains("id=\"set-up-totp\""), "changes offered again: {page}");
    let res = post_form(&b, app.url("/account/security/totp"), &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("id=\"manual-key\""), "the enrolment starts");

    // The old session ended with the new sign-in.
    let res = app
        .new_browser()
        .get(app.url("/account"))
        .header("cookie", format!("kw_session={old_session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "the replaced session is signed out");
}

/// The new sign-in is a whole one: a user with an authenticator app passes it too, then lands on the security page
/// with a session whose sign-in is fresh, and can remove the app.
async fn signing_in_again_asks_for_the_second_factor_too(app: TestApp) {
    set_policy(&app, true, false).await;
    let (email, pw) = (app.demo.user_email.clone(), app.demo.user_password.clone());
    let b = app.new_browser();
    password_then_second_factor(&app, &b, &auth_url(&app, ""), &email, &pw).await;
    let (secret, _, _) = enrol(&app, &b).await;
    set_policy(&app, false, false).await;

    app.clock.advance(app.state.config.reauth_seconds + 30);
    let page = security_page(&app, &b).await;
    assert!(page.contains("id=\"reauth-form\"") && !page.contains("id=\"remove-totp\""), "{page}");
    let csrf = hidden(&page, "csrf_token").unwrap();
    let res = post_form(&b, app.url("/account/security/confirm"), &[("csrf_token", &csrf), ("password", &pw)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login/mfa", "the password alone is not the new sign-in");
    assert!(session_cookie(&res).is_none(), "no session before the second factor");
    let res = submit_code(&app, &b, &totp(&secret, app.clock.now())).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/account/security");
    let page = security_page(&app, &b).await;
    assert!(page.contains("id=\"remove-totp\""), "{page}");
    let csrf = hidden(&page, "csrf_token").unwrap();
    let res = post_form(&b, app.url("/account/security/totp/remove"), &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), 303);
    let user = app.state.store.find_users_by_email_in_org(&demo_org(&app).await, &email).await.unwrap();
    assert!(app.state.store.find_totp(&user[0].id).await.unwrap().is_none(), "the authenticator app is removed");
}

/// The enrolment a required policy asks for offers a passkey beside the authenticator app, to a user without a
/// factor only: once the user has one, the password alone cannot add a passkey (it would replace the second factor),
/// not even with a stolen pending sign-in.
async fn passkey_enrolment_only_without_a_factor(app: TestApp) {
    set_policy(&app, true, false).await;
    let (email, pw) = (app.demo.user_email.clone(), app.demo.user_password.clone());
    let url = auth_url(&app, "");
    password_then_second_factor(&app, &app.client, &url, &email, &pw).await;
    let page = app.client.get(app.url("/login/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("data-options=\"/login/mfa/enrol/passkey/options\""), "offered at enrolment: {page}");
    let csrf = hidden(&page, "csrf_token").unwrap();
    let res = post_form(&app.client, app.url("/login/mfa/enrol/passkey/options"), &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("kw_wa=")));
    let options: serde_json::Value = res.json().await.unwrap();
    assert_eq!(options["publicKey"]["user"]["name"], email.as_str());
    assert_eq!(options["publicKey"]["authenticatorSelection"]["residentKey"], "required");
    let (_, _, _) = enrol(&app, &app.client).await;

    // The user has an authenticator app now: a new sign-in's pending state cannot enrol a passkey.
    let b = app.new_browser();
    password_then_second_factor(&app, &b, &url, &email, &pw).await;
    let page = b.get(app.url("/login/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("/login/mfa/enrol/passkey"), "the challenge, no enrolment: {page}");
    let csrf = hidden(&page, "csrf_token").unwrap();
    let res = post_form(&b, app.url("/login/mfa/enrol/passkey/options"), &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), 400);
    assert!(!res.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("kw_wa=")));
    let res = post_form(&b, app.url("/login/mfa/enrol/passkey"), &[("csrf_token", &csrf), ("credential", "{}")]).await;
    assert_eq!(res.status(), 403);
    let user = app.state.store.find_users_by_email_in_org(&demo_org(&app).await, &email).await.unwrap().remove(0);
    assert!(app.state.store.passkeys_of(&user.id).await.unwrap().is_empty());
}
