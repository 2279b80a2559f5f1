//! Outgoing mail over SMTP (issue 17 item 2), through `lettre`. Configured by the `smtp_*` keys; without
//! `smtp_host` there is no mailer and the features that need one (forgot password, verification mails) hide
//! themselves.
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// How the SMTP connection is protected: `none` (plain, for a local relay or tests), `starttls` (RFC 3207, usually
/// port 587) or `tls` (implicit TLS, RFC 8314, usually port 465).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    #[default]
    Starttls,
    Tls,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("smtp_{key}: {reason}")]
    Config { key: &'static str, reason: String },
    #[error("building the message: {0}")]
    Build(String),
    #[error("sending: {0}")]
    Send(String),
}

/// One message: plain text with an HTML alternative (RFC 2046 §5.1.4, multipart/alternative).
pub struct Outgoing {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// The mailer of the `smtp_*` keys, or None when `smtp_host` is not set.
    pub fn from_config(c: &Config) -> Result<Option<Mailer>, MailError> {
        let Some(host) = c.smtp_host.as_deref().filter(|h| !h.is_empty()) else { return Ok(None) };
        let from: Mailbox = c
            .smtp_from
            .as_deref()
            .ok_or(MailError::Config { key: "from", reason: "is required with smtp_host".into() })?
            .parse()
            .map_err(|e| MailError::Config { key: "from", reason: format!("{e}") })?;
        let tls_params = || {
            TlsParameters::new(host.to_string()).map_err(|e| MailError::Config { key: "host", reason: e.to_string() })
        };
        let (tls, default_port) = match c.smtp_tls {
            SmtpTls::None => (Tls::None, 25),
            SmtpTls::Starttls => (Tls::Required(tls_params()?), 587),
            SmtpTls::Tls => (Tls::Wrapper(tls_params()?), 465),
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(c.smtp_port.unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(Duration::from_secs(15)));
        if let Some(user) = &c.smtp_username {
            let password = c.smtp_password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
            b = b.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Some(Mailer { transport: b.build(), from }))
    }

    pub async fn send(&self, m: Outgoing) -> Result<(), MailError> {
        let to: Mailbox = m.to.parse().map_err(|e| MailError::Build(format!("recipient: {e}")))?;
        let body = MultiPart::alternative()
            .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(m.text))
            .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(m.html));
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject)
            .multipart(body)
            .map_err(|e| MailError::Build(e.to_string()))?;
        self.transport.send(msg).await.map(|_| ()).map_err(|e| MailError::Send(e.to_string()))
    }
}
