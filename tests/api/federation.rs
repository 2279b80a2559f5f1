//! Customer-account federation (SPEC §4.4) against real identity providers started by the test: panva's
//! oidc-provider (tests/federation/oidc_idp.mjs), a pysaml2 IdP signing with xmlsec1 (saml_idp.py), a rogue OpenID
//! Provider for answers no correct IdP gives (rogue_oidc.py), and saml_forge.py for manipulated SAML responses.
use std::process::Stdio;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::dual;
use crate::external::repo_path;
use crate::helpers::{fragment_params, jwt_claims, query_param, TestApp, CHALLENGE, VERIFIER};
use keyway::federation::setup::{self, IdpSpec, Options};
use keyway::model::CustomerAccount;

const CALLBACK: &str = "http://127.0.0.1:8765/callback";
const IDP_SECRET: &str = "keyway-at-the-idp-0123456789";
const IDP_PASSWORD: &str = "idp-password-1";

/// An upstream IdP process: started by the test, killed with it.
pub struct Upstream {
    _child: tokio::process::Child,
    pub info: Value,
}

impl Upstream {
    /// Starts `program script` with `env` and waits for its one-line JSON ready message.
    pub async fn start(program: &str, script: &str, env: &[(&str, String)]) -> Upstream {
        let mut cmd = tokio::process::Command::new(program);
        cmd.arg(repo_path(script)).stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{script} starts: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(std::time::Duration::from_secs(180), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("{script} did not get ready"))
            .expect("read")
            .unwrap_or_else(|| panic!("{script} exited before it was ready"));
        let info: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{script} ready line {line}: {e}"));
        Upstream { _child: child, info }
    }

    pub fn str(&self, key: &str) -> String {
        self.info[key].as_str().unwrap_or_else(|| panic!("{key} in {}", self.info)).to_string()
    }
}

/// The user with `email` in the customer account `code`, if any.
async fn user_in(app: &TestApp, code: &str, email: &str) -> Option<keyway::model::LicenseUser> {
    app.state.store.find_user_by_email(&account(app, code).await.id, email).await.unwrap()
}

/// oidc-provider as a customer's OpenID Provider with keyway registered as a confidential client.
async fn oidc_idp(app: &TestApp, extra: Value) -> Upstream {
    let mut config = json!({
        "clients": [{"client_id": "keyway", "client_secret": IDP_SECRET, "redirect_uris": [app.url("/federation/oidc/callback")]}],
        "accounts": [
            {"sub": "idp-demo", "email": "demo@example.com", "email_verified": true, "name": "Demo at the IdP", "password": IDP_PASSWORD},
            {"sub": "idp-new", "email": "newcomer@example.com", "email_verified": true, "name": "New Comer", "password": IDP_PASSWORD},
            {"sub": "idp-unverified", "email": "unverified@example.com", "email_verified": false, "name": "U", "password": IDP_PASSWORD},
        ],
        "email_in_id_token": true,
        "amr": ["pwd", "mfa"],
    });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    Upstream::start(
        "node",
        "tests/federation/oidc_idp.mjs",
        &[("IDP_PORT", "0".into()), ("IDP_CONFIG", config.to_string())],
    )
    .await
}

async fn account(app: &TestApp, code: &str) -> std::sync::Arc<CustomerAccount> {
    let org = app.state.store.find_organization("Demo Vendor").await.unwrap().unwrap();
    match app.state.store.find_customer_account_by_code(&org.id, code).await.unwrap() {
        Some(a) => a,
        None => std::sync::Arc::new(
            app.state.store.create_customer_account(&org.id, code, code, app.clock.now()).await.unwrap(),
        ),
    }
}

async fn set_oidc(app: &TestApp, code: &str, issuer: &str, password_login: bool, jit: bool) {
    let spec = IdpSpec::Oidc {
        issuer: issuer.to_string(),
        client_id: "keyway".into(),
        client_secret: Some(keyway::crypto::secrets::Secret::new(IDP_SECRET)),
        scopes: vec![],
        email_claim: "email".into(),
        allow_unverified_email: false,
    };
    let opts = Options { display_name: Some("Globex SSO".into()), password_login, just_in_time: jit };
    setup::set(&app.state.store, &app.base, &*account(app, code).await, spec, opts, app.clock.now()).await.unwrap();
}

/// saml_idp.py for keyway's SP of `code`, with keyway's IdP set from its metadata.
async fn saml_idp(app: &TestApp, code: &str, extra: Value, jit: bool) -> Upstream {
    let acct = account(app, code).await;
    let sp_metadata = app.url(&format!("/federation/saml/{}", acct.id));
    let mut config = json!({
        "sp_metadata_url": sp_metadata,
        "users": [
            {"email": "demo@example.com", "password": IDP_PASSWORD, "name": "Demo at the IdP"},
            {"email": "newcomer@example.com", "password": IDP_PASSWORD, "name": "New Comer"},
        ],
        "sign_response": true, "sign_assertion": true, "name_id_format": "emailAddress", "email_attribute": "email",
    });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    let idp = Upstream::start(
        "python3",
        "tests/federation/saml_idp.py",
        &[("SAML_IDP_PORT", "0".into()), ("SAML_IDP_CONFIG", config.to_string())],
    )
    .await;
    let metadata = reqwest::get(idp.str("metadata_url")).await.unwrap().text().await.unwrap();
    let spec = IdpSpec::Saml { metadata_xml: metadata, email_attribute: Some("email".into()) };
    let opts = Options { display_name: Some("Globex ADFS".into()), password_login: false, just_in_time: jit };
    setup::set(&app.state.store, &app.base, &acct, spec, opts, app.clock.now()).await.unwrap();
    idp
}

