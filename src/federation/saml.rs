//! SAML 2.0 upstream (SPEC §4.4): keyway is the service provider of a customer's IdP, one SP per customer account
//! (entity id and ACS on keyway's issuer). AuthnRequest over HTTP-Redirect (signed when the IdP wants it), Response at
//! the ACS over HTTP-POST, verified with `samael` (XML-DSig through xmlsec, against the metadata certificates only,
//! using only the signed elements) plus keyway's own checks where samael is lenient (docs: /work notes on samael):
//! a certificate must exist, exactly one Response and one Assertion (signature wrapping is refused, not merely
//! neutralised), an AudienceRestriction naming keyway, IssueInstant not in the future, RSA-SHA256/512 only, and each
//! assertion used once (the caller records its id).
use std::io::Read;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer};
use samael::metadata::{EntityDescriptor, HTTP_REDIRECT_BINDING};
use samael::service_provider::{ServiceProvider, ServiceProviderBuilder};
use samael::traits::ToXml;

use super::FederationError;
use crate::crypto::secrets::Secret;
use crate::model::federation::SamlSettings;

/// How long after the IdP issued a response keyway still takes it (samael: IssueInstant + this ≥ now).
const MAX_ISSUE_DELAY: i64 = 90;
/// Skew on NotBefore / NotOnOrAfter and the upper bound of IssueInstant.
const SKEW: i64 = 60;

/// keyway's SP endpoints for one customer account: the entity id is also the metadata URL.
pub struct SpEndpoints {
    pub entity_id: String,
    pub acs_url: String,
}

pub fn endpoints(issuer: &str, account_id: &str) -> SpEndpoints {
    let base = format!("{issuer}/federation/saml/{account_id}");
    SpEndpoints { acs_url: format!("{base}/acs"), entity_id: base }
}

fn misconfigured(what: &str, e: impl std::fmt::Display) -> FederationError {
    FederationError::Misconfigured(format!("{what}: {e}"))
}

/// The IdP's metadata, checked as `idp set` needs it: one EntityDescriptor with an IDPSSODescriptor, an
/// HTTP-Redirect SingleSignOnService and at least one signing certificate (without one samael would skip signature
/// verification entirely). Returns the parsed metadata.
pub fn parse_idp_metadata(xml: &str) -> Result<EntityDescriptor, FederationError> {
    if xml.contains("<!DOCTYPE") || xml.contains("<!doctype") {
        return Err(misconfigured("IdP metadata", "a DOCTYPE is not allowed"));
    }
    let md: EntityDescriptor =
        xml.parse().map_err(|e| misconfigured("IdP metadata (an EntityDescriptor is expected)", e))?;
    if md.entity_id.as_deref().is_none_or(str::is_empty) {
        return Err(misconfigured("IdP metadata", "no entityID"));
    }
    let idp = md
        .idp_sso_descriptors
        .as_ref()
        .and_then(|d| d.first())
        .ok_or_else(|| misconfigured("IdP metadata", "no IDPSSODescriptor"))?;
    if !idp.single_sign_on_services.iter().any(|s| s.binding == HTTP_REDIRECT_BINDING) {
        return Err(misconfigured("IdP metadata", "no SingleSignOnService with the HTTP-Redirect binding"));
    }
    let certs = idp
        .key_descriptors
        .iter()
        .filter(|k| k.key_use.as_deref().is_none_or(|u| u == "signing"))
        .filter(|k| k.key_info.x509_data.as_ref().is_some_and(|x| !x.certificates.is_empty()))
        .count();
    if certs == 0 {
        return Err(misconfigured("IdP metadata", "no signing certificate (KeyDescriptor use=\"signing\")"));
    }
    Ok(md)
}

fn first_certificate(md: &EntityDescriptor) -> Option<CertificateDer> {
    let idp = md.idp_sso_descriptors.as_ref()?.first()?;
    let b64 = idp.key_descriptors.iter().find_map(|k| k.key_info.x509_data.as_ref()?.certificates.first())?;
    let compact: String = b64.split_whitespace().collect();
    STANDARD.decode(compact).ok().map(CertificateDer::from)
}

