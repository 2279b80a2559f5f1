//! The hosted UI's views (askama, one struct per screen) and their strings in English and German.
pub mod i18n;
pub mod mfa;

use askama::Template;

pub use i18n::{Locale, Strings};

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginView<'a> {
    pub t: &'static Strings,
    pub csrf_token: &'a str,
    pub authz: &'a str,
    /// The organization of a portal link (`/login?org=…`), carried through the portal sign-in form.
    pub organization: &'a str,
    pub product_name: &'a str,
    pub account_name: Option<&'a str>,
    pub ask_account: bool,
    pub account_value: &'a str,
    pub email_value: &'a str,
    pub error: Option<&'a str>,
    /// "Sign in with <IdP>" for an account with an identity provider (SPEC §4.4).
    pub idp: Option<IdpButton>,
    /// Whether keyway's own e-mail and password form is shown (not for an IdP-only account).
    pub password_form: bool,
    /// Issue 17: branding, language links, "Forgot password?" (None without SMTP).
    pub c: recovery::Chrome<'a>,
    pub forgot_href: Option<String>,
}

pub struct IdpButton {
    pub label: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorView<'a> {
    pub t: &'static Strings,
    pub message: &'a str,
    pub request_id: &'a str,
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutView<'a> {
    pub t: &'static Strings,
    pub signed_out: bool,
    pub csrf_token: &'a str,
    pub hidden: Vec<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostView<'a> {
    pub t: &'static Strings,
    pub action: &'a str,
    pub params: &'a [(&'static str, String)],
    pub script: &'static str,
}

pub struct DeviceRow {
    pub id: i64,
    pub label: String,
    pub activated_at: String,
}

pub struct LicenseRow {
    pub id: i64,
    pub product_name: String,
    /// In words (`ui::recovery::license_type_words`).
    pub license_type: String,
    pub license_key: Option<String>,
    pub times_activated: i32,
    pub max_activations: i32,
    pub expires: Option<String>,
    pub devices: Vec<DeviceRow>,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountView<'a> {
    pub t: &'static Strings,
    pub csrf_token: &'a str,
    pub email: &'a str,
    pub account_name: &'a str,
    pub licenses: Vec<LicenseRow>,
    /// Issue 17: the success notice after a deactivation or a password change, and the portal's extra strings.
    pub notice: Option<&'static str>,
    pub r: &'static recovery::RecoveryStrings,
    /// "Change password" is offered to users who have a keyway password.
    pub has_password: bool,
}

/// The script of the form_post response page; its CSP hash is computed from this text.
pub const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";
pub mod recovery;