/// The fields of the form with `id` (or the first form): its action and every named input.
fn form(html: &str, id: Option<&str>) -> Option<(String, Vec<(String, String)>)> {
    let start = match id {
        Some(id) => html.find(&format!("id=\"{id}\""))?,
        None => html.find("<form")?,
    };
    let open = html[..=start].rfind("<form")?;
    let end = open + html[open..].find("</form>")?;
    let body = &html[open..end];
    let attr = |tag: &str, name: &str| -> Option<String> {
        let m = format!("{name}=\"");
        let s = tag.find(&m)? + m.len();
        let e = s + tag[s..].find('"')?;
        Some(unescape(&tag[s..e]))
    };
    let action = attr(&body[..body.find('>')?], "action")?;
    let mut fields = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("<input") {
        let tag_end = rest[i..].find('>')? + i;
        let tag = &rest[i..tag_end];
        if let Some(name) = attr(tag, "name") {
            fields.push((name, attr(tag, "value").unwrap_or_default()));
        }
        rest = &rest[tag_end..];
    }
    Some((action, fields))
}

fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
}

fn resolve(base: &str, location: &str) -> String {
    url::Url::parse(base).unwrap().join(location).unwrap().to_string()
}

/// Where a browser walk ended.
#[derive(Debug)]
pub enum End {
    /// At the product's redirect_uri: the Location.
    Callback(String),
    /// A page that is neither a redirect nor a login form: status and body.
    Page(u16, String),
}

impl End {
    pub fn callback(self) -> String {
        match self {
            End::Callback(l) => l,
            End::Page(s, b) => panic!("expected the redirect to the product, got {s}: {}", &b[..b.len().min(600)]),
        }
    }

    pub fn page(self) -> (u16, String) {
        match self {
            End::Page(s, b) => (s, b),
            End::Callback(l) => panic!("expected a page, got the redirect {l}"),
        }
    }
}

/// A browser without JavaScript: follows redirects across keyway and the IdP, signs in at the IdP's form (`login`,
/// `password`, `action`: "login" or "cancel"), posts the SAML auto-submit form, until keyway redirects to the
/// product. `intercept` may replace the SAMLResponse before it is posted.
pub async fn walk(
    client: &reqwest::Client,
    start: &str,
    login: &str,
    action: &str,
    intercept: Option<&dyn Fn(String) -> String>,
) -> End {
    let mut res = client.get(start).send().await.unwrap();
    let mut url = start.to_string();
    for _ in 0..20 {
        let status = res.status().as_u16();
        if let Some(loc) = res.headers().get("location").map(|v| v.to_str().unwrap().to_string()) {
            let next = resolve(&url, &loc);
            if next.starts_with(CALLBACK) {
                return End::Callback(next);
            }
            url = next;
            res = client.get(&url).send().await.unwrap();
            continue;
        }
        let body = res.text().await.unwrap();
        if let Some((action_url, mut fields)) = form(&body, Some("saml-form")) {
            if let Some(f) = intercept {
                for (k, v) in fields.iter_mut() {
                    if k == "SAMLResponse" {
                        *v = f(v.clone());
                    }
                }
            }
            url = resolve(&url, &action_url);
            res = client.post(&url).form(&fields).send().await.unwrap();
            continue;
        }
        if let Some((action_url, mut fields)) =
            form(&body, Some("login-form")).filter(|_| body.contains("name=\"login\""))
        {
            fields.retain(|(k, _)| k != "login" && k != "password" && k != "action");
            fields.push(("login".into(), login.into()));
            fields.push(("password".into(), IDP_PASSWORD.into()));
            fields.push(("action".into(), action.into()));
            url = resolve(&url, &action_url);
            res = client.post(&url).form(&fields).send().await.unwrap();
            continue;
        }
        return End::Page(status, body);
    }
    panic!("too many steps from {start}");
}

fn auth_url(app: &TestApp, account: &str, extra: &str) -> String {
    format!(
        "{}/oauth2/authorize?client_id={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&customer_account_code={account}&{extra}",
        app.base, app.demo.client_id
    )
}

fn code_url(app: &TestApp, account: &str) -> String {
    auth_url(app, account, &format!("response_type=code&scope=openid%20email%20profile&state=st&nonce=n1&code_challenge={CHALLENGE}&code_challenge_method=S256"))
}

async fn redeem(app: &TestApp, loc: &str) -> Value {
    let code = query_param(loc, "code").unwrap_or_else(|| panic!("code in {loc}"));
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

// --------------------------------------------------------------------------------------------------------------
// OpenID Connect upstream

async fn oidc_idp_only_account_goes_to_the_idp_and_back_with_a_code(app: TestApp) {
    let idp = oidc_idp(&app, json!({})).await;
    set_oidc(&app, "demo-customer", &idp.str("issuer"), false, false).await;
    // No keyway page in between: the authorization request goes straight to the IdP.
    let first = app.client.get(code_url(&app, "demo-customer")).send().await.unwrap();
    assert_eq!(first.status(), 303);
    let to = first.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with(&idp.str("issuer")), "{to}");
    for p in ["code_challenge", "nonce", "state"] {
        assert!(query_param(&to, p).is_some(), "{p} in {to}");
    }
    let loc = walk(&app.client, &code_url(&app, "demo-customer"), "demo@example.com", "login", None).await.callback();
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st"));
    let tokens = redeem(&app, &loc).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["email"], "demo@example.com");
    assert_eq!(id["idp"], idp.str("issuer"));
    let amr: Vec<&str> = id["amr"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(amr, ["fed", "pwd", "mfa"], "fed plus the upstream's own methods");
    assert_eq!(id["customer_account_code"], "demo-customer");
    // The identity is linked: a later e-mail change at the IdP keeps the same user.
    let user = user_in(&app, "demo-customer", "demo@example.com").await.unwrap();
    assert_eq!(id["sub"], user.id);
    let events = app.state.store.audit_events(Some("federation.login")).await.unwrap();
    assert!(
        events.iter().any(|e| e.outcome.contains("success") && e.outcome.contains("e-mail, identity linked now")),
        "{events:?}"
    );
}

