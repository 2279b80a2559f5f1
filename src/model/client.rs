//! Products are the OAuth clients (SPEC §2). The store parses a product row into an [`OAuthClient`] once (grants,
//! redirect URIs) and caches that, so no request re-parses JSON.
use super::ids::{ClientId, RedirectUri};

/// What a client may do (RFC 6749 §1.3 grant types, plus the implicit response types and RFC 8693 exchange).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    AuthorizationCode,
    Implicit,
    RefreshToken,
    ClientCredentials,
    TokenExchange,
}

impl Grant {
    pub const ALL: [Grant; 5] = [
        Grant::AuthorizationCode,
        Grant::Implicit,
        Grant::RefreshToken,
        Grant::ClientCredentials,
        Grant::TokenExchange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Grant::AuthorizationCode => "authorization_code",
            Grant::Implicit => "implicit",
            Grant::RefreshToken => "refresh_token",
            Grant::ClientCredentials => "client_credentials",
            Grant::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    pub fn parse(s: &str) -> Option<Grant> {
        Grant::ALL.into_iter().find(|g| g.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of grants as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GrantSet(u8);

impl GrantSet {
    pub fn allows(self, g: Grant) -> bool {
        self.0 & g.bit() != 0
    }

    pub fn with(self, g: Grant) -> GrantSet {
        GrantSet(self.0 | g.bit())
    }

    /// The grants a new product gets unless told otherwise: code, implicit, refresh, and client credentials for
    /// confidential clients.
    pub fn default_for(public: bool) -> GrantSet {
        let g = GrantSet::default().with(Grant::AuthorizationCode).with(Grant::Implicit).with(Grant::RefreshToken);
        if public {
            g
        } else {
            g.with(Grant::ClientCredentials)
        }
    }

    pub fn iter(self) -> impl Iterator<Item = Grant> {
        Grant::ALL.into_iter().filter(move |g| self.allows(*g))
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Grant::as_str).collect()
    }
}

impl FromIterator<Grant> for GrantSet {
    fn from_iter<I: IntoIterator<Item = Grant>>(iter: I) -> Self {
        iter.into_iter().fold(GrantSet::default(), GrantSet::with)
    }
}

/// The response type `sso_url` uses when the caller names none (SPEC §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultResponseType {
    Code,
    Token,
}

impl DefaultResponseType {
    pub fn parse(s: &str) -> Option<DefaultResponseType> {
        match s {
            "code" => Some(DefaultResponseType::Code),
            "token" => Some(DefaultResponseType::Token),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DefaultResponseType::Code => "code",
            DefaultResponseType::Token => "token",
        }
    }
}

/// A product and the OAuth client it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// The product's own id (foreign keys point here).
    pub id: String,
    pub organization_id: String,
    /// Unique per organization: the License API's `product` parameter.
    pub short_code: String,
    pub name: String,
    pub client_id: ClientId,
    /// SHA-256 of the secret (256 random bits, so a fast hash suffices); None for a public client.
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub default_response_type: DefaultResponseType,
    pub grants: GrantSet,
    /// Short codes of the products this one may mint SSO tokens for and exchange tokens for.
    pub linked_products: Vec<String>,
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    pub refresh_token_ttl: i64,
    /// A disabled product takes no sign-ins, issues no tokens, and its tokens stop introspecting as active.
    pub disabled: bool,
    pub created_at: i64,
}

impl OAuthClient {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    pub fn allows(&self, g: Grant) -> bool {
        self.grants.allows(g)
    }

    /// Exact string match with a registered redirect URI.
    pub fn registered_redirect_uri(&self, uri: &str) -> Option<&RedirectUri> {
        self.redirect_uris.iter().find(|r| r.as_str() == uri)
    }

    /// Whether this product declares `other` (same organization) among the products it may mint for.
    pub fn links_to(&self, other: &OAuthClient) -> bool {
        self.organization_id == other.organization_id && self.linked_products.iter().any(|c| c == &other.short_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_sets() {
        let g = GrantSet::default_for(true);
        assert!(g.allows(Grant::AuthorizationCode) && g.allows(Grant::Implicit) && g.allows(Grant::RefreshToken));
        assert!(!g.allows(Grant::ClientCredentials));
        assert!(GrantSet::default_for(false).allows(Grant::ClientCredentials));
        assert_eq!(GrantSet::default_for(true).names(), ["authorization_code", "implicit", "refresh_token"]);
        assert_eq!(Grant::parse("urn:ietf:params:oauth:grant-type:token-exchange"), Some(Grant::TokenExchange));
        assert_eq!(Grant::parse("password"), None);
        let all: GrantSet = Grant::ALL.into_iter().collect();
        assert_eq!(all.iter().count(), 5);
    }
}
