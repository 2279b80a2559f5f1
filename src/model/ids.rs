//! Identifiers that are easy to mix up as bare strings: a client id, a redirect URI and a hardware id each get a type,
//! made once at the edge.
use std::fmt;

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_newtype!(
    /// An OAuth client identifier (RFC 6749 §2.2): the product's `client_id`.
    ClientId
);
string_newtype!(
    /// A redirect URI, compared as an exact string (RFC 9700 §4.1.1): never normalised.
    RedirectUri
);
string_newtype!(
    /// A device's hardware id as the License API and the SDKs send it.
    HardwareId
);

impl ClientId {
    pub fn new(s: impl Into<String>) -> ClientId {
        ClientId(s.into())
    }
}

impl RedirectUri {
    /// As received in a request: no normalisation, so that comparison with a registered URI is exact.
    pub fn new(s: impl Into<String>) -> RedirectUri {
        RedirectUri(s.into())
    }

    /// A redirect URI that may be registered: absolute, no fragment (RFC 6749 §3.1.2), plain http only for loopback
    /// addresses (RFC 8252 §7.3), and no script-like schemes; custom schemes for desktop apps are fine.
    pub fn registrable(uri: &str) -> Result<RedirectUri, &'static str> {
        let u = url::Url::parse(uri).map_err(|_| "not an absolute URI")?;
        if u.fragment().is_some() {
            return Err("must not contain a fragment");
        }
        if matches!(u.scheme(), "javascript" | "data" | "file" | "vbscript") {
            return Err("scheme not allowed");
        }
        if u.scheme() == "http" {
            match u.host() {
                Some(url::Host::Domain("localhost")) => {}
                Some(url::Host::Ipv4(ip)) if ip.is_loopback() => {}
                Some(url::Host::Ipv6(ip)) if ip.is_loopback() => {}
                _ => return Err("plain http is allowed only for loopback addresses"),
            }
        }
        Ok(RedirectUri(uri.to_string()))
    }
}

impl HardwareId {
    pub const MAX_LEN: usize = 1024;

    /// A non-empty id of at most `MAX_LEN` bytes, without control characters (it is shown in the portal and signed
    /// into `license_signature`).
    pub fn parse(s: &str) -> Result<HardwareId, &'static str> {
        if s.is_empty() {
            return Err("hardware_id must not be empty");
        }
        if s.len() > Self::MAX_LEN {
            return Err("hardware_id is too long");
        }
        if s.chars().any(char::is_control) {
            return Err("hardware_id must not contain control characters");
        }
        Ok(HardwareId(s.to_string()))
    }

    /// A stored id (already validated when it was written).
    pub fn from_stored(s: String) -> HardwareId {
        HardwareId(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_redirect_uris() {
        assert!(RedirectUri::registrable("https://app.example/cb").is_ok());
        assert!(RedirectUri::registrable("http://127.0.0.1:9/cb").is_ok());
        assert!(RedirectUri::registrable("http://[::1]:9/cb").is_ok());
        assert!(RedirectUri::registrable("com.example.app:/oauth").is_ok());
        assert!(RedirectUri::registrable("http://evil.example/cb").is_err());
        assert!(RedirectUri::registrable("https://app.example/cb#x").is_err());
        assert!(RedirectUri::registrable("javascript:alert(1)").is_err());
        assert!(RedirectUri::registrable("/relative").is_err());
    }

    #[test]
    fn hardware_ids() {
        assert!(HardwareId::parse("abc-123").is_ok());
        assert!(HardwareId::parse("").is_err());
        assert!(HardwareId::parse("a\nb").is_err());
        assert!(HardwareId::parse(&"x".repeat(HardwareId::MAX_LEN + 1)).is_err());
        assert_eq!(HardwareId::parse("ab").map(|h| h.to_string()), Ok("ab".to_string()));
    }
}
