//! `oauth::pkce` (RFC 7636, S256 only per RFC 9700 §2.1.1): no store needed.
use keyway::oauth::pkce::{parse_challenge, valid_value, verifier_matches, ChallengeError};

/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[test]
fn appendix_b_vector_verifies() {
    assert!(verifier_matches(VERIFIER, CHALLENGE));
    assert!(!verifier_matches(VERIFIER, &CHALLENGE.replace('E', "F")));
    assert!(!verifier_matches(CHALLENGE, VERIFIER), "the challenge is not a verifier of itself");
    assert!(!verifier_matches(CHALLENGE, CHALLENGE), "plain (verifier == challenge) is never accepted");
}

#[test]
fn verifier_length_and_alphabet() {
    assert!(valid_value(&"a".repeat(43)) && valid_value(&"a".repeat(128)));
    assert!(!valid_value(&"a".repeat(42)) && !valid_value(&"a".repeat(129)));
    assert!(valid_value(&format!("{}-._~", "A".repeat(40))), "unreserved characters");
    for bad in ['+', '/', '=', ' ', '%', 'é'] {
        assert!(!valid_value(&format!("{}{bad}", "a".repeat(42))), "{bad:?} is not allowed");
    }
    assert!(!verifier_matches(&"a".repeat(129), CHALLENGE), "an overlong verifier fails before hashing");
}

#[test]
fn only_s256_challenges() {
    assert_eq!(parse_challenge(None, None), Ok(None));
    assert_eq!(parse_challenge(Some(CHALLENGE), Some("S256")), Ok(Some(CHALLENGE.into())));
    assert_eq!(parse_challenge(Some(CHALLENGE), Some("plain")), Err(ChallengeError::MethodNotS256));
    assert_eq!(parse_challenge(Some(CHALLENGE), Some("s256")), Err(ChallengeError::MethodNotS256), "case-sensitive");
    assert_eq!(parse_challenge(Some(CHALLENGE), None), Err(ChallengeError::MethodNotS256), "no plain default");
    assert_eq!(parse_challenge(None, Some("S256")), Err(ChallengeError::MethodNotS256));
    assert_eq!(parse_challenge(Some("too-short"), Some("S256")), Err(ChallengeError::Malformed));
}
