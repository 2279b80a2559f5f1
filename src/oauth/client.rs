//! Products are the OAuth clients (SPEC §2). Client secrets are generated with 256 random bits and stored as
//! SHA-256: a fast hash is safe for a high-entropy secret and keeps the token endpoint cheap.
use crate::crypto::secrets::{hash_token, secrets_equal};

pub fn hash_client_secret(secret: &str) -> String {
    hash_token(secret)
}

/// Constant-time check of a presented secret against the stored hash.
pub fn verify_client_secret(presented: &str, stored_hash: &str) -> bool {
    secrets_equal(hash_token(presented).as_bytes(), stored_hash.as_bytes())
}

pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_IMPLICIT: &str = "implicit";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
pub const GRANT_TOKEN_EXCHANGE: &str = crate::oauth::discovery::TOKEN_EXCHANGE_GRANT;

/// The grants a new confidential product gets unless told otherwise.
pub fn default_grants(public: bool) -> Vec<String> {
    let mut g = vec![GRANT_AUTHORIZATION_CODE, GRANT_IMPLICIT, GRANT_REFRESH_TOKEN];
    if !public {
        g.push(GRANT_CLIENT_CREDENTIALS);
    }
    g.into_iter().map(String::from).collect()
}

/// A redirect URI is registrable when it is absolute, has no fragment (RFC 6749 §3.1.2) and, over plain http, is
/// a loopback address (RFC 8252 §7.3) — custom schemes for desktop apps are fine.
pub fn valid_redirect_uri(uri: &str) -> Result<(), &'static str> {
    let u = url::Url::parse(uri).map_err(|_| "not an absolute URI")?;
    if u.fragment().is_some() {
        return Err("must not contain a fragment");
    }
    if u.scheme() == "http" {
        match u.host() {
            Some(url::Host::Domain("localhost")) => {}
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => {}
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => {}
            _ => return Err("plain http is allowed only for loopback addresses"),
        }
    }
    if matches!(u.scheme(), "javascript" | "data" | "file" | "vbscript") {
        return Err("scheme not allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_redirects() {
        let h = hash_client_secret("s3cret");
        assert!(verify_client_secret("s3cret", &h));
        assert!(!verify_client_secret("s3cres", &h));
        assert!(valid_redirect_uri("https://app.example/cb").is_ok());
        assert!(valid_redirect_uri("http://127.0.0.1:9/cb").is_ok());
        assert!(valid_redirect_uri("com.example.app:/oauth").is_ok());
        assert!(valid_redirect_uri("http://evil.example/cb").is_err());
        assert!(valid_redirect_uri("https://app.example/cb#x").is_err());
        assert!(valid_redirect_uri("javascript:alert(1)").is_err());
        assert!(valid_redirect_uri("/relative").is_err());
    }
}
