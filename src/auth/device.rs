//! Device tokens (OWASP "device cookies"): a browser that has signed in successfully as a user gets a signed token
//! naming that user. Failures from browsers without one count against the user's shared lock; a known browser has
//! its own counter with a higher limit, so strangers guessing a user's password cannot lock the user out of the
//! browser they always use.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::crypto::secrets::{random_token, secrets_equal};

/// At most this many users' tokens are kept in one browser's cookie (the newest win).
pub const MAX_PER_BROWSER: usize = 5;

/// A verified device token: this browser signed in as `user_id` before; `device_id` names the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceToken {
    pub user_id: String,
    pub device_id: String,
}

fn mac(key: &[u8], user_id: &str, device_id: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()));
    m.update(b"keyway-device:");
    m.update(user_id.as_bytes());
    m.update(b"\0");
    m.update(device_id.as_bytes());
    m.finalize().into_bytes()[..16].to_vec()
}

impl DeviceToken {
    /// A new token for `user_id` (a fresh device id).
    pub fn issue(user_id: &str) -> DeviceToken {
        DeviceToken { user_id: user_id.to_string(), device_id: random_token()[..22].to_string() }
    }

    /// `user_id.device_id.mac`, the cookie form.
    pub fn encode(&self, key: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            self.user_id,
            self.device_id,
            URL_SAFE_NO_PAD.encode(mac(key, &self.user_id, &self.device_id))
        )
    }

    fn decode(s: &str, key: &[u8]) -> Option<DeviceToken> {
        let mut parts = s.splitn(3, '.');
        let (user_id, device_id, tag) = (parts.next()?, parts.next()?, parts.next()?);
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        secrets_equal(&tag, &mac(key, user_id, device_id))
            .then(|| DeviceToken { user_id: user_id.to_string(), device_id: device_id.to_string() })
    }
}

/// The tokens in a browser's device cookie (`~`-separated); forged or damaged ones are dropped.
pub fn parse_cookie(value: &str, key: &[u8]) -> Vec<DeviceToken> {
    value.split('~').take(MAX_PER_BROWSER).filter_map(|t| DeviceToken::decode(t, key)).collect()
}

/// The cookie value after a successful sign-in with `token`: it replaces the user's earlier token and goes first.
pub fn cookie_with(existing: &[DeviceToken], token: &DeviceToken, key: &[u8]) -> String {
    std::iter::once(token)
        .chain(existing.iter().filter(|t| t.user_id != token.user_id))
        .take(MAX_PER_BROWSER)
        .map(|t| t.encode(key))
        .collect::<Vec<_>>()
        .join("~")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_forgery() {
        let key = b"0123456789abcdef0123456789abcdef";
        let a = DeviceToken::issue("user-a");
        let b = DeviceToken::issue("user-b");
        let cookie = cookie_with(std::slice::from_ref(&a), &b, key);
        assert_eq!(parse_cookie(&cookie, key), vec![b.clone(), a.clone()]);
        assert!(parse_cookie(&cookie, b"another key of thirty-two bytes!").is_empty(), "a token is bound to the key");
        let forged = format!("user-c.{}.{}", a.device_id, a.encode(key).rsplit('.').next().unwrap());
        assert!(parse_cookie(&forged, key).is_empty(), "a token is bound to its user");
        let again = DeviceToken { device_id: a.device_id.clone(), ..a.clone() };
        assert_eq!(
            parse_cookie(&cookie_with(&parse_cookie(&cookie, key), &again, key), key).len(),
            2,
            "one token per user"
        );
        let many: Vec<DeviceToken> = (0..8).map(|i| DeviceToken::issue(&format!("u{i}"))).collect();
        let full = many.iter().fold(String::new(), |c, t| cookie_with(&parse_cookie(&c, key), t, key));
        assert_eq!(parse_cookie(&full, key).len(), MAX_PER_BROWSER);
        assert_eq!(parse_cookie(&full, key)[0].user_id, "u7", "the newest first");
    }
}