async fn oidc_code_activates_the_license_and_the_session_answers_again(app: TestApp) {
    let idp = oidc_idp(&app, json!({})).await;
    set_oidc(&app, "demo-customer", &idp.str("issuer"), false, false).await;
    let res =
        app.signed_get("/api/v4/sso_url?product=demo-app&customer_account_code=demo-customer&response_type=code").await;
    let sso: Value = res.json().await.unwrap();
    let loc = walk(&app.client, sso["url"].as_str().unwrap(), "demo@example.com", "login", None).await.callback();
    let code = query_param(&loc, "code").unwrap();
    let res = app.activate(json!({"product": "demo-app", "hardware_id": "fed-hw-1", "customer_account_code": "demo-customer", "code": code})).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // keyway's own session now answers a second request without the IdP.
    let again = app.client.get(code_url(&app, "demo-customer")).send().await.unwrap();
    assert!(query_param(again.headers()["location"].to_str().unwrap(), "code").is_some());
}

async fn oidc_implicit_id_token_activates(app: TestApp) {
    let idp = oidc_idp(&app, json!({"email_in_id_token": false})).await;
    set_oidc(&app, "demo-customer", &idp.str("issuer"), false, false).await;
    let url = auth_url(&app, "demo-customer", "response_type=token&scope=openid%20email%20profile&state=imp");
    let loc = walk(&app.client, &url, "demo@example.com", "login", None).await.callback();
    let frag = fragment_params(&loc);
    let id = jwt_claims(&frag["id_token"]);
    assert_eq!(id["email"], "demo@example.com", "the e-mail came from the IdP's userinfo");
    let res = app.activate(json!({"product": "demo-app", "hardware_id": "fed-hw-2", "customer_account_code": "demo-customer", "id_token": frag["id_token"]})).await;
    assert_eq!(res.status(), 200);
}

async fn oidc_user_not_in_account_is_refused_unless_jit(app: TestApp) {
    let idp = oidc_idp(&app, json!({})).await;
    set_oidc(&app, "demo-customer", &idp.str("issuer"), false, false).await;
    let (status, body) =
        walk(&app.client, &code_url(&app, "demo-customer"), "newcomer@example.com", "login", None).await.page();
    assert_eq!(status, 403);
    assert!(body.contains("not a user of this customer account"), "{body}");
    let acct = account(&app, "demo-customer").await;
    assert!(user_in(&app, "demo-customer", "newcomer@example.com").await.is_none(), "no half-created user");
    // Just in time, but the account's domains do not include the e-mail's: still refused, nobody created.
    set_oidc(&app, "demo-customer", &idp.str("issuer"), false, true).await;
    app.state.store.add_account_domain(&acct.id, "globex.example").await.unwrap();
    let (status, _) =
        walk(&app.new_browser(), &code_url(&app, "demo-customer"), "newcomer@example.com", "login", None).await.page();
    assert_eq!(status, 403);
    assert!(user_in(&app, "demo-customer", "newcomer@example.com").await.is_none());
    // Just in time with the e-mail's domain listed: created in this account (and no other).
    app.state.store.add_account_domain(&acct.id, "example.com").await.unwrap();
    let loc = walk(&app.new_browser(), &code_url(&app, "demo-customer"), "newcomer@example.com", "login", None)
        .await
        .callback();
    let id = jwt_claims(redeem(&app, &loc).await["id_token"].as_str().unwrap());
    let created = user_in(&app, "demo-customer", "newcomer@example.com").await.expect("created");
    assert_eq!(id["sub"], created.id);
    assert!(created.password_hash.is_none(), "a federated user has no keyway password");
}

async fn oidc_unverified_email_and_disabled_users_are_refused(app: TestApp) {
    let idp = oidc_idp(&app, json!({})).await;
    set_oidc(&app, "demo-customer", &idp.str("issuer"), false, true).await;
    let (status, body) =
        walk(&app.client, &code_url(&app, "demo-customer"), "unverified@example.com", "login", None).await.page();
    assert_eq!(status, 403);
    assert!(body.contains("did not confirm your e-mail"), "{body}");
    let demo = user_in(&app, "demo-customer", "demo@example.com").await.unwrap();
    app.state.store.set_user_disabled(&demo.id, true).await.unwrap();
    let (status, body) =
        walk(&app.new_browser(), &code_url(&app, "demo-customer"), "demo@example.com", "login", None).await.page();
    assert_eq!(status, 403);
    assert!(body.contains("disabled"), "{body}");
}

async fn oidc_cancel_at_the_idp_answers_access_denied_to_the_product(app: TestApp) {
    let idp = oidc_idp(&app, json!({})).await;
    set_oidc(&app, "demo-customer", &idp.str("issuer"), false, false).await;
    let loc = walk(&app.client, &code_url(&app, "demo-customer"), "demo@example.com", "cancel", None).await.callback();
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st"));
    assert_eq!(query_param(&loc, "iss").as_deref(), Some(app.base.as_str()));
}

