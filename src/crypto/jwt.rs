//! Compact JWS (RS256, ES256): signing with the ring key held in memory (no key parsing per token) and
//! verification with `jsonwebtoken` against the key ring.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::keys::{KeyError, KeyRing, SigningKey};

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("invalid token: {0}")]
    Invalid(jsonwebtoken::errors::Error),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("claims could not be serialised")]
    Serialize,
}

impl JwtError {
    pub fn is_expired(&self) -> bool {
        matches!(self, JwtError::Invalid(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature))
    }
}

/// Signs `claims` as a JWS with header `{"alg":<the key's>,"typ":typ,"kid":…}`.
pub fn sign<C: Serialize>(key: &SigningKey, typ: &str, claims: &C) -> Result<String, JwtError> {
    let header = serde_json::json!({ "alg": key.alg().as_str(), "typ": typ, "kid": key.kid() });
    let header = serde_json::to_vec(&header).map_err(|_| JwtError::Serialize)?;
    let payload = serde_json::to_vec(claims).map_err(|_| JwtError::Serialize)?;
    let mut out = String::with_capacity(96 + payload.len() * 4 / 3 + 350);
    URL_SAFE_NO_PAD.encode_string(&header, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&sig, &mut out);
    Ok(out)
}

/// What a verifier expects besides a good signature.
pub struct Expect<'a> {
    pub issuer: &'a str,
    /// `None`: any audience (the caller checks it).
    pub audience: Option<&'a str>,
    /// Required `typ` header value (RFC 9068 §4: access tokens are `at+jwt`), if any.
    pub typ: Option<&'a str>,
    pub now: i64,
}

/// Verifies a JWT signed by one of our keys: signature, `iss`, `exp` (no leeway), `aud` and `typ`.
pub fn verify<C: DeserializeOwned>(ring: &KeyRing, token: &str, expect: &Expect<'_>) -> Result<C, JwtError> {
    verify_header_checked(ring, token, expect, |_| Ok(()))
}

/// As [`verify`], refusing a token whose `typ` header is `refused` (an access token offered as an id_token).
pub fn verify_rejecting_typ<C: DeserializeOwned>(
    ring: &KeyRing,
    token: &str,
    expect: &Expect<'_>,
    refused: &str,
) -> Result<C, JwtError> {
    verify_header_checked(ring, token, expect, |h| {
        if h.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(refused)) {
            Err(JwtError::Malformed)
        } else {
            Ok(())
        }
    })
}

fn verify_header_checked<C: DeserializeOwned>(
    ring: &KeyRing,
    token: &str,
    expect: &Expect<'_>,
    check: impl FnOnce(&jsonwebtoken::Header) -> Result<(), JwtError>,
) -> Result<C, JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    check(&header)?;
    if let Some(typ) = expect.typ {
        if !header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(typ)) {
            return Err(JwtError::Malformed);
        }
    }
    let kid = header.kid.ok_or(JwtError::UnknownKey)?;
    let key = ring.by_kid(&kid).ok_or(JwtError::UnknownKey)?;
    // The algorithm is the key's, never the header's choice (RFC 8725 §3.1): a header naming another one is refused.
    if header.alg != key.alg().jwt() {
        return Err(JwtError::Malformed);
    }
    let mut v = jsonwebtoken::Validation::new(key.alg().jwt());
    v.set_issuer(&[expect.issuer]);
    v.leeway = 0;
    // jsonwebtoken reads the system clock; we check `exp` ourselves against the clock we were given.
    v.validate_exp = false;
    v.set_required_spec_claims(&["exp", "iss"]);
    match expect.audience {
        Some(aud) => v.set_audience(&[aud]),
        None => v.validate_aud = false,
    }
    let data = jsonwebtoken::decode::<serde_json::Value>(token, key.decoding(), &v).map_err(JwtError::Invalid)?;
    let exp = data.claims.get("exp").and_then(|e| e.as_i64()).ok_or(JwtError::Malformed)?;
    if exp <= expect.now {
        return Err(JwtError::Invalid(jsonwebtoken::errors::ErrorKind::ExpiredSignature.into()));
    }
    serde_json::from_value(data.claims).map_err(|_| JwtError::Malformed)
}

/// OIDC Core §3.1.3.6 / §3.3.2.11: base64url of the left half of SHA-256 of the ASCII value (`at_hash`, `c_hash`).
pub fn half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::SigningAlg;

    #[test]
    fn round_trip_and_rejections() {
        let dir = tempfile::tempdir().expect("tmp");
        let ring = KeyRing::load_or_create(dir.path(), 100, SigningAlg::ES256).expect("ring");
        let claims = serde_json::json!({"iss": "https://op", "aud": "c1", "sub": "u", "exp": 200, "iat": 100});
        let t = sign(ring.signer(), "JWT", &claims).expect("sign");
        let ok = Expect { issuer: "https://op", audience: Some("c1"), typ: None, now: 150 };
        let back: serde_json::Value = verify(&ring, &t, &ok).expect("verifies");
        assert_eq!(back["sub"], "u");

        assert!(verify::<serde_json::Value>(&ring, &t, &Expect { now: 200, ..ok }).expect_err("expired").is_expired());
        let other_aud = Expect { issuer: "https://op", audience: Some("c2"), typ: None, now: 150 };
        assert!(verify::<serde_json::Value>(&ring, &t, &other_aud).is_err());
        let other_iss = Expect { issuer: "https://evil", audience: Some("c1"), typ: None, now: 150 };
        assert!(verify::<serde_json::Value>(&ring, &t, &other_iss).is_err());
        let want_at = Expect { issuer: "https://op", audience: Some("c1"), typ: Some("at+jwt"), now: 150 };
        assert!(verify::<serde_json::Value>(&ring, &t, &want_at).is_err());

        let other_dir = tempfile::tempdir().expect("tmp");
        let other = KeyRing::load_or_create(other_dir.path(), 100, SigningAlg::RS256).expect("ring");
        assert!(matches!(verify::<serde_json::Value>(&other, &t, &ok), Err(JwtError::UnknownKey)));
        let mut tampered = t.clone();
        tampered.pop();
        tampered.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert!(verify::<serde_json::Value>(&ring, &tampered, &ok).is_err());

        // ES256 from the same ring verifies; its header may not claim another algorithm for the key.
        let es = sign(ring.signer_for(SigningAlg::ES256).expect("ec"), "at+jwt", &claims).expect("sign");
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(es.split('.').next().expect("h")).expect("b64"))
                .expect("json");
        assert_eq!(header["alg"], "ES256");
        let back: serde_json::Value = verify(&ring, &es, &want_at).expect("ES256 verifies");
        assert_eq!(back["sub"], "u");
        let mut parts: Vec<String> = es.split('.').map(str::to_string).collect();
        let forged_header = serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": header["kid"]});
        parts[0] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_header).expect("json"));
        assert!(matches!(verify::<serde_json::Value>(&ring, &parts.join("."), &want_at), Err(JwtError::Malformed)));
    }

    #[test]
    fn at_hash_matches_oidc_example() {
        // OIDC Core Appendix A.3 example: access_token jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y → at_hash
        // 77QmUPtjPfzWtF2AnpK9RQ
        assert_eq!(half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
    }
}
