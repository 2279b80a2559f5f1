//! The pages of account recovery, lockout, branding and the portal's confirmations (issue 17 items 1, 2, 5), with
//! their strings in English and German (kept apart from `i18n.rs` so each feature's strings stay together).
use askama::Template;

use super::Strings;
use crate::branding::Brand;

pub struct RecoveryStrings {
    pub forgot_link: &'static str,
    pub forgot_title: &'static str,
    pub forgot_intro: &'static str,
    pub send_link: &'static str,
    pub sent_title: &'static str,
    /// The same text whether or not the address is known.
    pub sent_text: &'static str,
    pub back_to_sign_in: &'static str,
    pub reset_title: &'static str,
    pub new_password: &'static str,
    pub confirm_password: &'static str,
    pub password_rules: &'static str,
    pub set_password: &'static str,
    pub reset_done_title: &'static str,
    pub reset_done_text: &'static str,
    pub link_invalid: &'static str,
    pub password_weak: &'static str,
    pub password_mismatch: &'static str,
    pub current_password: &'static str,
    pub current_wrong: &'static str,
    pub change_password: &'static str,
    pub password_changed: &'static str,
    pub verify_title: &'static str,
    pub verify_text: &'static str,
    pub verify_button: &'static str,
    pub verified_title: &'static str,
    pub verified_text: &'static str,
    pub locked_title: &'static str,
    pub locked_reset: &'static str,
    pub locked_support: &'static str,
    pub show_password: &'static str,
    pub hide_password: &'static str,
    pub language: &'static str,
    pub support: &'static str,
    pub privacy: &'static str,
    pub details: &'static str,
    /// `{product}`: the product's name, or `the_application`.
    pub link_not_valid: &'static str,
    pub the_application: &'static str,
    pub license_key: &'static str,
    pub no_expiry: &'static str,
    pub deactivate_title: &'static str,
    /// `{device}`, `{product}`.
    pub deactivate_question: &'static str,
    pub deactivate_consequence: &'static str,
    pub deactivate_confirm: &'static str,
    pub cancel: &'static str,
    /// `{device}`.
    pub deactivated: &'static str,
    pub seat_title: &'static str,
    /// `{product}`, `{used}`, `{max}`.
    pub seat_text: &'static str,
    pub seat_portal: &'static str,
    pub seat_continue: &'static str,
    pub type_perpetual: &'static str,
    pub type_subscription: &'static str,
    pub type_time_limited: &'static str,
    pub type_consumption: &'static str,
    pub type_floating: &'static str,
    pub mail_reset_subject: &'static str,
    /// `{account}`, `{link}`, `{minutes}`.
    pub mail_reset_text: &'static str,
    pub mail_verify_subject: &'static str,
    pub mail_verify_text: &'static str,
    pub mail_test_subject: &'static str,
    pub mail_test_text: &'static str,
    pub mail_ignore: &'static str,
}

