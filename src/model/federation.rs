//! A customer account's upstream identity provider (SPEC §4.4): OpenID Connect or SAML 2.0, one per account.
use serde::{Deserialize, Serialize};

use crate::crypto::secrets::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdpKind {
    Oidc,
    Saml,
}

impl IdpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdpKind::Oidc => "oidc",
            IdpKind::Saml => "saml",
        }
    }

    pub fn parse(s: &str) -> Option<IdpKind> {
        match s {
            "oidc" => Some(IdpKind::Oidc),
            "saml" => Some(IdpKind::Saml),
            _ => None,
        }
    }
}

/// What the sign-in pages need to know about an account's IdP (kept with the cached account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationPolicy {
    pub kind: IdpKind,
    /// Shown on the "Sign in with …" button.
    pub display_name: String,
    /// Whether keyway's own password sign-in stays available beside the IdP (default: no).
    pub password_login: bool,
    /// Whether a person the IdP vouches for who is not yet a user of the account is created (default: no).
    pub just_in_time: bool,
}

/// OpenID Connect upstream settings (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcSettings {
    /// The issuer identifier; discovery is `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Requested scopes (default `openid email profile`).
    pub scopes: Vec<String>,
    /// The claim that holds the e-mail address (default `email`).
    pub email_claim: String,
    /// Accept an e-mail the IdP does not mark `email_verified` (default no).
    pub allow_unverified_email: bool,
}

/// SAML 2.0 upstream settings: the IdP's metadata and where the e-mail is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlSettings {
    /// The IdP's `EntityDescriptor` XML as the customer's admin gave it (entity id, SSO URL, signing certificates).
    pub idp_metadata: String,
    pub idp_entity_id: String,
    /// The attribute that holds the e-mail address; None: the NameID (format emailAddress) is the e-mail.
    pub email_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdpSettings {
    Oidc(OidcSettings),
    Saml(SamlSettings),
}

/// An account's IdP as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    pub customer_account_id: String,
    pub display_name: String,
    pub settings: IdpSettings,
    /// OIDC: the client secret (None: a public client with PKCE). SAML: keyway's SP signing key (PEM).
    pub secret: Option<Secret>,
    /// SAML: keyway's SP certificate (PEM), published in the SP metadata.
    pub sp_certificate: Option<String>,
    pub password_login: bool,
    pub just_in_time: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl IdentityProvider {
    pub fn kind(&self) -> IdpKind {
        match self.settings {
            IdpSettings::Oidc(_) => IdpKind::Oidc,
            IdpSettings::Saml(_) => IdpKind::Saml,
        }
    }

    /// The upstream identifier the `idp` claim and the linked identities use: the OIDC issuer or SAML entity id.
    pub fn upstream_id(&self) -> &str {
        match &self.settings {
            IdpSettings::Oidc(o) => &o.issuer,
            IdpSettings::Saml(s) => &s.idp_entity_id,
        }
    }

    pub fn policy(&self) -> FederationPolicy {
        FederationPolicy {
            kind: self.kind(),
            display_name: self.display_name.clone(),
            password_login: self.password_login,
            just_in_time: self.just_in_time,
        }
    }
}
