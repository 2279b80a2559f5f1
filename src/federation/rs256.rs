//! The RS256 signature of an upstream id_token, checked with ring (RFC 7515 §5.2, RFC 7518 §3.3). `openidconnect`
//! verifies with the RustCrypto `rsa` crate, whose public-key operation cost ~7 % of keyway's CPU per federated
//! login (docs/PERFORMANCE.md); ring's is several times cheaper. Everything but the signature (header rules, `iss`,
//! `aud`, `azp`, `exp`, `iat`, `nonce`) is still checked by `openidconnect` in the caller.
//!
//! Key selection follows `openidconnect` (OIDC Core §10.1): the keys of the set whose `kid` is the header's (any
//! key when the header has none), of type RSA, for signatures, not bound to another algorithm; exactly one must
//! remain. Tokens this module does not handle (another algorithm, a key outside ring's 2048–8192-bit range) are left
//! to `openidconnect`.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::SignatureVerificationError;
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use serde_json::Value;

#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// The signature is good, made by the one eligible key of the set.
    Verified,
    /// Not an RS256 token ring can check: verify it the general way.
    NotHandled,
}

/// Checks the signature of the compact JWS `jws` against `jwks`.
pub fn verify(jwks: &CoreJsonWebKeySet, jws: &str) -> Result<Checked, SignatureVerificationError> {
    let Some((signing_input, sig_b64)) = jws.rsplit_once('.') else { return Ok(Checked::NotHandled) };
    let Some(header) = signing_input.split('.').next().and_then(decode_json) else { return Ok(Checked::NotHandled) };
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Ok(Checked::NotHandled);
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let mut eligible = jwks.keys().iter().filter_map(|k| serde_json::to_value(k).ok()).filter(|k| {
        let field = |name: &str| k.get(name).and_then(Value::as_str);
        field("kty") == Some("RSA")
            && field("use").is_none_or(|u| u == "sig")
            && field("alg").is_none_or(|a| a == "RS256")
            && kid.is_none_or(|kid| field("kid") == Some(kid))
    });
    let (Some(key), None) = (eligible.next(), eligible.next()) else {
        // None, or several: `openidconnect` tells which (NoMatchingKey makes the caller fetch the JWKS again).
        return Ok(Checked::NotHandled);
    };
    let component = |name: &str| key.get(name).and_then(Value::as_str).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
    let (Some(n), Some(e)) = (component("n"), component("e")) else { return Ok(Checked::NotHandled) };
    let bits = n.iter().position(|b| *b != 0).map_or(0, |i| (n.len() - i) * 8);
    if !(2048..=8192).contains(&bits) {
        return Ok(Checked::NotHandled);
    }
    let sig = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| SignatureVerificationError::CryptoError("the signature is not base64url".into()))?;
    RsaPublicKeyComponents { n: &n, e: &e }
        .verify(&RSA_PKCS1_2048_8192_SHA256, signing_input.as_bytes(), &sig)
        .map(|()| Checked::Verified)
        .map_err(|_| SignatureVerificationError::CryptoError("bad RS256 signature".into()))
}

fn decode_json(part: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

    fn key() -> RsaKeyPair {
        let rsa = openssl::rsa::Rsa::generate(2048).expect("keygen");
        let der = openssl::pkey::PKey::from_rsa(rsa).and_then(|k| k.private_key_to_pkcs8()).expect("pkcs8");
        RsaKeyPair::from_pkcs8(&der).expect("key")
    }

    fn jwks(kp: &RsaKeyPair, kid: &str, alg: Option<&str>) -> CoreJsonWebKeySet {
        let comps: RsaPublicKeyComponents<Vec<u8>> = kp.public().into();
        let mut k = serde_json::json!({
            "kty": "RSA", "use": "sig", "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(&comps.n), "e": URL_SAFE_NO_PAD.encode(&comps.e),
        });
        if let Some(a) = alg {
            k["alg"] = a.into();
        }
        serde_json::from_value(serde_json::json!({ "keys": [k] })).expect("jwks")
    }

    fn token(kp: &RsaKeyPair, header: &Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let p = URL_SAFE_NO_PAD.encode(r#"{"iss":"https://idp","sub":"u"}"#);
        let input = format!("{h}.{p}");
        let mut sig = vec![0; kp.public().modulus_len()];
        kp.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig).expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    #[test]
    fn verifies_rs256_and_refuses_tampering() {
        let kp = key();
        let set = jwks(&kp, "k1", Some("RS256"));
        let t = token(&kp, &serde_json::json!({"alg": "RS256", "kid": "k1"}));
        assert_eq!(verify(&set, &t), Ok(Checked::Verified));
        let mut bad = t.clone();
        let last = bad.pop().expect("char");
        bad.push(if last == 'A' { 'B' } else { 'A' });
        assert!(matches!(verify(&set, &bad), Err(SignatureVerificationError::CryptoError(_))));
        let (input, sig) = t.rsplit_once('.').expect("jws");
        let (h, _) = input.split_once('.').expect("jws");
        let other_payload = format!("{h}.{}.{sig}", URL_SAFE_NO_PAD.encode(r#"{"iss":"https://idp","sub":"v"}"#));
        assert!(verify(&set, &other_payload).is_err(), "a payload swapped under the signature");
    }

    #[test]
    fn leaves_what_it_cannot_decide_to_openidconnect() {
        let kp = key();
        let t = token(&kp, &serde_json::json!({"alg": "RS256", "kid": "k1"}));
        assert_eq!(verify(&jwks(&kp, "k2", None), &t), Ok(Checked::NotHandled), "unknown kid");
        assert_eq!(verify(&jwks(&kp, "k1", Some("PS256")), &t), Ok(Checked::NotHandled), "key for another alg");
        let es = token(&kp, &serde_json::json!({"alg": "ES256", "kid": "k1"}));
        assert_eq!(verify(&jwks(&kp, "k1", None), &es), Ok(Checked::NotHandled), "another algorithm");
        assert_eq!(verify(&jwks(&kp, "k1", None), "garbage"), Ok(Checked::NotHandled));
    }
}
