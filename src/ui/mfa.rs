//! Views and strings of the multi-factor pages (issue 17 items 3, 4). The strings live here, reached from the
//! shared `Strings` by `t.mfa()`, so the page texts of other features and these stay apart.
use askama::Template;

use super::Strings;

pub struct MfaStrings {
    pub title: &'static str,
    pub challenge_intro: &'static str,
    pub code_label: &'static str,
    pub code_hint: &'static str,
    pub verify: &'static str,
    pub code_refused: &'static str,
    /// `{minutes}`: minutes until the lock ends.
    pub locked: &'static str,
    pub expired: &'static str,
    pub use_passkey: &'static str,
    pub passkey_sign_in: &'static str,
    pub passkey_failed: &'static str,
    pub needs_js: &'static str,
    pub enrol_title: &'static str,
    pub enrol_intro: &'static str,
    pub enrol_required: &'static str,
    pub qr_alt: &'static str,
    pub manual_key: &'static str,
    pub confirm: &'static str,
    pub recovery_title: &'static str,
    pub recovery_intro: &'static str,
    pub continue_label: &'static str,
    pub security_title: &'static str,
    pub totp_app: &'static str,
    pub totp_on: &'static str,
    pub totp_off: &'static str,
    pub set_up: &'static str,
    pub remove: &'static str,
    /// `{n}`: unused recovery codes.
    pub recovery_left: &'static str,
    pub new_recovery_codes: &'static str,
    pub passkeys: &'static str,
    pub no_passkeys: &'static str,
    pub add_passkey: &'static str,
    pub passkey_name: &'static str,
    pub passkey_added: &'static str,
    pub back_to_account: &'static str,
    pub security_link: &'static str,
    pub created: &'static str,
    pub last_used: &'static str,
    pub reauth_title: &'static str,
    pub reauth_intro: &'static str,
    pub enrol_passkey_title: &'static str,
    pub enrol_passkey_intro: &'static str,
}

pub static EN: MfaStrings = MfaStrings {
    title: "Two-step verification",
    challenge_intro: "Enter the 6-digit code from your authenticator app, or one of your recovery codes.",
    code_label: "Verification code",
    code_hint: "6 digits, or a recovery code like abcd-efgh-ijkm-npqr",
    verify: "Verify",
    code_refused: "That code is not valid. Codes can be used only once; wait for the next one.",
    locked: "Too many wrong codes. Try again in {minutes} minutes.",
    expired: "This sign-in has expired. Please start again.",
    use_passkey: "Use a passkey instead",
    passkey_sign_in: "Sign in with a passkey",
    passkey_failed: "The passkey was not accepted.",
    needs_js: "Passkeys need JavaScript, which is turned off in this browser. You can still sign in with your password.",
    enrol_title: "Set up two-step verification",
    enrol_intro: "Scan the QR code with an authenticator app (or type in the key), then enter the code it shows.",
    enrol_required: "Your organisation requires two-step verification. Set it up to continue.",
    qr_alt: "QR code for your authenticator app",
    manual_key: "Key for manual entry",
    confirm: "Confirm",
    recovery_title: "Your recovery codes",
    recovery_intro: "Each code signs you in once if you lose your authenticator. Store them somewhere safe: they are shown only now.",
    continue_label: "Continue",
    security_title: "Sign-in security",
    totp_app: "Authenticator app",
    totp_on: "On",
    totp_off: "Off",
    set_up: "Set up",
    remove: "Remove",
    recovery_left: "{n} unused recovery codes",
    new_recovery_codes: "New recovery codes",
    passkeys: "Passkeys",
    no_passkeys: "No passkeys yet.",
    add_passkey: "Add a passkey",
    passkey_name: "Passkey name",
    passkey_added: "Passkey added.",
    back_to_account: "Back to your account",
    security_link: "Sign-in security (two-step verification, passkeys)",
    created: "Added",
    last_used: "Last used",
    reauth_title: "Confirm it's you",
    reauth_intro: "You signed in a while ago. Sign in again to change how you sign in.",
    enrol_passkey_title: "Or use a passkey",
    enrol_passkey_intro: "Your device's screen lock or a security key confirms it's you, instead of a code.",
};

