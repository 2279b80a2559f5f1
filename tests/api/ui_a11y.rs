//! Accessibility of the hosted pages (WCAG 2.2 AA, docs/ACCESSIBILITY.md): tests/browser/axe_check.py runs
//! axe-core in headless Chromium on every page, in the light and the dark theme, at desktop and phone sizes, and
//! walks each page with the Tab key; tests/browser/contrast.py checks the stylesheet's colour pairs.
use serde_json::json;

use crate::dual;
use crate::external::{artifacts_dir, repo_path, run_script};
use crate::helpers::TestApp;
use crate::helpers::VERIFIER;

const THEMES: [&str; 2] = ["light", "dark"];
const SIZES: [&str; 2] = ["desktop", "phone"];

/// One active device on the demo license, with the long host name and id a phone layout of the portal has to fit.
pub async fn activate_a_long_named_device(app: &TestApp) {
    let code = app.next_code().await;
    let res = app
        .activate(json!({
            "product": "demo-app", "hardware_id": "5c4f0a8e-1b2d-4e6f-9a7b-3c2d1e0f9a8b",
            "customer_account_code": "demo-customer", "code": code, "redirect_uri": app.demo.redirect_uri,
            "code_verifier": VERIFIER, "hostname": "build-agent-07.eu-central-1.compute.internal",
            "os_ver": "Linux 6.1",
        }))
        .await;
    assert_eq!(res.status(), 200, "activation for the portal's device row");
}

async fn chromium_axe_hosted_pages_in_both_themes_at_desktop_and_phone_size(app: TestApp) {
    // One active device on the demo license, so that the portal shows its device table; the long host name
    // and id are the ones a phone layout has to fit.
    activate_a_long_named_device(&app).await;

    let login = app.authorize_url("response_type=code&scope=openid&state=axe");
    let pages = json!([
        {"name": "login", "url": login, "expect_text": "Demo App"},
        // An unknown address: the failure message without counting towards the demo user's lockout.
        {"name": "login-error", "url": login, "form": {"email": "nobody@example.com", "password": "not-the-password"}},
        {"name": "portal-sign-in", "url": app.url("/login")},
        {"name": "error", "url": app.url("/oauth2/authorize?client_id=no-such-client&response_type=code")},
        {"name": "portal", "url": app.url("/account"), "signed_in": true, "expect_text": "build-agent-07"},
        // Signed in, the authorize request answers at once; without JavaScript the page shows its button.
        {"name": "form-post", "url": app.authorize_url("response_type=code&scope=openid&state=fp&\
            response_mode=form_post"),
         "signed_in": true, "javascript": false},
        {"name": "logout", "url": app.url("/logout")},
        {"name": "signed-out", "url": app.url("/logout"), "form": {}},
    ]);
    let dir = artifacts_dir(&format!("a11y-{:?}", app.db).to_lowercase());
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

    let names: Vec<&str> = pages.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    let checked = r["checked"].as_array().expect("checked");
    assert_eq!(checked.len(), names.len() * THEMES.len() * SIZES.len(), "every page in every theme and size: {r}");
    for name in &names {
        for theme in THEMES {
            for size in SIZES {
                let shot = std::path::Path::new(&dir).join(format!("{name}-{theme}-{size}.png"));
                let len =
                    std::fs::metadata(&shot).unwrap_or_else(|_| panic!("screenshot {} missing", shot.display())).len();
                assert!(len > 1000, "screenshot {} is empty", shot.display());
            }
        }
    }
    // Keyboard: the login form is reached in the order it reads.
    let login_order = checked.iter().find(|c| c["page"] == "login").unwrap()["focus_order"].as_array().unwrap();
    let order: Vec<&str> = login_order.iter().map(|s| s.as_str().unwrap()).collect();
    assert_login_focus_order(&order);
}

/// The login form is reached in the order it reads: (language links,) e-mail, password, (its show-password
/// toggle,) the sign-in button.
pub fn assert_login_focus_order(order: &[&str]) {
    let at = |what: &dyn Fn(&str) -> bool| order.iter().position(|s| what(s));
    let email = at(&|s| s.contains("email")).unwrap_or(usize::MAX);
    let password = at(&|s| s.contains("#password")).unwrap_or(usize::MAX);
    let submit = at(&|s| s.starts_with("button") && !s.contains("toggle")).unwrap_or(usize::MAX);
    assert!(email < password && password < submit && submit < order.len(), "{order:?}");
}

dual!(chromium_axe_hosted_pages_in_both_themes_at_desktop_and_phone_size);

/// The colour pairs of static/style.css, light and dark: 4.5:1 for text, 3:1 for control borders and focus rings.
#[test]
fn stylesheet_colour_pairs_meet_wcag_contrast() {
    let out = std::process::Command::new("python3")
        .arg(repo_path("tests/browser/contrast.py"))
        .arg("--json")
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|_| panic!("JSON from contrast.py: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success() && r["ok"] == true, "{r}");
}