pub static EN: RecoveryStrings = RecoveryStrings {
    forgot_link: "Forgot password?",
    forgot_title: "Reset your password",
    forgot_intro: "Enter the e-mail address you sign in with. We will send you a link to choose a new password.",
    send_link: "Send link",
    sent_title: "Check your e-mail",
    sent_text: "If an account with this address exists, we have sent a link to it. The link works once, for 30 \
        minutes. Check your spam folder if it does not arrive.",
    back_to_sign_in: "Back to sign-in",
    reset_title: "Choose a new password",
    new_password: "New password",
    confirm_password: "Repeat the new password",
    password_rules: "At least 8 characters.",
    set_password: "Save password",
    reset_done_title: "Your password has been changed",
    reset_done_text: "You can now sign in with your new password. You were signed out everywhere else.",
    link_invalid: "This link is not valid any more: it was used already, it is older than 30 minutes, or a newer \
        link was sent. Please ask for a new one.",
    password_weak: "The password must have at least 8 characters.",
    password_mismatch: "The two passwords are not the same.",
    current_password: "Current password",
    current_wrong: "The current password is not correct.",
    change_password: "Change password",
    password_changed: "Your password has been changed. Your other sessions were signed out.",
    verify_title: "Confirm your e-mail address",
    verify_text: "Press the button to confirm that this address is yours.",
    verify_button: "Confirm address",
    verified_title: "Your e-mail address is confirmed",
    verified_text: "Thank you. You can close this window.",
    locked_title: "Sign-in paused",
    locked_reset: "If you forgot your password, you can reset it now; a new password also ends the pause.",
    locked_support: "Need help? Contact support",
    show_password: "Show password",
    hide_password: "Hide password",
    language: "Language",
    support: "Support",
    privacy: "Privacy",
    details: "Technical details",
    link_not_valid: "This sign-in link is not valid. Please return to {product} and try again.",
    the_application: "the application",
    license_key: "License key",
    no_expiry: "Does not expire",
    deactivate_title: "Deactivate device?",
    deactivate_question: "Deactivate {device} for {product}?",
    deactivate_consequence: "The device stops working with this license until it is activated again. Its seat \
        becomes free for another device.",
    deactivate_confirm: "Yes, deactivate",
    cancel: "Cancel",
    deactivated: "The device was deactivated. Its seat is free now.",
    seat_title: "All seats are in use",
    seat_text: "Your {product} license is in use on {used} of {max} devices. To use it here, deactivate a device \
        you no longer use in your license portal.",
    seat_portal: "Free a seat in the portal",
    seat_continue: "Continue anyway",
    type_perpetual: "Perpetual (does not expire)",
    type_subscription: "Subscription",
    type_time_limited: "Time-limited",
    type_consumption: "Usage-based",
    type_floating: "Floating (shared seats)",
    mail_reset_subject: "Reset your password",
    mail_reset_text: "Someone asked to reset the password of your account {account}. To choose a new password, \
        open this link within {minutes} minutes:",
    mail_verify_subject: "Confirm your e-mail address",
    mail_verify_text: "Please confirm that this address belongs to you (account {account}) by opening this link:",
    mail_test_subject: "keyway test message",
    mail_test_text: "This is a test message from keyway. Your SMTP settings work.",
    mail_ignore: "If you did not ask for this, you can ignore this message; nothing changes.",
};

