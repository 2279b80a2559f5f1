//! OpenID Connect upstream (SPEC §4.4): keyway is the relying party of a customer's IdP. Authorization code with
//! PKCE S256, `state` and `nonce` bound to the pending keyway request; the id_token verified with the
//! `openidconnect` crate (signature from the IdP's JWKS — fetched again once on an unknown `kid` —, `iss`, `aud`,
//! `azp`, `exp`/`iat` with bounded skew, `nonce`); userinfo when the e-mail is not in the id_token.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreIdTokenVerifier, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, TokenResponse,
};
use serde_json::Value;

use super::FederationError;
use crate::crypto::secrets::Secret;
use crate::model::federation::OidcSettings;
use crate::store::federation::UpstreamIdentity;

/// How long discovery documents (with their JWKS) are kept; an unknown `kid` fetches them again at once.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// Clock skew allowed on the upstream id_token's `exp` and `iat` (OIDC Core §3.1.3.7 leaves it to the RP).
pub const SKEW: i64 = 120;
/// keyway's callback path for every account's OIDC IdP.
pub const CALLBACK_PATH: &str = "/federation/oidc/callback";

/// Discovery documents by issuer.
#[derive(Default)]
pub struct DiscoveryCache {
    map: RwLock<HashMap<String, (Instant, Arc<CoreProviderMetadata>)>>,
}

impl DiscoveryCache {
    /// The provider's metadata with its JWKS: cached, or fetched (`refresh` forces a fetch). Discovery checks that
    /// the document's `issuer` is the configured one (OIDC Discovery §4.3).
    pub async fn get(
        &self,
        http: &reqwest::Client,
        issuer: &str,
        refresh: bool,
    ) -> Result<Arc<CoreProviderMetadata>, FederationError> {
        if !refresh {
            let cached = self
                .map
                .read()
                .ok()
                .and_then(|m| m.get(issuer).filter(|(at, _)| at.elapsed() < DISCOVERY_TTL).map(|(_, v)| v.clone()));
            if let Some(m) = cached {
                return Ok(m);
            }
        }
        let url = IssuerUrl::new(issuer.to_string())
            .map_err(|e| FederationError::Misconfigured(format!("issuer URL: {e}")))?;
        let meta = CoreProviderMetadata::discover_async(url, http).await.map_err(|e| {
            use openidconnect::DiscoveryError as D;
            match e {
                D::Request(e) => FederationError::Unavailable(format!("discovery of {issuer}: {e}")),
                D::Response(status, _, _) if status.is_server_error() => {
                    FederationError::Unavailable(format!("discovery of {issuer}: HTTP {status}"))
                }
                other => FederationError::Misconfigured(format!("discovery of {issuer}: {other}")),
            }
        })?;
        let meta = Arc::new(meta);
        if let Ok(mut m) = self.map.write() {
            m.insert(issuer.to_string(), (Instant::now(), meta.clone()));
        }
        Ok(meta)
    }
}

/// What keyway remembers of an upstream authorization request (stored with the pending request).
pub struct Outgoing {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub code_verifier: String,
}

fn client(
    meta: &CoreProviderMetadata,
    settings: &OidcSettings,
    secret: Option<&Secret>,
    redirect: &str,
) -> Result<ClientWithAuth, FederationError> {
    let redirect = RedirectUrl::new(redirect.to_string())
        .map_err(|e| FederationError::Misconfigured(format!("redirect URI: {e}")))?;
    let client = CoreClient::from_provider_metadata(
        meta.clone(),
        ClientId::new(settings.client_id.clone()),
        secret.map(|s| ClientSecret::new(s.expose().to_string())),
    )
    .set_redirect_uri(redirect);
    // client_secret_basic unless the IdP only takes client_secret_post (RFC 8414 §2).
    let methods = meta.token_endpoint_auth_methods_supported();
    let post_only = methods.is_some_and(|m| {
        m.contains(&CoreClientAuthMethod::ClientSecretPost) && !m.contains(&CoreClientAuthMethod::ClientSecretBasic)
    });
    Ok(if post_only { client.set_auth_type(AuthType::RequestBody) } else { client })
}

