//! Proof Key for Code Exchange (RFC 7636) with S256 only: `plain` is refused (RFC 9700 §2.1.1).
use crate::crypto::secrets::{s256, secrets_equal};

/// RFC 7636 §4.1, §4.2: 43–128 characters of [A-Z a-z 0-9 - . _ ~] (verifiers and S256 challenges alike).
pub fn valid_value(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// A challenge from an authorization request's `code_challenge` + `code_challenge_method`.
#[derive(Debug, PartialEq, Eq)]
pub enum ChallengeError {
    Malformed,
    /// `plain`, an absent method with a challenge, or a method without a challenge.
    MethodNotS256,
}

/// None when neither is given; an S256 challenge when both are, well-formed.
pub fn parse_challenge(challenge: Option<&str>, method: Option<&str>) -> Result<Option<String>, ChallengeError> {
    match (challenge, method) {
        (None, None) => Ok(None),
        (Some(c), Some("S256")) if valid_value(c) => Ok(Some(c.to_string())),
        (Some(_), Some("S256")) => Err(ChallengeError::Malformed),
        _ => Err(ChallengeError::MethodNotS256),
    }
}

/// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) == challenge, compared in constant time.
pub fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    valid_value(verifier) && secrets_equal(s256(verifier).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_only() {
        assert_eq!(parse_challenge(None, None), Ok(None));
        assert_eq!(parse_challenge(Some(CHALLENGE), Some("S256")), Ok(Some(CHALLENGE.to_string())));
        assert_eq!(parse_challenge(Some("short"), Some("S256")), Err(ChallengeError::Malformed));
        assert_eq!(parse_challenge(Some(CHALLENGE), Some("plain")), Err(ChallengeError::MethodNotS256));
        assert_eq!(parse_challenge(Some(CHALLENGE), None), Err(ChallengeError::MethodNotS256));
        assert_eq!(parse_challenge(None, Some("S256")), Err(ChallengeError::MethodNotS256));
        assert!(verifier_matches(VERIFIER, CHALLENGE));
        assert!(!verifier_matches("x".repeat(43).as_str(), CHALLENGE));
        assert!(!verifier_matches("short", CHALLENGE));
    }
}
