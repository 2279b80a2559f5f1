//! English and German, chosen by `Accept-Language` (RFC 9110 §12.5.4), English by default.
pub struct Strings {
    pub lang: &'static str,
    pub sign_in: &'static str,
    pub sign_in_to: &'static str,
    pub account: &'static str,
    pub account_code: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub login_failed: &'static str,
    pub csrf_failed: &'static str,
    pub unknown_account: &'static str,
    pub error_title: &'static str,
    pub request_id: &'static str,
    pub sign_out: &'static str,
    pub sign_out_confirm: &'static str,
    pub signed_out: &'static str,
    pub signed_out_text: &'static str,
    pub account_title: &'static str,
    pub signed_in_as: &'static str,
    pub no_licenses: &'static str,
    pub license_type: &'static str,
    pub seats: &'static str,
    pub expires: &'static str,
    pub devices: &'static str,
    pub device: &'static str,
    pub no_devices: &'static str,
    pub activated_at: &'static str,
    pub actions: &'static str,
    pub deactivate: &'static str,
    pub unavailable: &'static str,
    pub too_many_requests: &'static str,
    pub not_found: &'static str,
    /// `{minutes}` is replaced with the minutes until the lock ends.
    pub locked: &'static str,
    /// Federation (SPEC §4.4). `{name}` is the IdP's display name.
    pub sign_in_with: &'static str,
    pub or_password: &'static str,
    pub use_idp: &'static str,
    pub fed_no_idp: &'static str,
    pub fed_expired: &'static str,
    pub fed_misconfigured: &'static str,
    pub fed_cancelled: &'static str,
    pub fed_unavailable: &'static str,
    pub fed_rejected: &'static str,
    pub fed_no_email: &'static str,
    pub fed_not_in_account: &'static str,
    pub fed_disabled: &'static str,
    pub enter_account_or_email: &'static str,
    /// Error pages of malformed requests and of what the server could not do.
    pub page_failed: &'static str,
    pub link_malformed: &'static str,
    pub response_malformed: &'static str,
    pub response_unreadable: &'static str,
    pub no_such_device: &'static str,
    pub form_unreadable: &'static str,
    pub method_not_allowed: &'static str,
    pub not_utf8: &'static str,
    pub sign_out_expired: &'static str,
    pub sso_link_invalid: &'static str,
    /// Put before a page's title when its form came back with an error (WCAG 2.2 technique G199: the title is what
    /// a screen reader announces first).
    pub error_prefix: &'static str,
    /// What the portal's sign-in signs in to, after `sign_in_to`, when no organization's name is known.
    pub license_portal: &'static str,
    /// The form_post page (OAuth 2.0 Form Post Response Mode), seen only without JavaScript.
    pub form_post_title: &'static str,
    pub form_post_text: &'static str,
    pub continue_label: &'static str,
    /// A keyway credential (a passkey) of an account that signs in through its IdP only. `{name}`: the IdP's name.
    pub idp_only: &'static str,
}

