//! Configuring a customer account's IdP (the rules behind `keyway idp …`): what makes a valid OIDC or SAML upstream,
//! the issuer presets, and what the customer's admin must register on their side.
use super::{oidc, saml, FederationError};
use crate::crypto::secrets::Secret;
use crate::model::federation::{OidcSettings, SamlSettings};
use crate::model::{CustomerAccount, IdentityProvider, IdpSettings};
use crate::store::Store;

/// Issuer presets: they only fill the issuer (and a display name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preset {
    Google,
    /// Microsoft Entra ID for one tenant, by its tenant id (see `Preset::microsoft`).
    Microsoft {
        tenant: String,
    },
    /// Okta's org authorization server on the customer's Okta domain.
    Okta {
        domain: String,
    },
}

impl Preset {
    /// Entra's id_tokens name the tenant by its id (`https://login.microsoftonline.com/<tenant id>/v2.0`), also when
    /// discovery is asked under a tenant domain, and the multi-tenant endpoints (`common`, `organizations`,
    /// `consumers`) name no single issuer; OpenID Connect Discovery §4.3 wants the configured issuer to be the one in
    /// the metadata and the tokens. So the preset takes the tenant id, a GUID.
    pub fn microsoft(tenant: &str) -> Result<Preset, FederationError> {
        let t = tenant.trim().to_ascii_lowercase();
        let groups: Vec<&str> = t.split('-').collect();
        let is_guid = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
            && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
        if is_guid {
            Ok(Preset::Microsoft { tenant: t })
        } else {
            Err(invalid(format!(
                "--tenant {tenant}: give the Entra tenant id (a GUID, shown as \"Tenant ID\" on the tenant's Overview \
                 page), not a domain or a multi-tenant name: the tokens name the tenant by its id"
            )))
        }
    }

    pub fn issuer(&self) -> String {
        match self {
            Preset::Google => "https://accounts.google.com".into(),
            Preset::Microsoft { tenant } => format!("https://login.microsoftonline.com/{tenant}/v2.0"),
            Preset::Okta { domain } => {
                format!("https://{}", domain.trim_start_matches("https://").trim_end_matches('/'))
            }
        }
    }

    pub fn display_name(&self) -> &'static str {
        match self {
            Preset::Google => "Google",
            Preset::Microsoft { .. } => "Microsoft",
            Preset::Okta { .. } => "Okta",
        }
    }
}

/// An IdP to set for an account.
pub enum IdpSpec {
    Oidc {
        issuer: String,
        client_id: String,
        /// None: a public client (PKCE only).
        client_secret: Option<Secret>,
        scopes: Vec<String>,
        email_claim: String,
        allow_unverified_email: bool,
    },
    Saml {
        metadata_xml: String,
        /// None: the NameID (format emailAddress) is the e-mail.
        email_attribute: Option<String>,
    },
}

pub struct Options {
    /// On the "Sign in with …" button (default: from the preset or the issuer / entity id host).
    pub display_name: Option<String>,
    /// keyway's password form beside the IdP (default: off).
    pub password_login: bool,
    pub just_in_time: bool,
}

fn invalid(msg: impl Into<String>) -> FederationError {
    FederationError::Misconfigured(msg.into())
}

/// An http(s) URL; plain http only for loopback (test IdPs), like redirect URIs (RFC 8252 §7.3).
fn check_issuer(issuer: &str) -> Result<(), FederationError> {
    let u = url::Url::parse(issuer).map_err(|e| invalid(format!("issuer {issuer}: {e}")))?;
    let loopback = matches!(u.host(), Some(url::Host::Domain("localhost")))
        || matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(invalid(format!("issuer {issuer}: must be https"))),
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(invalid(format!("issuer {issuer}: no query or fragment (OIDC Discovery §2)")));
    }
    Ok(())
}

fn host_of(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_else(|| url.to_string())
}