pub static DE: RecoveryStrings = RecoveryStrings {
    forgot_link: "Passwort vergessen?",
    forgot_title: "Passwort zurücksetzen",
    forgot_intro: "Geben Sie die E-Mail-Adresse ein, mit der Sie sich anmelden. Wir senden Ihnen einen Link, mit \
        dem Sie ein neues Passwort wählen.",
    send_link: "Link senden",
    sent_title: "Bitte prüfen Sie Ihre E-Mails",
    sent_text: "Falls es ein Konto mit dieser Adresse gibt, haben wir einen Link dorthin gesendet. Der Link \
        funktioniert einmal, 30 Minuten lang. Sehen Sie auch im Spam-Ordner nach.",
    back_to_sign_in: "Zurück zur Anmeldung",
    reset_title: "Neues Passwort wählen",
    new_password: "Neues Passwort",
    confirm_password: "Neues Passwort wiederholen",
    password_rules: "Mindestens 8 Zeichen.",
    set_password: "Passwort speichern",
    reset_done_title: "Ihr Passwort wurde geändert",
    reset_done_text: "Sie können sich jetzt mit dem neuen Passwort anmelden. Überall sonst wurden Sie abgemeldet.",
    link_invalid: "Dieser Link ist nicht mehr gültig: Er wurde schon benutzt, ist älter als 30 Minuten, oder ein \
        neuerer Link wurde gesendet. Bitte fordern Sie einen neuen an.",
    password_weak: "Das Passwort muss mindestens 8 Zeichen haben.",
    password_mismatch: "Die beiden Passwörter stimmen nicht überein.",
    current_password: "Aktuelles Passwort",
    current_wrong: "Das aktuelle Passwort ist nicht richtig.",
    change_password: "Passwort ändern",
    password_changed: "Ihr Passwort wurde geändert. Ihre anderen Sitzungen wurden abgemeldet.",
    verify_title: "E-Mail-Adresse bestätigen",
    verify_text: "Bestätigen Sie mit der Schaltfläche, dass diese Adresse Ihnen gehört.",
    verify_button: "Adresse bestätigen",
    verified_title: "Ihre E-Mail-Adresse ist bestätigt",
    verified_text: "Vielen Dank. Sie können dieses Fenster schließen.",
    locked_title: "Anmeldung pausiert",
    locked_reset: "Wenn Sie Ihr Passwort vergessen haben, können Sie es jetzt zurücksetzen; ein neues Passwort \
        beendet auch die Pause.",
    locked_support: "Brauchen Sie Hilfe? Support kontaktieren",
    show_password: "Passwort anzeigen",
    hide_password: "Passwort verbergen",
    language: "Sprache",
    support: "Support",
    privacy: "Datenschutz",
    details: "Technische Details",
    link_not_valid: "Dieser Anmeldelink ist nicht gültig. Bitte kehren Sie zu {product} zurück und versuchen Sie \
        es erneut.",
    the_application: "der Anwendung",
    license_key: "Lizenzschlüssel",
    no_expiry: "Läuft nicht ab",
    deactivate_title: "Gerät deaktivieren?",
    deactivate_question: "{device} für {product} deaktivieren?",
    deactivate_consequence: "Das Gerät funktioniert mit dieser Lizenz nicht mehr, bis es wieder aktiviert wird. \
        Sein Platz wird für ein anderes Gerät frei.",
    deactivate_confirm: "Ja, deaktivieren",
    cancel: "Abbrechen",
    deactivated: "Das Gerät wurde deaktiviert. Sein Platz ist jetzt frei.",
    seat_title: "Alle Plätze sind belegt",
    seat_text: "Ihre Lizenz für {product} wird auf {used} von {max} Geräten genutzt. Um sie hier zu nutzen, \
        deaktivieren Sie im Lizenzportal ein Gerät, das Sie nicht mehr verwenden.",
    seat_portal: "Im Portal einen Platz freigeben",
    seat_continue: "Trotzdem fortfahren",
    type_perpetual: "Unbefristet (läuft nicht ab)",
    type_subscription: "Abonnement",
    type_time_limited: "Befristet",
    type_consumption: "Nutzungsbasiert",
    type_floating: "Floating (geteilte Plätze)",
    mail_reset_subject: "Passwort zurücksetzen",
    mail_reset_text: "Jemand möchte das Passwort Ihres Kontos {account} zurücksetzen. Um ein neues Passwort zu \
        wählen, öffnen Sie diesen Link innerhalb von {minutes} Minuten:",
    mail_verify_subject: "E-Mail-Adresse bestätigen",
    mail_verify_text: "Bitte bestätigen Sie, dass diese Adresse Ihnen gehört (Konto {account}), indem Sie diesen \
        Link öffnen:",
    mail_test_subject: "keyway-Testnachricht",
    mail_test_text: "Dies ist eine Testnachricht von keyway. Ihre SMTP-Einstellungen funktionieren.",
    mail_ignore: "Wenn Sie das nicht angefordert haben, können Sie diese Nachricht ignorieren; es ändert sich nichts.",
};

/// The recovery strings of the page's language.
pub fn strings_for(t: &Strings) -> &'static RecoveryStrings {
    if t.lang == "de" {
        &DE
    } else {
        &EN
    }
}

/// Links to this page in each language (`?lang=`; the choice is kept in a cookie).
pub struct LangSwitch {
    pub en: String,
    pub de: String,
}

impl LangSwitch {
    /// `here`: the page's own GET address (path and query).
    pub fn new(here: &str) -> LangSwitch {
        let base = strip_lang(here);
        LangSwitch {
            en: crate::encoding::with_query(&base, &[("lang", "en")]),
            de: crate::encoding::with_query(&base, &[("lang", "de")]),
        }
    }
}