pub static DE: MfaStrings = MfaStrings {
    title: "Bestätigung in zwei Schritten",
    challenge_intro: "Geben Sie den 6-stelligen Code aus Ihrer Authenticator-App oder einen Ihrer Wiederherstellungscodes ein.",
    code_label: "Bestätigungscode",
    code_hint: "6 Ziffern oder ein Wiederherstellungscode wie abcd-efgh-ijkm-npqr",
    verify: "Bestätigen",
    code_refused: "Dieser Code ist ungültig. Jeder Code gilt nur einmal; warten Sie auf den nächsten.",
    locked: "Zu viele falsche Codes. Versuchen Sie es in {minutes} Minuten erneut.",
    expired: "Diese Anmeldung ist abgelaufen. Bitte beginnen Sie erneut.",
    use_passkey: "Stattdessen einen Passkey verwenden",
    passkey_sign_in: "Mit einem Passkey anmelden",
    passkey_failed: "Der Passkey wurde nicht akzeptiert.",
    needs_js: "Passkeys brauchen JavaScript, das in diesem Browser ausgeschaltet ist. Mit Ihrem Passwort können Sie sich weiterhin anmelden.",
    enrol_title: "Bestätigung in zwei Schritten einrichten",
    enrol_intro: "Scannen Sie den QR-Code mit einer Authenticator-App (oder tippen Sie den Schlüssel ein) und geben Sie dann den angezeigten Code ein.",
    enrol_required: "Ihre Organisation verlangt die Bestätigung in zwei Schritten. Richten Sie sie ein, um fortzufahren.",
    qr_alt: "QR-Code für Ihre Authenticator-App",
    manual_key: "Schlüssel zur manuellen Eingabe",
    confirm: "Bestätigen",
    recovery_title: "Ihre Wiederherstellungscodes",
    recovery_intro: "Jeder Code meldet Sie einmal an, falls Sie Ihren Authenticator verlieren. Bewahren Sie sie sicher auf: Sie werden nur jetzt angezeigt.",
    continue_label: "Weiter",
    security_title: "Anmeldesicherheit",
    totp_app: "Authenticator-App",
    totp_on: "Ein",
    totp_off: "Aus",
    set_up: "Einrichten",
    remove: "Entfernen",
    recovery_left: "{n} unbenutzte Wiederherstellungscodes",
    new_recovery_codes: "Neue Wiederherstellungscodes",
    passkeys: "Passkeys",
    no_passkeys: "Noch keine Passkeys.",
    add_passkey: "Passkey hinzufügen",
    passkey_name: "Name des Passkeys",
    passkey_added: "Passkey hinzugefügt.",
    back_to_account: "Zurück zu Ihrem Konto",
    security_link: "Anmeldesicherheit (Bestätigung in zwei Schritten, Passkeys)",
    created: "Hinzugefügt",
    last_used: "Zuletzt benutzt",
    reauth_title: "Bestätigen Sie, dass Sie es sind",
    reauth_intro: "Ihre Anmeldung liegt eine Weile zurück. Melden Sie sich erneut an, um zu ändern, wie Sie sich anmelden.",
    enrol_passkey_title: "Oder einen Passkey verwenden",
    enrol_passkey_intro: "Die Bildschirmsperre Ihres Geräts oder ein Sicherheitsschlüssel bestätigt, dass Sie es sind, statt eines Codes.",
};

impl Strings {
    /// The multi-factor strings in this locale.
    pub fn mfa(&self) -> &'static MfaStrings {
        match self.lang {
            "de" => &DE,
            _ => &EN,
        }
    }
}

/// The second-factor step of a sign-in.
#[derive(Template)]
#[template(path = "mfa_challenge.html")]
pub struct ChallengeView<'a> {
    pub t: &'static Strings,
    pub csrf_token: &'a str,
    pub error: Option<&'a str>,
    /// The user has a passkey: offer it (with JavaScript).
    pub passkey: bool,
}

/// TOTP enrolment, at sign-in (`action` = /login/mfa/enrol) or in the portal.
#[derive(Template)]
#[template(path = "mfa_enrol.html")]
pub struct EnrolView<'a> {
    pub t: &'static Strings,
    pub csrf_token: &'a str,
    pub action: &'a str,
    pub required: bool,
    pub qr_svg: &'a str,
    pub manual_key: &'a str,
    pub error: Option<&'a str>,
    /// Offer a passkey instead of the app (the sign-in's enrolment; WebAuthn needs JavaScript).
    pub offer_passkey: bool,
}

/// The recovery codes, shown once; the form continues the sign-in or goes back to the portal.
#[derive(Template)]
#[template(path = "mfa_recovery_codes.html")]
pub struct RecoveryCodesView<'a> {
    pub t: &'static Strings,
    pub csrf_token: &'a str,
    pub codes: &'a [String],
    /// POST target that continues (sign-in), or None: a link back to the security page.
    pub continue_action: Option<&'a str>,
}

pub struct PasskeyRow {
    pub credential_id: String,
    pub name: String,
    pub created: String,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "security.html")]
pub struct SecurityView<'a> {
    pub t: &'static Strings,
    pub csrf_token: &'a str,
    pub email: &'a str,
    pub totp: bool,
    pub recovery_left: String,
    pub passkeys: Vec<PasskeyRow>,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The session's sign-in is too old for changes (`reauth_seconds`): the page asks to sign in again instead.
    pub reauth: Option<Reauth>,
}

/// How the user of an older session signs in again: keyway's password, and/or the account's identity provider.
pub struct Reauth {
    pub password: bool,
    /// "Sign in with <IdP>", when the account has one.
    pub idp_label: Option<String>,
}