/// Whether the IdP asks for signed AuthnRequests (its `WantAuthnRequestsSigned`).
pub fn wants_signed_requests(md: &EntityDescriptor) -> bool {
    md.idp_sso_descriptors.as_ref().and_then(|d| d.first()).and_then(|d| d.want_authn_requests_signed).unwrap_or(false)
}

fn service_provider(
    settings: &SamlSettings,
    ep: &SpEndpoints,
    sp_cert: Option<&str>,
) -> Result<ServiceProvider, FederationError> {
    let md = parse_idp_metadata(&settings.idp_metadata)?;
    let mut b = ServiceProviderBuilder::default();
    b.entity_id(ep.entity_id.clone())
        .acs_url(ep.acs_url.clone())
        // samael's metadata() needs an SLO URL; keyway has no single logout, and removes it from the metadata.
        .slo_url(format!("{}/slo", ep.entity_id))
        .idp_metadata(md)
        .allow_idp_initiated(false)
        .max_issue_delay(chrono::Duration::seconds(MAX_ISSUE_DELAY))
        .max_clock_skew(chrono::Duration::seconds(SKEW))
        // samael's default accepts every algorithm xmlsec knows, RSA-SHA1 included.
        .allowed_signature_algorithms(Some(vec![
            AllowedSignatureAlgorithm::RsaSha256,
            AllowedSignatureAlgorithm::RsaSha512,
        ]));
    if let Some(pem) = sp_cert {
        let x = openssl::x509::X509::from_pem(pem.as_bytes()).map_err(|e| misconfigured("SP certificate", e))?;
        b.certificate(Some(CertificateDer::from(x.to_der().map_err(|e| misconfigured("SP certificate", e))?)));
    }
    b.build().map_err(|e| misconfigured("SAML service provider", e))
}

/// keyway's SP metadata for the customer's admin: entity id, the HTTP-POST ACS, and the signing certificate when
/// AuthnRequests are signed.
pub fn sp_metadata(
    settings: &SamlSettings,
    ep: &SpEndpoints,
    sp_cert: Option<&str>,
) -> Result<String, FederationError> {
    let signs = wants_signed_requests(&parse_idp_metadata(&settings.idp_metadata)?);
    let sp = service_provider(settings, ep, if signs { sp_cert } else { None })?;
    let mut md = sp.metadata().map_err(|e| misconfigured("SP metadata", e))?;
    // Uploaded once by the customer's admin: no 48 h validUntil, no single logout; samael emits the certificate
    // twice, the second (with EncryptionMethods) for encryption, which keyway does not use.
    md.valid_until = None;
    for d in md.sp_sso_descriptors.iter_mut().flatten() {
        d.authn_requests_signed = Some(signs);
        d.valid_until = None;
        d.single_logout_services = None;
        if let Some(kds) = d.key_descriptors.as_mut() {
            kds.retain(|k| k.encryption_methods.is_none());
        }
    }
    md.to_string().map_err(|e| misconfigured("SP metadata", e))
}

/// An AuthnRequest for the HTTP-Redirect binding: its id (≥ 128 random bits; samael's own has 32) and the URL.
pub fn authn_request(
    settings: &SamlSettings,
    ep: &SpEndpoints,
    sp: (Option<&str>, Option<&Secret>),
    relay_state: &str,
) -> Result<(String, String), FederationError> {
    let (sp_cert, sp_key) = sp;
    let provider = service_provider(settings, ep, sp_cert)?;
    let sso = provider
        .sso_binding_location(HTTP_REDIRECT_BINDING)
        .ok_or_else(|| misconfigured("IdP metadata", "no HTTP-Redirect SingleSignOnService"))?;
    let mut req = provider.make_authentication_request(&sso).map_err(|e| misconfigured("AuthnRequest", e))?;
    req.id = format!("_kw{}", crate::crypto::secrets::hash_token(&crate::crypto::secrets::random_token()));
    let signs = wants_signed_requests(&parse_idp_metadata(&settings.idp_metadata)?);
    let url = match (signs, sp_key) {
        (true, Some(key)) => {
            let pkey = openssl::pkey::PKey::private_key_from_pem(key.expose().as_bytes())
                .map_err(|e| misconfigured("SP key", e))?;
            req.signed_redirect(relay_state, &pkey).map_err(|e| misconfigured("AuthnRequest", e))?
        }
        (true, None) => {
            return Err(misconfigured("SP key", "the IdP wants signed AuthnRequests and there is no SP key"))
        }
        (false, _) => req.redirect(relay_state).map_err(|e| misconfigured("AuthnRequest", e))?,
    };
    let url = url.ok_or_else(|| misconfigured("AuthnRequest", "no destination"))?;
    Ok((req.id, url.to_string()))
}