/// `here` without its `lang` parameter.
fn strip_lang(here: &str) -> String {
    match here.split_once('?') {
        None => here.to_string(),
        Some((path, query)) => {
            let kept: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && !p.starts_with("lang=")).collect();
            if kept.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
    }
}

/// What every branded page shares: strings, brand, language links.
pub struct Chrome<'a> {
    pub t: &'static Strings,
    pub r: &'static RecoveryStrings,
    pub brand: &'a Brand,
    pub lang: LangSwitch,
    /// The product's name for the page header (the brand's display name wins).
    pub product_name: &'a str,
}

impl Chrome<'_> {
    pub fn title_name(&self) -> &str {
        self.brand.name.as_deref().unwrap_or(self.product_name)
    }
}

#[derive(Template)]
#[template(path = "forgot.html")]
pub struct ForgotView<'a> {
    pub t: &'static Strings,
    pub c: Chrome<'a>,
    pub csrf_token: &'a str,
    pub client_id: &'a str,
    pub organization: &'a str,
    pub ask_account: bool,
    pub email_value: &'a str,
    pub account_value: &'a str,
    pub sent: bool,
    pub back_href: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "reset.html")]
pub struct ResetView<'a> {
    pub t: &'static Strings,
    pub c: Chrome<'a>,
    pub csrf_token: &'a str,
    pub token: &'a str,
    pub valid: bool,
    pub done: bool,
    pub error: Option<&'a str>,
    pub forgot_href: &'a str,
    pub back_href: &'a str,
}

#[derive(Template)]
#[template(path = "verify.html")]
pub struct VerifyView<'a> {
    pub t: &'static Strings,
    pub c: Chrome<'a>,
    pub csrf_token: &'a str,
    pub token: &'a str,
    pub valid: bool,
    pub done: bool,
}

#[derive(Template)]
#[template(path = "lockout.html")]
pub struct LockoutView<'a> {
    pub t: &'static Strings,
    pub c: Chrome<'a>,
    pub message: &'a str,
    pub forgot_href: Option<&'a str>,
    pub back_href: &'a str,
}

#[derive(Template)]
#[template(path = "password_change.html")]
pub struct PasswordChangeView<'a> {
    pub t: &'static Strings,
    pub c: Chrome<'a>,
    pub csrf_token: &'a str,
    pub email: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "deactivate.html")]
pub struct DeactivateView<'a> {
    pub t: &'static Strings,
    pub c: Chrome<'a>,
    pub csrf_token: &'a str,
    pub device_id: i64,
    pub question: &'a str,
}

#[derive(Template)]
#[template(path = "seat_notice.html")]
pub struct SeatNoticeView<'a> {
    pub t: &'static Strings,
    pub c: Chrome<'a>,
    pub text: &'a str,
    pub continue_href: &'a str,
    pub portal_href: &'a str,
}

/// The user-facing error page: what happened in words, the technical detail folded away.
#[derive(Template)]
#[template(path = "error_friendly.html")]
pub struct FriendlyErrorView<'a> {
    pub t: &'static Strings,
    pub c: Chrome<'a>,
    pub summary: &'a str,
    pub detail: &'a str,
    pub request_id: &'a str,
}

/// A license type in words.
pub fn license_type_words(r: &RecoveryStrings, ty: &str) -> String {
    match ty {
        "perpetual" => r.type_perpetual.to_string(),
        "subscription" => r.type_subscription.to_string(),
        "time-limited" | "time_limited" => r.type_time_limited.to_string(),
        "consumption" => r.type_consumption.to_string(),
        "floating" => r.type_floating.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_links_keep_the_request() {
        let l = LangSwitch::new("/oauth2/authorize?client_id=a&lang=de&state=x");
        assert_eq!(l.en, "/oauth2/authorize?client_id=a&state=x&lang=en");
        assert_eq!(LangSwitch::new("/login").de, "/login?lang=de");
    }
}