async fn oidc_replayed_callback_and_another_browser_are_refused(app: TestApp) {
    let idp = oidc_idp(&app, json!({})).await;
    set_oidc(&app, "demo-customer", &idp.str("issuer"), false, false).await;
    // Walk to the IdP's answer, but stop before keyway's callback to keep it.
    let browser = app.new_browser();
    let mut res = browser.get(code_url(&app, "demo-customer")).send().await.unwrap();
    let mut url = code_url(&app, "demo-customer");
    let callback = loop {
        if let Some(loc) = res.headers().get("location").map(|v| v.to_str().unwrap().to_string()) {
            let next = resolve(&url, &loc);
            if next.starts_with(&app.url("/federation/oidc/callback")) {
                break next;
            }
            url = next;
            res = browser.get(&url).send().await.unwrap();
            continue;
        }
        let body = res.text().await.unwrap();
        let (action, mut fields) = form(&body, Some("login-form")).expect("IdP login form");
        fields.retain(|(k, _)| k != "login" && k != "password" && k != "action");
        fields.extend([
            ("login".into(), "demo@example.com".into()),
            ("password".into(), IDP_PASSWORD.into()),
            ("action".into(), "login".into()),
        ]);
        url = resolve(&url, &action);
        res = browser.post(&url).form(&fields).send().await.unwrap();
    };
    // Another browser (no binding cookie) cannot complete it: login CSRF.
    let other = app.new_browser().get(&callback).send().await.unwrap();
    assert_eq!(other.status(), 400);
    assert!(other.text().await.unwrap().contains("expired or was already completed"));
    // The right browser completes it once; the replay is refused.
    let first = browser.get(&callback).send().await.unwrap();
    assert!(query_param(first.headers()["location"].to_str().unwrap(), "code").is_some());
    let replay = browser.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    // A tampered state names no pending request.
    let tampered = callback.replace("state=", "state=x");
    assert_eq!(browser.get(&tampered).send().await.unwrap().status(), 400);
}

