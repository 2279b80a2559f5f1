//! TOTP (RFC 6238): HMAC-SHA1, six digits, 30-second steps, one step of clock skew either way (§5.2), the standard
//! every authenticator app implements. A code is accepted once: the accepted step is stored and only a later one is
//! accepted after it (one conditional UPDATE, so two concurrent submissions of one code cannot both pass).
use rand::RngCore;
use totp_rs::{Algorithm, TOTP};

use crate::crypto::secrets::secrets_equal;
use crate::store::{Store, StoreError};

pub const STEP: i64 = 30;
const DIGITS: usize = 6;
/// 160 bits, the HMAC-SHA1 block RFC 4226 §4 recommends.
const SECRET_LEN: usize = 20;

pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; SECRET_LEN];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

fn totp(secret: &[u8], issuer: &str, label: &str) -> Option<TOTP> {
    // The otpauth URI format forbids ':' in issuer and label.
    let issuer = issuer.replace(':', " ");
    let label = label.replace(':', " ");
    TOTP::new(Algorithm::SHA1, DIGITS, 1, STEP as u64, secret.to_vec(), Some(issuer), label).ok()
}

/// What an enrolment page shows: the `otpauth://` URI (as a QR code) and the key to type in by hand.
pub struct Enrolment {
    pub uri: String,
    pub manual_key: String,
    /// The QR code of `uri`, an inline SVG document (no script, no style: CSP-safe).
    pub qr_svg: String,
}

pub fn enrolment(secret: &[u8], issuer: &str, label: &str) -> Option<Enrolment> {
    let t = totp(secret, issuer, label)?;
    let uri = t.get_url();
    let qr = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let qr_svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    // The XML declaration is not allowed inside HTML.
    let qr_svg = match qr_svg.find("<svg") {
        Some(i) => qr_svg[i..].to_string(),
        None => qr_svg,
    };
    let b32 = t.get_secret_base32();
    let manual_key = b32.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).to_string()).collect::<Vec<_>>();
    Some(Enrolment { uri, manual_key: manual_key.join(" "), qr_svg })
}

/// The step (`unix / 30`) whose code `code` is, within one step of skew; None when it is none of them.
pub fn matching_step(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret, "keyway", "x")?;
    let current = now.div_euclid(STEP);
    let mut found = None;
    // Every candidate is compared (constant time each), so the time taken does not tell which step matched.
    for step in [current - 1, current, current + 1] {
        if step < 0 {
            continue;
        }
        if secrets_equal(t.generate((step * STEP) as u64).as_bytes(), code.as_bytes()) {
            found = found.or(Some(step));
        }
    }
    found
}

/// Checks `code` against the user's confirmed secret and claims its step (replays refused).
pub async fn verify(store: &Store, cookie_key: &[u8], user_id: &str, code: &str, now: i64) -> Result<bool, StoreError> {
    let Some(rec) = store.find_totp(user_id).await?.filter(|r| r.confirmed) else { return Ok(false) };
    let secret = match store.open_totp_secret(&rec)? {
        Some(s) => s,
        None => super::open(cookie_key, user_id, &rec.secret_enc)
            .ok_or_else(|| StoreError::Corrupt("a TOTP secret does not open with the current key".into()))?,
    };
    match matching_step(&secret, code, now) {
        Some(step) => store.claim_totp_step(user_id, step).await,
        None => Ok(false),
    }
}

/// Confirms an enrolment: `sealed` is the secret shown to the user (kept, sealed with the cookie-derived key, in
/// their pending state until now), `code` its first code; the store seals it with the KEK for good. Stored only
/// when the code matches and the user has no authenticator yet.
pub async fn confirm(
    store: &Store,
    cookie_key: &[u8],
    user_id: &str,
    sealed: &str,
    code: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let Some(secret) = super::open(cookie_key, user_id, sealed) else { return Ok(false) };
    match matching_step(&secret, code, now) {
        Some(step) => store.insert_totp(user_id, &secret, step, now).await,
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vector_and_skew() {
        // RFC 6238 Appendix B, SHA1 secret "12345678901234567890", T = 59 → 94287082 (8 digits; 6 → 287082).
        let secret = b"12345678901234567890";
        assert_eq!(matching_step(secret, "287082", 59), Some(1));
        assert_eq!(matching_step(secret, "287 082", 59 + 30), Some(1), "one step of skew, spaces ignored");
        assert_eq!(matching_step(secret, "287082", 59 + 61), None, "two steps late");
        assert_eq!(matching_step(secret, "28708", 59), None);
        let e = enrolment(secret, "keyway: demo", "a@b").unwrap();
        assert!(e.uri.starts_with("otpauth://totp/"), "{}", e.uri);
        assert!(e.qr_svg.starts_with("<svg"));
        assert_eq!(e.manual_key.replace(' ', ""), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }
}