/// Validates the spec and stores it as the account's IdP (replacing any earlier one). A SAML upstream gets a new SP
/// key pair for signing AuthnRequests (used when the IdP's metadata asks for signed requests).
pub async fn set(
    store: &Store,
    issuer: &str,
    account: &CustomerAccount,
    spec: IdpSpec,
    opts: Options,
    now: i64,
) -> Result<IdentityProvider, FederationError> {
    let (settings, secret, sp_certificate, default_name) = match spec {
        IdpSpec::Oidc { issuer: upstream, client_id, client_secret, scopes, email_claim, allow_unverified_email } => {
            let upstream = upstream.trim_end_matches('/').to_string();
            check_issuer(&upstream)?;
            if client_id.trim().is_empty() {
                return Err(invalid("the client id must not be empty"));
            }
            let mut scopes: Vec<String> =
                if scopes.is_empty() { vec!["openid".into(), "email".into(), "profile".into()] } else { scopes };
            if !scopes.iter().any(|s| s == "openid") {
                scopes.insert(0, "openid".into());
            }
            let name = host_of(&upstream);
            let settings = OidcSettings { issuer: upstream, client_id, scopes, email_claim, allow_unverified_email };
            (IdpSettings::Oidc(settings), client_secret, None, name)
        }
        IdpSpec::Saml { metadata_xml, email_attribute } => {
            let md = saml::parse_idp_metadata(&metadata_xml)?;
            let entity_id = md.entity_id.clone().unwrap_or_default();
            let (key, cert) = saml::new_sp_key(&saml::endpoints(issuer, &account.id).entity_id)?;
            let name = host_of(&entity_id);
            let settings = SamlSettings { idp_metadata: metadata_xml, idp_entity_id: entity_id, email_attribute };
            (IdpSettings::Saml(settings), Some(key), Some(cert), name)
        }
    };
    let created_at = store.find_identity_provider(&account.id).await?.map_or(now, |old| old.created_at);
    let idp = IdentityProvider {
        customer_account_id: account.id.clone(),
        display_name: opts.display_name.unwrap_or(default_name),
        settings,
        secret,
        sp_certificate,
        password_login: opts.password_login,
        just_in_time: opts.just_in_time,
        created_at,
        updated_at: now,
    };
    store.set_identity_provider(&idp).await?;
    Ok(idp)
}

/// What the customer's admin registers on their IdP: for OIDC, keyway's redirect URI; for SAML, keyway's SP
/// metadata (entity id, HTTP-POST ACS, signing certificate when requests are signed).
pub fn registration(issuer: &str, idp: &IdentityProvider) -> Result<String, FederationError> {
    match &idp.settings {
        IdpSettings::Oidc(_) => Ok(super::callback_url(issuer)),
        IdpSettings::Saml(s) => {
            saml::sp_metadata(s, &saml::endpoints(issuer, &idp.customer_account_id), idp.sp_certificate.as_deref())
        }
    }
}

/// A normalised e-mail domain for home-realm discovery: lower case, no leading `@`, a dot inside.
pub fn normalise_domain(domain: &str) -> Result<String, FederationError> {
    let d = domain.trim().trim_start_matches('@').to_lowercase();
    let ok = d.contains('.')
        && d.len() <= 253
        && d.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if ok {
        Ok(d)
    } else {
        Err(invalid(format!("{domain} is not a domain name")))
    }
}

/// Checks that discovery works for an OIDC IdP (the CLI warns when it does not: the IdP may be unreachable from
/// where the command runs).
pub async fn check_discovery(http: &reqwest::Client, idp: &IdentityProvider) -> Result<(), FederationError> {
    match &idp.settings {
        IdpSettings::Oidc(o) => oidc::DiscoveryCache::default().get(http, &o.issuer, true).await.map(|_| ()),
        IdpSettings::Saml(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_issuers_and_domains() {
        assert_eq!(Preset::Google.issuer(), "https://accounts.google.com");
        assert_eq!(
            Preset::microsoft("72F988BF-86F1-41AF-91AB-2D7CD011DB47").unwrap().issuer(),
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
        );
        for not_a_tenant_id in ["contoso.onmicrosoft.com", "common", "organizations", "72f988bf-86f1-41af-91ab"] {
            assert!(Preset::microsoft(not_a_tenant_id).is_err(), "{not_a_tenant_id}");
        }
        assert_eq!(Preset::Okta { domain: "https://acme.okta.com/".into() }.issuer(), "https://acme.okta.com");
        assert!(check_issuer("https://idp.example").is_ok());
        assert!(check_issuer("http://127.0.0.1:9000/t").is_ok());
        assert!(check_issuer("http://idp.example").is_err(), "plain http only on loopback");
        assert!(check_issuer("https://idp.example/?x=1").is_err());
        assert_eq!(normalise_domain(" @Globex.Example ").ok().as_deref(), Some("globex.example"));
        assert!(normalise_domain("localhost").is_err());
        assert!(normalise_domain("a..b").is_err());
    }
}