type ClientWithAuth = openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The authorization request to send the browser to (RFC 6749 §4.1.1 with PKCE S256, OIDC Core §3.1.2.1).
pub fn authorization_request(
    meta: &CoreProviderMetadata,
    settings: &OidcSettings,
    redirect: &str,
) -> Result<Outgoing, FederationError> {
    let client = client(meta, settings, None, redirect)?;
    let state = crate::crypto::secrets::random_token();
    let nonce = crate::crypto::secrets::random_token();
    let verifier = PkceCodeVerifier::new(crate::crypto::secrets::random_token());
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
    let (s, n) = (state.clone(), nonce.clone());
    let mut req = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        move || CsrfToken::new(s),
        move || Nonce::new(n),
    );
    for scope in &settings.scopes {
        if scope != "openid" {
            req = req.add_scope(Scope::new(scope.clone()));
        }
    }
    let (url, _, _) = req.set_pkce_challenge(challenge).url();
    Ok(Outgoing { url: url.to_string(), state, nonce, code_verifier: verifier.secret().clone() })
}

/// What came back to the callback.
pub struct Callback<'a> {
    pub code: &'a str,
    /// RFC 9207 `iss`, when the IdP sends it.
    pub iss: Option<&'a str>,
}

/// The account's IdP as keyway's client there.
pub struct Upstream<'a> {
    pub settings: &'a OidcSettings,
    pub secret: Option<&'a Secret>,
    /// keyway's callback URL (the registered redirect URI).
    pub redirect: &'a str,
}