pub static EN: Strings = Strings {
    lang: "en",
    sign_in: "Sign in",
    sign_in_to: "Sign in to",
    account: "Account",
    account_code: "Customer account",
    email: "E-mail address",
    password: "Password",
    login_failed: "The e-mail address or password is incorrect.",
    csrf_failed: "Your sign-in form expired. Please try again.",
    unknown_account:
        "The e-mail address or password is incorrect, or the account is temporarily locked. Please try again later.",
    error_title: "Something went wrong",
    request_id: "Request id",
    sign_out: "Sign out",
    sign_out_confirm: "Do you want to sign out?",
    signed_out: "You are signed out",
    signed_out_text: "You can close this window.",
    account_title: "Your licenses",
    signed_in_as: "Signed in as",
    no_licenses: "You have no licenses yet.",
    license_type: "Type",
    seats: "Seats in use",
    expires: "Expires",
    devices: "Active devices",
    device: "Device",
    no_devices: "No active devices.",
    activated_at: "Activated",
    actions: "Actions",
    deactivate: "Deactivate",
    unavailable: "The service is temporarily unavailable. Please try again in a moment.",
    too_many_requests: "Too many attempts in a short time. Please wait a minute and try again.",
    not_found: "This page does not exist.",
    locked: "Too many failed sign-in attempts. Please try again in {minutes} minutes.",
    sign_in_with: "Sign in with {name}",
    or_password: "or with your e-mail address and password",
    use_idp: "Your organization signs in with {name}. Use the button above.",
    fed_no_idp: "This customer account does not sign in through an identity provider.",
    fed_expired: "This sign-in has expired or was already completed. Please return to the application and start again.",
    fed_misconfigured: "Sign-in through your organization's identity provider is not set up correctly. Please contact \
        your administrator.",
    fed_cancelled: "The sign-in was cancelled at your organization's identity provider.",
    fed_unavailable: "Your organization's identity provider cannot be reached right now. Please try again in a moment.",
    fed_rejected: "The answer from your organization's identity provider could not be verified. Please return to the \
        application and try again.",
    fed_no_email: "Your organization's identity provider did not confirm your e-mail address, so keyway cannot tell \
        who you are. Please contact your administrator.",
    fed_not_in_account: "You signed in at your organization's identity provider, but you are not a user of this \
        customer account. Please ask your administrator for access.",
    fed_disabled: "Your user is disabled. Please contact your administrator.",
    enter_account_or_email: "Enter your customer account, or the e-mail address your organization signs you in with.",
    page_failed: "The page could not be shown.",
    link_malformed: "The sign-in link is malformed.",
    response_malformed: "The sign-in response is malformed.",
    response_unreadable: "The sign-in response could not be read.",
    no_such_device: "No such active device.",
    form_unreadable: "The form could not be read.",
    method_not_allowed: "This address does not take this kind of request.",
    not_utf8: "The request is not valid UTF-8.",
    sign_out_expired: "The sign-out form expired. Please try again.",
    sso_link_invalid: "This sign-in link is invalid, has expired or was already used.",
    error_prefix: "Error:",
    license_portal: "your license portal",
    form_post_title: "Back to the application",
    form_post_text: "Press Continue to return to the application.",
    continue_label: "Continue",
    idp_only: "Your organization signs you in with {name}. Please sign in there.",
};