/// What a verified response says.
#[derive(Debug, Clone)]
pub struct Verified {
    pub assertion_id: String,
    pub name_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// When the assertion stops being valid: until then its id is remembered (replay).
    pub not_on_or_after: i64,
}

/// Verifies a base64 SAMLResponse answering `request_id` (the structure check first, then samael).
pub fn verify_response(
    settings: &SamlSettings,
    ep: &SpEndpoints,
    b64: &str,
    request_id: &str,
    now: i64,
) -> Result<Verified, FederationError> {
    let compact: String = b64.split_whitespace().collect();
    let raw = STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| FederationError::Rejected("SAMLResponse is not base64".into()))?;
    let xml = String::from_utf8(raw).map_err(|_| FederationError::Rejected("SAMLResponse is not UTF-8".into()))?;
    let doc = structure_check(&xml).map_err(|e| FederationError::Rejected(format!("SAMLResponse structure: {e}")))?;
    // SAML Core §3.2.2: Destination, when present, MUST be checked (the Response itself is often unsigned, so
    // samael's signed-assertion checks do not cover it).
    if doc.destination.as_deref().is_some_and(|d| d != ep.acs_url) {
        return Err(FederationError::Rejected("the Response is addressed to another Destination".into()));
    }
    // A non-Success top-level status carries no assertion: the IdP refused or the user cancelled (SAML Core §3.2.2.2).
    if doc.status.as_deref().is_some_and(|s| s != STATUS_SUCCESS) {
        return Err(FederationError::Cancelled);
    }
    let assertion_in_document = doc.assertion_id.ok_or_else(|| FederationError::Rejected("no Assertion".into()))?;
    super::xmlsec_log::route_to_tracing(|| {
        // A signature-less document against the IdP's certificate: loads the key (initialising xmlsec), finds no
        // Signature and fails quietly.
        if let Some(cert) = parse_idp_metadata(&settings.idp_metadata).ok().as_ref().and_then(first_certificate) {
            let _ =
                <samael::crypto::XmlSec as samael::crypto::CryptoProvider>::verify_signed_xml("<init/>", &cert, None);
        }
    });
    let sp = service_provider(settings, ep, None)?;
    let assertion = sp.parse_xml_response(&xml, Some(&[request_id])).map_err(|e| match e {
        samael::service_provider::Error::ResponseBadStatusCode { .. } => FederationError::Cancelled,
        other => FederationError::Rejected(format!("SAMLResponse: {other}")),
    })?;
    // samael verified an assertion; it must be the one assertion of the document (signature wrapping).
    if assertion.id != assertion_in_document {
        return Err(FederationError::Rejected("the verified assertion is not the document's assertion".into()));
    }
    if assertion.issue_instant.timestamp() > now + SKEW {
        return Err(FederationError::Rejected("the assertion is issued in the future".into()));
    }
    // SAML Profiles §4.1.4.2: the assertion MUST be restricted to this SP (samael checks it only when present).
    let audiences = assertion.conditions.as_ref().and_then(|c| c.audience_restrictions.as_ref());
    let restricted =
        audiences.is_some_and(|rs| !rs.is_empty() && rs.iter().all(|r| r.audience.iter().any(|a| a == &ep.entity_id)));
    if !restricted {
        return Err(FederationError::Rejected("the assertion has no AudienceRestriction naming keyway".into()));
    }
    let name_id = assertion
        .subject
        .as_ref()
        .and_then(|s| s.name_id.as_ref())
        .ok_or_else(|| FederationError::Rejected("the assertion has no NameID".into()))?;
    let attribute = |name: &str| {
        assertion
            .attribute_statements
            .iter()
            .flatten()
            .flat_map(|s| s.attributes.iter())
            .filter(|a| a.name.as_deref() == Some(name) || a.friendly_name.as_deref() == Some(name))
            .flat_map(|a| a.values.iter())
            .find_map(|v| v.value.clone())
    };
    let email = match &settings.email_attribute {
        Some(attr) => attribute(attr),
        None => name_id.format.as_deref().is_none_or(|f| f.ends_with(":emailAddress")).then(|| name_id.value.clone()),
    };
    let name = attribute("displayName")
        .or_else(|| attribute("name"))
        .or_else(|| attribute("urn:oid:2.16.840.1.113730.3.1.241"));
    let not_on_or_after =
        assertion.conditions.as_ref().and_then(|c| c.not_on_or_after).map(|t| t.timestamp()).unwrap_or(now + 3600);
    Ok(Verified { assertion_id: assertion.id, name_id: name_id.value.clone(), email, name, not_on_or_after })
}