/// Redeems the code, verifies the id_token, reads the e-mail (from the id_token, else from userinfo). `pending` is
/// the request's (nonce, code_verifier).
pub async fn finish(
    http: &reqwest::Client,
    cache: &DiscoveryCache,
    up: &Upstream<'_>,
    cb: &Callback<'_>,
    pending: (&str, &str),
    now: i64,
) -> Result<UpstreamIdentity, FederationError> {
    let (nonce, code_verifier) = pending;
    let (settings, secret, redirect) = (up.settings, up.secret, up.redirect);
    // RFC 9207 §2.4: a response naming another issuer is a mix-up attack.
    if cb.iss.is_some_and(|i| i != settings.issuer) {
        return Err(FederationError::Rejected("the authorization response names another issuer (RFC 9207)".into()));
    }
    let meta = cache.get(http, &settings.issuer, false).await?;
    let token = client(&meta, settings, secret, redirect)?
        .exchange_code(AuthorizationCode::new(cb.code.to_string()))
        .map_err(|e| FederationError::Misconfigured(format!("token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(code_verifier.to_string()))
        .request_async(http)
        .await
        .map_err(token_error)?;
    let id_token =
        token.id_token().ok_or_else(|| FederationError::Rejected("the token response has no id_token".into()))?;
    let verify = |meta: &CoreProviderMetadata| -> Result<Value, ClaimsVerificationError> {
        let c = client(meta, settings, secret, redirect).map_err(|e| ClaimsVerificationError::Other(e.to_string()))?;
        let mut verifier: CoreIdTokenVerifier = c
            .id_token_verifier()
            // `exp` with the skew: the verifier compares it with this time.
            .set_time_fn(move || chrono_time(now - SKEW))
            .set_issue_time_verifier_fn(move |iat| {
                if iat.timestamp() > now + SKEW {
                    Err("issued in the future".to_string())
                } else {
                    Ok(())
                }
            });
        // RS256 (the algorithm every OP must offer, OIDC Core §15.1), when the IdP lists it: the signature is
        // checked with ring here, the claims by `openidconnect` below.
        let rs256 =
            meta.id_token_signing_alg_values_supported().contains(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
        if rs256
            && super::rs256::verify(meta.jwks(), &id_token.to_string())
                .map_err(ClaimsVerificationError::SignatureVerification)?
                == super::rs256::Checked::Verified
        {
            verifier = verifier.insecure_disable_signature_check();
        }
        let claims = id_token.claims(&verifier, &Nonce::new(nonce.to_string()))?;
        // OIDC Core §3.1.3.7 (5): an azp, when present, must be this client.
        if claims.authorized_party().is_some_and(|azp| azp.as_str() != settings.client_id) {
            return Err(ClaimsVerificationError::InvalidAudience("azp is another client".into()));
        }
        // The claims were verified over exactly these bytes: read the ones openidconnect has no field for.
        payload(&id_token.to_string()).map_err(ClaimsVerificationError::Other)
    };
    let claims = match verify(&meta) {
        Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
            // The IdP rotated its keys since the JWKS was cached: fetch it again, once.
            let fresh = cache.get(http, &settings.issuer, true).await?;
            verify(&fresh)
        }
        other => other,
    }
    .map_err(|e| FederationError::Rejected(format!("id_token: {e}")))?;
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| FederationError::Rejected("id_token without sub".into()))?;
    let mut source = claims.clone();
    if source.get(&settings.email_claim).and_then(Value::as_str).is_none() {
        source = userinfo(http, &meta, token.access_token().secret(), &subject).await?;
    }
    let email = source.get(&settings.email_claim).and_then(Value::as_str).map(str::to_string);
    let verified = match source.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        // Some IdPs send the boolean as a string.
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    let email = match email {
        Some(e) if verified || settings.allow_unverified_email => Some(e),
        Some(_) => return Err(FederationError::UnverifiedEmail),
        None => None,
    };
    let amr = claims
        .get("amr")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let name = source.get("name").and_then(Value::as_str).map(str::to_string);
    let hosted_domain = claims.get("hd").and_then(Value::as_str).map(str::to_ascii_lowercase);
    Ok(UpstreamIdentity { issuer: settings.issuer.clone(), subject, email, name, amr, hosted_domain })
}

fn chrono_time(unix: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(unix, 0).unwrap_or_default()
}

/// The JSON payload of a compact JWS (already verified by the caller).
fn payload(jws: &str) -> Result<Value, String> {
    let part = jws.split('.').nth(1).ok_or("not a JWS")?;
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// OIDC Core §5.3: the userinfo claims (JSON), whose `sub` must be the id_token's (§5.3.2).
async fn userinfo(
    http: &reqwest::Client,
    meta: &CoreProviderMetadata,
    access_token: &str,
    subject: &str,
) -> Result<Value, FederationError> {
    let url = meta
        .userinfo_endpoint()
        .ok_or_else(|| FederationError::Rejected("no e-mail in the id_token and no userinfo endpoint".into()))?;
    let res = http
        .get(url.as_str())
        .bearer_auth(access_token)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| FederationError::Unavailable(format!("userinfo: {e}")))?;
    if res.status().is_server_error() {
        return Err(FederationError::Unavailable(format!("userinfo: HTTP {}", res.status())));
    }
    if !res.status().is_success() {
        return Err(FederationError::Rejected(format!("userinfo: HTTP {}", res.status())));
    }
    let v: Value = res.json().await.map_err(|e| FederationError::Rejected(format!("userinfo: {e}")))?;
    if v.get("sub").and_then(Value::as_str) != Some(subject) {
        return Err(FederationError::Rejected("userinfo is about another subject".into()));
    }
    Ok(v)
}

fn token_error<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>>,
) -> FederationError {
    use openidconnect::core::CoreErrorResponseType as T;
    match e {
        RequestTokenError::ServerResponse(r) => match r.error() {
            // keyway's client credentials at the IdP are wrong: an operator must fix the configuration.
            T::InvalidClient | T::UnauthorizedClient => {
                FederationError::Misconfigured(format!("token endpoint: {}", r.error()))
            }
            // A used or expired code: a replayed callback.
            _ => FederationError::Rejected(format!("token endpoint: {}", r.error())),
        },
        RequestTokenError::Request(e) => FederationError::Unavailable(format!("token endpoint: {e}")),
        RequestTokenError::Parse(e, _) => FederationError::Rejected(format!("token response: {e}")),
        RequestTokenError::Other(e) => FederationError::Rejected(format!("token endpoint: {e}")),
    }
}