pub static DE: Strings = Strings {
    lang: "de",
    sign_in: "Anmelden",
    sign_in_to: "Anmelden bei",
    account: "Kundenkonto",
    account_code: "Kundenkonto",
    email: "E-Mail-Adresse",
    password: "Passwort",
    login_failed: "E-Mail-Adresse oder Passwort ist falsch.",
    csrf_failed: "Das Anmeldeformular ist abgelaufen. Bitte versuchen Sie es erneut.",
    unknown_account: "E-Mail-Adresse oder Passwort ist falsch, oder das Konto ist vorübergehend gesperrt. Bitte \
        versuchen Sie es später erneut.",
    error_title: "Ein Fehler ist aufgetreten",
    request_id: "Anfrage-ID",
    sign_out: "Abmelden",
    sign_out_confirm: "Möchten Sie sich abmelden?",
    signed_out: "Sie sind abgemeldet",
    signed_out_text: "Sie können dieses Fenster schließen.",
    account_title: "Ihre Lizenzen",
    signed_in_as: "Angemeldet als",
    no_licenses: "Sie haben noch keine Lizenzen.",
    license_type: "Typ",
    seats: "Belegte Plätze",
    expires: "Läuft ab",
    devices: "Aktive Geräte",
    device: "Gerät",
    no_devices: "Keine aktiven Geräte.",
    activated_at: "Aktiviert",
    actions: "Aktionen",
    deactivate: "Deaktivieren",
    unavailable: "Der Dienst ist vorübergehend nicht erreichbar. Bitte versuchen Sie es gleich noch einmal.",
    too_many_requests: "Zu viele Versuche in kurzer Zeit. Bitte warten Sie eine Minute und versuchen Sie es erneut.",
    not_found: "Diese Seite gibt es nicht.",
    locked: "Zu viele fehlgeschlagene Anmeldeversuche. Bitte versuchen Sie es in {minutes} Minuten erneut.",
    sign_in_with: "Mit {name} anmelden",
    or_password: "oder mit E-Mail-Adresse und Passwort",
    use_idp: "Ihre Organisation meldet Sie über {name} an. Bitte verwenden Sie die Schaltfläche oben.",
    fed_no_idp: "Dieses Kundenkonto meldet sich nicht über einen Identitätsanbieter an.",
    fed_expired: "Diese Anmeldung ist abgelaufen oder wurde bereits abgeschlossen. Bitte kehren Sie zur Anwendung \
        zurück und beginnen Sie erneut.",
    fed_misconfigured: "Die Anmeldung über den Identitätsanbieter Ihrer Organisation ist nicht richtig eingerichtet. \
        Bitte wenden Sie sich an Ihre Administration.",
    fed_cancelled: "Die Anmeldung wurde beim Identitätsanbieter Ihrer Organisation abgebrochen.",
    fed_unavailable: "Der Identitätsanbieter Ihrer Organisation ist gerade nicht erreichbar. Bitte versuchen Sie es \
        gleich noch einmal.",
    fed_rejected: "Die Antwort des Identitätsanbieters Ihrer Organisation konnte nicht geprüft werden. Bitte kehren \
        Sie zur Anwendung zurück und versuchen Sie es erneut.",
    fed_no_email: "Der Identitätsanbieter Ihrer Organisation hat Ihre E-Mail-Adresse nicht bestätigt, daher kann \
        keyway Sie nicht zuordnen. Bitte wenden Sie sich an Ihre Administration.",
    fed_not_in_account: "Sie haben sich beim Identitätsanbieter Ihrer Organisation angemeldet, sind aber kein \
        Benutzer dieses Kundenkontos. Bitte bitten Sie Ihre Administration um Zugang.",
    fed_disabled: "Ihr Benutzer ist deaktiviert. Bitte wenden Sie sich an Ihre Administration.",
    enter_account_or_email: "Geben Sie Ihr Kundenkonto ein oder die E-Mail-Adresse, mit der Ihre Organisation Sie \
        anmeldet.",
    page_failed: "Die Seite konnte nicht angezeigt werden.",
    link_malformed: "Der Anmeldelink ist fehlerhaft.",
    response_malformed: "Die Antwort auf die Anmeldung ist fehlerhaft.",
    response_unreadable: "Die Antwort auf die Anmeldung konnte nicht gelesen werden.",
    no_such_device: "Dieses aktive Gerät gibt es nicht.",
    form_unreadable: "Das Formular konnte nicht gelesen werden.",
    method_not_allowed: "Diese Adresse nimmt diese Art von Anfrage nicht an.",
    not_utf8: "Die Anfrage ist kein gültiges UTF-8.",
    sign_out_expired: "Das Abmeldeformular ist abgelaufen. Bitte versuchen Sie es erneut.",
    sso_link_invalid: "Dieser Anmeldelink ist ungültig, abgelaufen oder wurde bereits verwendet.",
    error_prefix: "Fehler:",
    license_portal: "Ihrem Lizenzportal",
    form_post_title: "Zurück zur Anwendung",
    form_post_text: "Drücken Sie „Weiter“, um zur Anwendung zurückzukehren.",
    continue_label: "Weiter",
    idp_only: "Ihre Organisation meldet Sie über {name} an. Bitte melden Sie sich dort an.",
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    En,
    De,
}

impl Locale {
    /// The best of en/de for an `Accept-Language` value, by q-value then order.
    pub fn negotiate(accept_language: Option<&str>) -> Locale {
        let Some(header) = accept_language else { return Locale::En };
        let mut best: Option<(f32, Locale)> = None;
        for item in header.split(',') {
            let mut parts = item.trim().split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts.find_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.parse::<f32>().ok())).unwrap_or(1.0);
            let locale = match tag.split('-').next() {
                Some("de") => Locale::De,
                Some("en") => Locale::En,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, locale));
            }
        }
        best.map(|b| b.1).unwrap_or(Locale::En)
    }

    pub fn strings(self) -> &'static Strings {
        match self {
            Locale::En => &EN,
            Locale::De => &DE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates() {
        assert_eq!(Locale::negotiate(None), Locale::En);
        assert_eq!(Locale::negotiate(Some("de-DE,de;q=0.9,en;q=0.8")), Locale::De);
        assert_eq!(Locale::negotiate(Some("fr-FR, en;q=0.5, de;q=0.7")), Locale::De);
        assert_eq!(Locale::negotiate(Some("fr")), Locale::En);
        assert_eq!(Locale::negotiate(Some("de;q=0, en")), Locale::En);
    }
}