async fn password_form_is_refused_for_an_idp_only_account_and_offered_beside_it(app: TestApp) {
    let idp = oidc_idp(&app, json!({})).await;
    set_oidc(&app, "demo-customer", &idp.str("issuer"), false, false).await;
    // A login page for the request that names no account: the account typed in has an IdP only.
    let url = format!(
        "{}/oauth2/authorize?client_id={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&response_type=code&scope=openid&code_challenge={CHALLENGE}&code_challenge_method=S256",
        app.base, app.demo.client_id
    );
    let page = app.login_page(&url).await;
    let form = [
        ("csrf_token", crate::helpers::hidden(&page, "csrf_token").unwrap()),
        ("authz", crate::helpers::hidden(&page, "authz").unwrap()),
        ("customer_account_code", "demo-customer".into()),
        ("email", app.demo.user_email.clone()),
        ("password", app.demo.user_password.clone()),
    ];
    let res = app.client.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 200, "no session for the password");
    let body = res.text().await.unwrap();
    assert!(body.contains("Your organization signs in with Globex SSO"), "{body}");
    assert!(body.contains("id=\"idp-sign-in\""), "the IdP is offered");
    assert!(!body.contains("name=\"password\""), "no password form");
    // Nor through the License API's username and password: for an IdP-only account keyway's password (set before the
    // IdP) is no way in, or someone the customer removed at their IdP would still activate with it.
    let body = json!({"product": "demo-app", "hardware_id": "idp-only-hw", "username": app.demo.user_email,
        "password": app.demo.user_password});
    crate::helpers::assert_license_error(&app, app.activate(body).await, 400, "invalid_credentials").await;
    // With password login allowed beside the IdP: the button above the password form, and the password works.
    set_oidc(&app, "demo-customer", &idp.str("issuer"), true, false).await;
    let page = app.login_page(&code_url(&app, "demo-customer")).await;
    assert!(page.contains("Sign in with Globex SSO") && page.contains("name=\"password\""), "{page}");
    let loc = app.login(&code_url(&app, "demo-customer")).await;
    let id = jwt_claims(redeem(&app, &loc).await["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], json!(["pwd"]), "keyway's own password: pwd, no idp");
    assert!(id.get("idp").is_none());
}

async fn idp_of_account_a_cannot_sign_a_user_into_account_b(app: TestApp) {
    // Account A (demo-customer) and account B (globex) trust the same IdP; the IdP's user is a user of A only.
    let idp = oidc_idp(&app, json!({})).await;
    set_oidc(&app, "demo-customer", &idp.str("issuer"), false, false).await;
    set_oidc(&app, "globex", &idp.str("issuer"), false, false).await;
    let (status, _) = walk(&app.client, &code_url(&app, "globex"), "demo@example.com", "login", None).await.page();
    assert_eq!(status, 403, "not a user of B, JIT off");
    // Even with JIT on in B, the user created is B's, never A's user.
    set_oidc(&app, "globex", &idp.str("issuer"), false, true).await;
    let loc = walk(&app.new_browser(), &code_url(&app, "globex"), "demo@example.com", "login", None).await.callback();
    let id = jwt_claims(redeem(&app, &loc).await["id_token"].as_str().unwrap());
    assert_eq!(id["customer_account_code"], "globex");
    let a_user = user_in(&app, "demo-customer", "demo@example.com").await.unwrap();
    assert_ne!(id["sub"], a_user.id);
}

/// Each rogue mode: keyway refuses with the expected page (or, for `ok` and `kid_rotation`, signs in).
async fn oidc_rogue_answers_are_refused(app: TestApp) {
    let rogue = Upstream::start(
        "python3",
        "tests/federation/rogue_oidc.py",
        &[
            ("ROGUE_PORT", "0".into()),
            ("ROGUE_MODE", "ok".into()),
            ("ROGUE_CONFIG", json!({"sub": "rogue-demo", "email": "demo@example.com", "name": "Demo"}).to_string()),
        ],
    )
    .await;
    let template = rogue.str("issuer_template");
    /// Ok: a code comes back; Err: the hosted error page with this status and text.
    type Outcome = Result<(), (u16, &'static str)>;
    let cases: &[(&str, Outcome)] = &[
        ("ok", Ok(())),
        ("kid_rotation", Ok(())),
        ("userinfo_only", Ok(())),
        ("wrong_iss", Err((400, "could not be verified"))),
        ("wrong_iss_param", Err((400, "could not be verified"))),
        ("wrong_aud", Err((400, "could not be verified"))),
        ("azp_mismatch", Err((400, "could not be verified"))),
        ("bad_sig", Err((400, "could not be verified"))),
        ("alg_none", Err((400, "could not be verified"))),
        ("hs256_with_public_key", Err((400, "could not be verified"))),
        ("wrong_nonce", Err((400, "could not be verified"))),
        ("wrong_state", Err((400, "expired or was already completed"))),
        ("expired", Err((400, "could not be verified"))),
        ("iat_future", Err((400, "could not be verified"))),
        ("unverified_email", Err((403, "did not confirm your e-mail"))),
        ("no_email", Err((403, "did not confirm your e-mail"))),
        ("userinfo_sub_mismatch", Err((400, "could not be verified"))),
    ];
    for (mode, expected) in cases {
        let issuer = template.replace("{mode}", mode);
        set_oidc(&app, "demo-customer", &issuer, false, false).await;
        let end = walk(&app.new_browser(), &code_url(&app, "demo-customer"), "demo@example.com", "login", None).await;
        match (expected, end) {
            (Ok(()), End::Callback(loc)) => assert!(query_param(&loc, "code").is_some(), "{mode}: {loc}"),
            (Err((status, text)), End::Page(s, body)) => {
                assert_eq!(s, *status, "{mode}: {body}");
                assert!(body.contains(text), "{mode}: {body}");
            }
            (e, end) => panic!("{mode}: expected {e:?}, got {end:?}"),
        }
    }
    // Faults at the IdP: an error redirect to the product (RFC 6749 §4.1.2.1), never a 500.
    for (mode, error) in [
        ("token_error", "server_error"),
        ("discovery_broken", "temporarily_unavailable"),
        ("discovery_invalid_json", "server_error"),
    ] {
        set_oidc(&app, "demo-customer", &template.replace("{mode}", mode), false, false).await;
        let loc = walk(&app.new_browser(), &code_url(&app, "demo-customer"), "demo@example.com", "login", None)
            .await
            .callback();
        assert_eq!(query_param(&loc, "error").as_deref(), Some(error), "{mode}: {loc}");
        assert_eq!(query_param(&loc, "state").as_deref(), Some("st"), "{mode}");
    }
}

async fn oidc_wrong_client_secret_is_a_server_error_for_the_product(app: TestApp) {
    let idp = oidc_idp(&app, json!({})).await;
    let spec = IdpSpec::Oidc {
        issuer: idp.str("issuer"),
        client_id: "keyway".into(),
        client_secret: Some(keyway::crypto::secrets::Secret::new("not-the-secret-at-the-idp")),
        scopes: vec![],
        email_claim: "email".into(),
        allow_unverified_email: false,
    };
    let opts = Options { display_name: None, password_login: false, just_in_time: false };
    let acct = account(&app, "demo-customer").await;
    setup::set(&app.state.store, &app.base, &acct, spec, opts, app.clock.now()).await.unwrap();
    // The IdP refuses keyway's client authentication at its token endpoint (invalid_client): keyway's own
    // misconfiguration, so the product hears server_error (RFC 6749 §4.1.2.1), not a mistake of the user.
    let loc = walk(&app.client, &code_url(&app, "demo-customer"), "demo@example.com", "login", None).await.callback();
    assert_eq!(query_param(&loc, "error").as_deref(), Some("server_error"), "{loc}");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st"));
}

async fn unreachable_idp_answers_temporarily_unavailable(app: TestApp) {
    // Nothing listens on port 9 of loopback.
    set_oidc(&app, "demo-customer", "http://127.0.0.1:9", false, false).await;
    let res = app.client.get(code_url(&app, "demo-customer")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(CALLBACK), "{loc}");
    assert_eq!(query_param(&loc, "error").as_deref(), Some("temporarily_unavailable"));
}

async fn portal_signs_in_through_the_idp_and_home_realm_discovery(app: TestApp) {
    let idp = oidc_idp(&app, json!({})).await;
    set_oidc(&app, "demo-customer", &idp.str("issuer"), false, false).await;
    let acct = account(&app, "demo-customer").await;
    app.state.store.add_account_domain(&acct.id, "example.com").await.unwrap();
    // The portal sign-in page: only an e-mail typed, its domain routes to the account's IdP.
    let page = app.client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let sign_in = [
        ("csrf_token", crate::helpers::hidden(&page, "csrf_token").unwrap()),
        ("customer_account_code", String::new()),
        ("email", "demo@example.com".to_string()),
        ("password", String::new()),
    ];
    let res = app.client.post(app.url("/login")).form(&sign_in).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let to = res.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with(&idp.str("issuer")), "home-realm discovery sends the user to the IdP: {to}");
    // Follow it through the IdP into the portal.
    through_the_idp(&app, to, "/account").await;
    let portal = app.client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(portal.status(), 200);
    assert!(portal.text().await.unwrap().contains("demo@example.com"));

    // Once the sign-in is older than `reauth_seconds`, changing second factors needs a new one: an IdP-only account
    // gets it from its IdP (keyway holds no password to ask for), and comes back to the security page.
    app.clock.advance(app.state.config.reauth_seconds + 1);
    let page = app.client.get(app.url("/account/security")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"reauth-idp\"") && !page.contains("id=\"reauth-form\""), "{page}");
    assert!(!page.contains("id=\"set-up-totp\""), "no changes offered before the new sign-in");
    let csrf = crate::helpers::hidden(&page, "csrf_token").unwrap();
    let res = app
        .client
        .post(app.url("/account/security/confirm"))
        .form(&[("csrf_token", csrf.as_str()), ("with", "idp")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let to = res.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with(&idp.str("issuer")), "{to}");
    through_the_idp(&app, to, "/account/security").await;
    let page = app.client.get(app.url("/account/security")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"set-up-totp\""), "changes offered after the new sign-in: {page}");
}