const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// What the structure check learned about a SAMLResponse document.
#[derive(Debug, PartialEq, Eq)]
pub struct Structure {
    /// The one Assertion's ID (None for a Response without an assertion, e.g. a refusal).
    pub assertion_id: Option<String>,
    /// The Response's `Destination` attribute.
    pub destination: Option<String>,
    /// The top-level `samlp:Status/samlp:StatusCode/@Value`.
    pub status: Option<String>,
}

/// No DOCTYPE (no entities reach libxml2), exactly one samlp:Response (the root), at most one saml:Assertion (no
/// EncryptedAssertion), unique IDs. The Assertion's ID must be the one samael verified: samael verifies a wrapped
/// document and uses only the signed part; this refuses the wrapping itself (XSW#1–#8).
pub fn structure_check(xml: &str) -> Result<Structure, String> {
    use quick_xml::events::Event;
    use quick_xml::name::ResolveResult;
    const SAML: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";
    const SAMLP: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";
    let mut reader = quick_xml::NsReader::from_str(xml);
    let (mut depth, mut responses) = (0usize, 0usize);
    let mut ids = std::collections::HashSet::new();
    let mut assertion_ids = Vec::new();
    let (mut destination, mut status) = (None, None);
    // The path of (namespace is SAMLP, local name) from the root, to find Response/Status/StatusCode.
    let mut path: Vec<(bool, Vec<u8>)> = Vec::new();
    let attribute = |e: &quick_xml::events::BytesStart, name: &str| -> Result<Option<String>, String> {
        e.try_get_attribute(name)
            .map_err(|e| e.to_string())?
            .map(|a| {
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map(|v| v.into_owned())
                    .map_err(|e| e.to_string())
            })
            .transpose()
    };
    loop {
        let (ns, ev) = reader.read_resolved_event().map_err(|e| e.to_string())?;
        match ev {
            Event::DocType(_) => return Err("DOCTYPE is not allowed".into()),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_start = matches!(ev, Event::Start(_));
                let ns = match ns {
                    ResolveResult::Bound(n) => n.as_ref().to_vec(),
                    _ => Vec::new(),
                };
                let local = e.local_name().as_ref().to_vec();
                if let Some(id) = attribute(e, "ID")? {
                    if !ids.insert(id.clone()) {
                        return Err(format!("duplicate ID {id}"));
                    }
                    if ns == SAML && local == b"Assertion" {
                        assertion_ids.push(id);
                    }
                }
                if ns == SAML && local == b"EncryptedAssertion" {
                    return Err("encrypted assertions are not supported".into());
                }
                if ns == SAMLP && local == b"Response" {
                    responses += 1;
                    if depth != 0 {
                        return Err("a Response inside the Response".into());
                    }
                    destination = attribute(e, "Destination")?;
                }
                let top_status =
                    path.len() == 2 && path[0] == (true, b"Response".to_vec()) && path[1] == (true, b"Status".to_vec());
                if top_status && ns == SAMLP && local == b"StatusCode" && status.is_none() {
                    status = attribute(e, "Value")?;
                }
                if is_start {
                    depth += 1;
                    path.push((ns == SAMLP, local));
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if responses != 1 {
        return Err(format!("{responses} Response elements"));
    }
    let assertion_id = match assertion_ids.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        other => return Err(format!("{} Assertion elements", other.len())),
    };
    if assertion_id.is_none() && status.as_deref() == Some(STATUS_SUCCESS) {
        return Err("a successful Response without an Assertion".into());
    }
    Ok(Structure { assertion_id, destination, status })
}

/// A new SP key pair for signing AuthnRequests: an RSA-2048 key (PKCS#8 PEM) and a self-signed certificate for it,
/// valid ten years (an SP certificate is a key carrier for the IdP, not a trust anchor).
pub fn new_sp_key(entity_id: &str) -> Result<(Secret, String), FederationError> {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let build = || -> Result<(Secret, String), openssl::error::ErrorStack> {
        let rsa = openssl::rsa::Rsa::generate(2048)?;
        let key = openssl::pkey::PKey::from_rsa(rsa)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("CN", &entity_id.chars().take(64).collect::<String>())?;
        let name = name.build();
        let mut b = X509Builder::new()?;
        b.set_version(2)?;
        let mut serial = openssl::bn::BigNum::new()?;
        serial.rand(127, openssl::bn::MsbOption::MAYBE_ZERO, false)?;
        let serial = serial.to_asn1_integer()?;
        b.set_serial_number(&serial)?;
        b.set_subject_name(&name)?;
        b.set_issuer_name(&name)?;
        b.set_pubkey(&key)?;
        let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(3650)?);
        b.set_not_before(&from)?;
        b.set_not_after(&until)?;
        b.sign(&key, MessageDigest::sha256())?;
        let pem = String::from_utf8_lossy(&key.private_key_to_pem_pkcs8()?).into_owned();
        let cert = String::from_utf8_lossy(&b.build().to_pem()?).into_owned();
        Ok((Secret(pem), cert))
    };
    build().map_err(|e| misconfigured("generating the SP key", e))
}

/// SAML HTTP-Redirect messages are DEFLATE-compressed (Bindings §3.4.4.1): for tests and diagnostics.
pub fn inflate(b64: &str) -> Option<String> {
    let raw = STANDARD.decode(b64).ok()?;
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(raw.as_slice()).read_to_string(&mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str =
        r#"xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#;

    fn response(inner: &str) -> String {
        format!(r#"<samlp:Response {P} ID="r1" Destination="https://kw/acs">{inner}</samlp:Response>"#)
    }
    const OK: &str =
        r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>"#;

    #[test]
    fn reads_the_assertion_destination_and_status() {
        let s = structure_check(&response(&format!(r#"{OK}<saml:Assertion ID="a1"/>"#))).unwrap();
        assert_eq!(
            s,
            Structure {
                assertion_id: Some("a1".into()),
                destination: Some("https://kw/acs".into()),
                status: Some(STATUS_SUCCESS.into())
            }
        );
    }

    #[test]
    fn a_refusal_has_no_assertion_and_its_top_level_status() {
        let refusal = r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode></samlp:Status>"#;
        let s = structure_check(&response(refusal)).unwrap();
        assert_eq!(s.assertion_id, None);
        assert_eq!(s.status.as_deref(), Some("urn:oasis:names:tc:SAML:2.0:status:Responder"));
    }

    #[test]
    fn refuses_wrapping_doctype_duplicates_and_empty_success() {
        let two = response(&format!(r#"{OK}<saml:Assertion ID="a1"/><saml:Assertion ID="a2"/>"#));
        assert_eq!(structure_check(&two).unwrap_err(), "2 Assertion elements");
        let dup = response(&format!(r#"{OK}<saml:Assertion ID="r1"/>"#));
        assert_eq!(structure_check(&dup).unwrap_err(), "duplicate ID r1");
        let nested = response(&format!(r#"{OK}<x><samlp:Response ID="r2"/></x>"#));
        assert_eq!(structure_check(&nested).unwrap_err(), "a Response inside the Response");
        let doctype = format!("<!DOCTYPE x []>{}", response(OK));
        assert_eq!(structure_check(&doctype).unwrap_err(), "DOCTYPE is not allowed");
        assert_eq!(structure_check(&response(OK)).unwrap_err(), "a successful Response without an Assertion");
        let encrypted = response(&format!(r#"{OK}<saml:EncryptedAssertion/>"#));
        assert_eq!(structure_check(&encrypted).unwrap_err(), "encrypted assertions are not supported");
    }
}
