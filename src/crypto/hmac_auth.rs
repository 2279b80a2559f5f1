//! License API request authentication (SPEC §3.1): parsing the `Authorization` header and checking the HMAC.
use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The parsed parameters of `Authorization: algorithm="hmac-sha256",headers="date",signature="…",apikey="…"`.
#[derive(Debug, PartialEq, Eq)]
pub struct SignedAuthorization {
    pub algorithm: String,
    pub headers: String,
    pub signature: String,
    pub api_key: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum AuthorizationParseError {
    /// Required parameters that are absent, in the order they are documented.
    MissingParams(Vec<&'static str>),
}

const REQUIRED: [&str; 4] = ["algorithm", "headers", "signature", "apikey"];

/// Parses the header. Parameter names are case-insensitive (the Python SDK writes `apiKey`, Node `apikey`), values
/// may be quoted, whitespace around commas is allowed. Unknown parameters are ignored.
pub fn parse_authorization(value: &str) -> Result<SignedAuthorization, AuthorizationParseError> {
    let mut params: HashMap<String, String> = HashMap::new();
    for part in value.split(',') {
        let Some((name, raw)) = part.split_once('=') else { continue };
        let name = name.trim().to_ascii_lowercase();
        let raw = raw.trim();
        let v = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw);
        if !v.is_empty() {
            params.entry(name).or_insert_with(|| v.to_string());
        }
    }
    let missing: Vec<&'static str> = REQUIRED.iter().copied().filter(|p| !params.contains_key(*p)).collect();
    if !missing.is_empty() {
        return Err(AuthorizationParseError::MissingParams(missing));
    }
    let mut take = |k: &str| params.remove(k).unwrap_or_default();
    Ok(SignedAuthorization {
        algorithm: take("algorithm"),
        headers: take("headers"),
        signature: take("signature"),
        api_key: take("apikey"),
    })
}

/// signature = base64(HMAC-SHA256(shared_key, "licenseSpring\ndate: " + Date)).
pub fn compute_signature(shared_key: &str, date: &str) -> String {
    STANDARD.encode(mac(shared_key, date).finalize().into_bytes())
}

/// Constant-time check of a presented signature (`verify_slice` compares in constant time).
pub fn verify_signature(shared_key: &str, date: &str, presented_b64: &str) -> bool {
    let Ok(presented) = STANDARD.decode(presented_b64.trim()) else { return false };
    mac(shared_key, date).verify_slice(&presented).is_ok()
}

fn mac(shared_key: &str, date: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here; fall back to an empty-key MAC anyway
    // rather than panic (it would simply never match).
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(shared_key.as_bytes())
        .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()));
    m.update(b"licenseSpring\ndate: ");
    m.update(date.as_bytes());
    m
}

#[derive(Debug, PartialEq, Eq)]
pub enum DateError {
    Unparseable,
    OutOfWindow,
}

/// Parses an RFC 7231 IMF-fixdate (`Tue, 07 Jun 2011 20:51:35 GMT`) and checks it is within `skew` seconds of `now`.
pub fn check_date(value: &str, now_unix: i64, skew: i64) -> Result<i64, DateError> {
    let value = value.trim();
    if !value.ends_with(" GMT") {
        return Err(DateError::Unparseable);
    }
    let t = httpdate::parse_http_date(value).map_err(|_| DateError::Unparseable)?;
    let unix =
        t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).map_err(|_| DateError::Unparseable)?;
    if (unix - now_unix).abs() > skew {
        return Err(DateError::OutOfWindow);
    }
    Ok(unix)
}

/// Formats a unix time as an IMF-fixdate, for clients (the CLI's examples and the tests).
pub fn http_date(unix: i64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "kw4qSnpSwXzgiv5yxYpZZmFEd9QAeiKTQ6OuyMja";
    const DATE: &str = "Tue, 07 Jun 2011 20:51:35 GMT";
    const SIG: &str = "UDysfR6MndUZReo07Y9r+vErn8vSxrnQ5ulit18iJ/Q=";

    #[test]
    fn published_vector() {
        assert_eq!(compute_signature(KEY, DATE), SIG);
        assert!(verify_signature(KEY, DATE, SIG));
        assert!(!verify_signature(KEY, "Tue, 07 Jun 2011 20:51:36 GMT", SIG));
        assert!(!verify_signature("other", DATE, SIG));
        assert!(!verify_signature(KEY, DATE, "not base64!"));
    }

    #[test]
    fn parses_python_and_node_spellings() {
        let py = format!(r#"algorithm="hmac-sha256",headers="date",signature="{SIG}",apiKey="k-1""#);
        let node = format!(r#"algorithm="hmac-sha256", headers="date", signature="{SIG}", apikey="k-1""#);
        for h in [py, node] {
            let a = parse_authorization(&h).expect("parses");
            assert_eq!(a.api_key, "k-1");
            assert_eq!(a.signature, SIG);
            assert_eq!(a.algorithm, "hmac-sha256");
            assert_eq!(a.headers, "date");
        }
    }

    #[test]
    fn lists_missing_params() {
        assert_eq!(
            parse_authorization(r#"algorithm="hmac-sha256",apikey="x""#),
            Err(AuthorizationParseError::MissingParams(vec!["headers", "signature"]))
        );
        assert_eq!(
            parse_authorization("garbage"),
            Err(AuthorizationParseError::MissingParams(vec!["algorithm", "headers", "signature", "apikey"]))
        );
    }

    #[test]
    fn date_window() {
        let t = 1_307_479_895; // Tue, 07 Jun 2011 20:51:35 GMT
        assert_eq!(check_date(DATE, t, 900), Ok(t));
        assert_eq!(check_date(DATE, t + 900, 900), Ok(t));
        assert_eq!(check_date(DATE, t + 901, 900), Err(DateError::OutOfWindow));
        assert_eq!(check_date(DATE, t - 901, 900), Err(DateError::OutOfWindow));
        assert_eq!(check_date("yesterday", t, 900), Err(DateError::Unparseable));
        assert_eq!(check_date("Tue, 07 Jun 2011 20:51:35 CET", t, 900), Err(DateError::Unparseable));
        assert_eq!(http_date(t), DATE);
    }
}