/// The account policy `after_idp` (issue 17): after the real IdP, keyway's own second factor: an authenticator is
/// enrolled before any code, the next federated sign-in passes a TOTP code, the id_token says `fed`, `otp` and `mfa`;
/// with the policy off, the IdP's sign-in alone issues the code again.
async fn after_idp_policy_adds_keyways_second_factor_to_the_idps(app: TestApp) {
    use crate::mfa::{base32_decode, manual_key, totp};
    use keyway::store::mfa::MfaPolicy;
    let idp = oidc_idp(&app, json!({})).await;
    set_oidc(&app, "demo-customer", &idp.str("issuer"), false, false).await;
    let acct = account(&app, "demo-customer").await;
    let policy = |after_idp| MfaPolicy { required: false, after_idp };
    app.state.store.set_mfa_policy(&acct.id, policy(true), app.clock.now()).await.unwrap();

    let post = |client: &reqwest::Client, path: &str, form: Vec<(&str, String)>| {
        let req = client.post(app.url(path)).form(&form);
        async move { req.send().await.unwrap() }
    };
    let (status, page) =
        walk(&app.client, &code_url(&app, "demo-customer"), "demo@example.com", "login", None).await.page();
    assert_eq!(status, 200);
    assert!(page.contains("id=\"manual-key\""), "enrolment after the IdP, before any code: {page}");
    let secret = base32_decode(&manual_key(&page));
    let csrf = crate::helpers::hidden(&page, "csrf_token").unwrap();
    let code = totp(&secret, app.clock.now());
    let res = post(&app.client, "/login/mfa/enrol", vec![("csrf_token", csrf.clone()), ("code", code)]).await;
    assert_eq!(res.status(), 200, "the recovery codes");
    let res = post(&app.client, "/login/mfa/continue", vec![("csrf_token", csrf)]).await;
    assert_eq!(res.status(), 303);
    let id = jwt_claims(redeem(&app, res.headers()["location"].to_str().unwrap()).await["id_token"].as_str().unwrap());
    let amr: Vec<&str> = id["amr"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(amr.contains(&"fed") && amr.contains(&"otp") && amr.contains(&"mfa"), "{amr:?}");
    assert_eq!(id["acr"], "urn:keyway:mfa");

    // A new browser: the IdP, then the code of the authenticator just enrolled.
    app.clock.advance(30);
    let b = app.new_browser();
    let (status, page) = walk(&b, &code_url(&app, "demo-customer"), "demo@example.com", "login", None).await.page();
    assert_eq!(status, 200);
    assert!(page.contains("name=\"code\"") && !page.contains("id=\"manual-key\""), "the challenge: {page}");
    let csrf = crate::helpers::hidden(&page, "csrf_token").unwrap();
    let res = post(&b, "/login/mfa", vec![("csrf_token", csrf), ("code", totp(&secret, app.clock.now()))]).await;
    assert_eq!(res.status(), 303);
    assert!(res.headers()["location"].to_str().unwrap().starts_with(CALLBACK));

    // The policy off: the IdP's sign-in is enough.
    app.state.store.set_mfa_policy(&acct.id, policy(false), app.clock.now()).await.unwrap();
    let loc =
        walk(&app.new_browser(), &code_url(&app, "demo-customer"), "demo@example.com", "login", None).await.callback();
    let id = jwt_claims(redeem(&app, &loc).await["id_token"].as_str().unwrap());
    assert!(!id["amr"].as_array().unwrap().iter().any(|m| m == "otp"), "{id}");
}

/// Follows `url` through the test IdP (signing in there when it asks) until keyway redirects to `until`.
async fn through_the_idp(app: &TestApp, mut url: String, until: &str) {
    let mut res = app.client.get(&url).send().await.unwrap();
    loop {
        if let Some(loc) = res.headers().get("location").map(|v| v.to_str().unwrap().to_string()) {
            url = resolve(&url, &loc);
            if url == app.url(until) {
                return;
            }
            res = app.client.get(&url).send().await.unwrap();
            continue;
        }
        let body = res.text().await.unwrap();
        let (action, mut fields) = form(&body, Some("login-form")).unwrap_or_else(|| panic!("IdP form: {body}"));
        fields.retain(|(k, _)| k != "login" && k != "password" && k != "action");
        fields.extend([
            ("login".into(), "demo@example.com".into()),
            ("password".into(), IDP_PASSWORD.into()),
            ("action".into(), "login".into()),
        ]);
        url = resolve(&url, &action);
        res = app.client.post(&url).form(&fields).send().await.unwrap();
    }
}

// --------------------------------------------------------------------------------------------------------------
// SAML 2.0 upstream

async fn saml_login_to_code_and_activation(app: TestApp) {
    let idp = saml_idp(&app, "demo-customer", json!({}), false).await;
    let sp = app
        .client
        .get(app.url(&format!("/federation/saml/{}", account(&app, "demo-customer").await.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(sp.status(), 200);
    let sp_xml = sp.text().await.unwrap();
    assert!(sp_xml.contains("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST") && sp_xml.contains("/acs"), "{sp_xml}");
    let first = app.client.get(code_url(&app, "demo-customer")).send().await.unwrap();
    let to = first.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with(&idp.str("sso_url")) && to.contains("SAMLRequest="), "{to}");
    let loc = walk(&app.client, &code_url(&app, "demo-customer"), "demo@example.com", "login", None).await.callback();
    let tokens = redeem(&app, &loc).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["email"], "demo@example.com");
    assert_eq!(id["idp"], idp.str("entity_id"));
    assert_eq!(id["amr"], json!(["fed"]));
    let res = app.signed_get("/api/v4/sso_url?product=demo-app&customer_account_code=demo-customer").await;
    let url = res.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_string();
    let loc = walk(&app.new_browser(), &url, "demo@example.com", "login", None).await.callback();
    let code = query_param(&loc, "code").unwrap();
    let res = app.activate(json!({"product": "demo-app", "hardware_id": "saml-hw", "customer_account_code": "demo-customer", "code": code})).await;
    assert_eq!(res.status(), 200);
}

async fn saml_cancel_jit_and_idp_initiated(app: TestApp) {
    let idp = saml_idp(&app, "demo-customer", json!({}), false).await;
    let loc = walk(&app.client, &code_url(&app, "demo-customer"), "demo@example.com", "cancel", None).await.callback();
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    let (status, _) =
        walk(&app.new_browser(), &code_url(&app, "demo-customer"), "newcomer@example.com", "login", None).await.page();
    assert_eq!(status, 403, "not in the account, JIT off");
    // An IdP-initiated response answers no request of keyway's: refused.
    let acct = account(&app, "demo-customer").await;
    let sp_entity = app.url(&format!("/federation/saml/{}", acct.id));
    let unsolicited = reqwest::get(format!(
        "{}/idp-initiated?sp={}&user=demo%40example.com",
        idp.str("metadata_url").trim_end_matches("/metadata"),
        keyway::encoding::component(&sp_entity)
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let (action, fields) = form(&unsolicited, Some("saml-form")).expect("saml form");
    let res = app.client.post(resolve(&idp.str("sso_url"), &action)).form(&fields).send().await.unwrap();
    assert_eq!(res.status(), 400);
}

async fn forged(variant: &str, idp: &Upstream, b64: &str, extra: &[&str]) -> String {
    let base = idp.str("metadata_url").trim_end_matches("/metadata").to_string();
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg(repo_path("tests/federation/saml_forge.py")).args([variant, "--idp", &base, "--in", "-"]).args(extra);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("saml_forge.py");
    child.stdin.take().unwrap().write_all(b64.as_bytes()).await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "saml_forge {variant} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Every manipulated response is refused with the hosted page, and nobody is signed in.
async fn saml_forged_responses_are_refused(app: TestApp) {
    // An Assertion-only signature: the shape for wrapping attacks on the assertion (XSW#3–#8).
    let idp = saml_idp(&app, "demo-customer", json!({"sign_response": false, "sign_assertion": true}), false).await;
    for variant in [
        "unsigned",
        "expired",
        "not_yet_valid",
        "xsw3",
        "xsw4",
        "xsw5",
        "xsw7",
        "wrong_destination",
        "wrong_recipient",
        "wrong_audience",
        "wrong_issuer",
        "signed_by_other_key",
        "comment_injection",
    ] {
        let captured = std::sync::Mutex::new(None);
        let intercept = |b64: String| {
            let forged = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(forged(
                    variant,
                    &idp,
                    &b64,
                    &["--as", "attacker@evil.example"],
                ))
            });
            *captured.lock().unwrap() = Some(forged.clone());
            forged
        };
        let end =
            walk(&app.new_browser(), &code_url(&app, "demo-customer"), "demo@example.com", "login", Some(&intercept))
                .await;
        let End::Page(status, body) = end else { panic!("{variant} was accepted: {end:?}") };
        assert_eq!(status, 400, "{variant}: {body}");
        assert!(body.contains("could not be verified"), "{variant}: {body}");
        assert!(captured.lock().unwrap().is_some(), "{variant}: the response was intercepted");
    }
    // The failed signature checks were reported to tracing, not printed to stderr by xmlsec's default callback.
    assert!(keyway::federation::xmlsec_log::routed_count() > 0);
    // A Response-only signature: XSW#1 and #2 wrap the Response.
    let idp2 = saml_idp(&app, "demo-customer", json!({"sign_response": true, "sign_assertion": false}), false).await;
    for variant in ["xsw1", "xsw2"] {
        let intercept = |b64: String| {
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(forged(
                    variant,
                    &idp2,
                    &b64,
                    &["--as", "attacker@evil.example"],
                ))
            })
        };
        let end =
            walk(&app.new_browser(), &code_url(&app, "demo-customer"), "demo@example.com", "login", Some(&intercept))
                .await;
        let End::Page(status, body) = end else { panic!("{variant} was accepted: {end:?}") };
        assert_eq!(status, 400, "{variant}: {body}");
    }
    assert!(user_in(&app, "demo-customer", "attacker@evil.example").await.is_none());
}

async fn saml_replayed_assertion_and_unknown_in_response_to_are_refused(app: TestApp) {
    let _idp = saml_idp(&app, "demo-customer", json!({}), false).await;
    let seen = std::sync::Mutex::new(None);
    let keep = |b64: String| {
        *seen.lock().unwrap() = Some(b64.clone());
        b64
    };
    let loc =
        walk(&app.client, &code_url(&app, "demo-customer"), "demo@example.com", "login", Some(&keep)).await.callback();
    assert!(query_param(&loc, "code").is_some());
    let response = seen.lock().unwrap().clone().unwrap();
    // Replayed in a new login: a new pending request, but the same assertion (and its InResponseTo is the old one).
    let replay = |_: String| response.clone();
    let (status, _) =
        walk(&app.new_browser(), &code_url(&app, "demo-customer"), "demo@example.com", "login", Some(&replay))
            .await
            .page();
    assert_eq!(status, 400);
    // Posted again to the same RelayState: that pending request is done.
    let acct = account(&app, "demo-customer").await;
    let res = app
        .client
        .post(app.url(&format!("/federation/saml/{}/acs", acct.id)))
        .form(&[("SAMLResponse", response.as_str()), ("RelayState", "not-a-pending-request")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

/// The official Python SDK end to end through a real IdP in headless Chromium: `get_sso_url` (code, then token),
/// keyway, the IdP's login form, back to keyway and the redirect URI, `activate_license` with the code or the
/// id_token, check, deactivate; then the portal's sign-in by e-mail domain. Screenshots of every page are kept in
/// target/test-artifacts/federation-<kind>-<db>/.
async fn python_sdk_and_chromium(app: &TestApp, kind: &str) {
    let dir = crate::external::artifacts_dir(&format!("federation-{kind}-{:?}", app.db).to_lowercase());
    let pem = std::path::Path::new(&dir).join("license_public.pem");
    std::fs::write(&pem, &app.demo.license_public_key_pem).unwrap();
    for scenario in ["code", "token"] {
        let r = crate::external::run_script(
            app,
            "python3",
            "tests/sdk/python_sdk_flow.py",
            scenario,
            &[
                ("KW_LOGIN", "chromium".into()),
                ("KW_USER_PASSWORD", IDP_PASSWORD.into()),
                ("KW_ARTIFACTS", dir.clone()),
                ("KW_PUBLIC_KEY_FILE", pem.display().to_string()),
            ],
        )
        .await;
        assert_eq!(r["ok"], true, "{kind} {scenario}: {r}");
        let login = r["steps"].as_array().unwrap().iter().find(|s| s["step"] == "login in Chromium").cloned();
        let pages = login.expect("the login ran in Chromium")["pages"].to_string();
        assert!(pages.contains("idp-login"), "{kind} {scenario} went through the IdP's form: {pages}");
        let steps = r["steps"].to_string();
        assert!(steps.contains("activate_license") && steps.contains("deactivate"), "{steps}");
    }
    let acct = account(app, "demo-customer").await;
    app.state.store.add_account_domain(&acct.id, "example.com").await.unwrap();
    let r = crate::external::run_script(
        app,
        "python3",
        "tests/browser/federated_walk.py",
        "portal",
        &[
            ("KW_START_URL", app.url("/login")),
            ("KW_UNTIL", app.url("/account")),
            ("KW_USER_PASSWORD", IDP_PASSWORD.into()),
            ("KW_ARTIFACTS", dir.clone()),
            ("KW_PREFIX", "portal".into()),
        ],
    )
    .await;
    assert_eq!(r["ok"], true, "{kind} portal: {r}");
    let pages = r["pages"].to_string();
    assert!(pages.contains("keyway-sign-in-email") && pages.contains("idp-login"), "{pages}");
    assert!(r["text"].as_str().unwrap().contains("demo@example.com"), "{r}");
    let shots = r["screenshots"].as_array().unwrap();
    assert!(shots.len() >= 3 && shots.iter().all(|p| std::path::Path::new(p.as_str().unwrap()).exists()), "{r}");
}

async fn python_sdk_and_chromium_through_an_oidc_idp(app: TestApp) {
    let idp = oidc_idp(&app, json!({})).await;
    // Password login beside the IdP: the walk clicks "Sign in with Globex SSO" on keyway's page.
    set_oidc(&app, "demo-customer", &idp.str("issuer"), true, false).await;
    python_sdk_and_chromium(&app, "oidc").await;
}

async fn python_sdk_and_chromium_through_a_saml_idp(app: TestApp) {
    // IdP only: keyway sends the browser straight to the IdP.
    let _idp = saml_idp(&app, "demo-customer", json!({}), false).await;
    python_sdk_and_chromium(&app, "saml").await;
}

dual!(
    oidc_idp_only_account_goes_to_the_idp_and_back_with_a_code,
    oidc_code_activates_the_license_and_the_session_answers_again,
    oidc_implicit_id_token_activates,
    oidc_user_not_in_account_is_refused_unless_jit,
    oidc_unverified_email_and_disabled_users_are_refused,
    oidc_cancel_at_the_idp_answers_access_denied_to_the_product,
    oidc_replayed_callback_and_another_browser_are_refused,
    password_form_is_refused_for_an_idp_only_account_and_offered_beside_it,
    idp_of_account_a_cannot_sign_a_user_into_account_b,
    oidc_rogue_answers_are_refused,
    unreachable_idp_answers_temporarily_unavailable,
    oidc_wrong_client_secret_is_a_server_error_for_the_product,
    portal_signs_in_through_the_idp_and_home_realm_discovery,
    after_idp_policy_adds_keyways_second_factor_to_the_idps,
    saml_login_to_code_and_activation,
    saml_cancel_jit_and_idp_initiated,
    saml_forged_responses_are_refused,
    saml_replayed_assertion_and_unknown_in_response_to_are_refused,
    python_sdk_and_chromium_through_an_oidc_idp,
    python_sdk_and_chromium_through_a_saml_idp,
);
