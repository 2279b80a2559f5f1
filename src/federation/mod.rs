//! Customer-account federation (SPEC §4.4): a customer account's people sign in through the customer's own identity
//! provider, OpenID Connect (`oidc`) or SAML 2.0 (`saml`); keyway then continues the pending authorization request
//! (or the portal sign-in) exactly as after a password login, with its own session, codes and tokens.
//!
//! A login goes: `start` (a pending request bound to this browser by a cookie, then off to the IdP) → the IdP's
//! answer (`complete_oidc` at the callback; `saml_acs` at the ACS, then `complete_saml` when the browser comes back,
//! because the IdP's cross-site POST carries no SameSite cookies) → the account's user by linked identity or
//! verified e-mail (or created just in time when the account allows it).
pub mod oidc;
mod rs256;
pub mod saml;
pub mod setup;
pub mod xmlsec_log;

use std::sync::Arc;

use crate::audit::{self, Actor};
use crate::crypto::secrets::{hash_token, random_token, Secret};
use crate::model::{CustomerAccount, IdentityProvider, IdpKind, IdpSettings, LicenseUser};
use crate::oauth::session::Authentication;
use crate::store::audit::AuditEvent;
use crate::store::federation::{status, FederatedUser, FederationRequest, UpstreamIdentity};
use crate::store::{Store, StoreError};

/// A pending upstream login lives this long (the user has to sign in at their IdP meanwhile).
pub const PENDING_TTL: i64 = 600;

/// The federation runtime: an HTTP client for the IdPs (no redirects followed, bounded time) and the discovery cache.
pub struct Federation {
    pub http: reqwest::Client,
    pub discovery: oidc::DiscoveryCache,
}

impl Federation {
    pub fn new() -> Result<Federation, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(10))
            .user_agent(concat!("keyway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Federation { http, discovery: oidc::DiscoveryCache::default() })
    }
}

/// What the rules need.
#[derive(Clone, Copy)]
pub struct FederationDeps<'a> {
    pub store: &'a Store,
    pub runtime: &'a Federation,
    /// keyway's issuer: the base of the callback, ACS and SP entity ids.
    pub issuer: &'a str,
}

/// Where the user goes once signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnTo {
    /// The pending authorization request, as received (validated again when it is continued).
    Authorize(String),
    Portal,
    /// The portal's security page, after the fresh sign-in its changes need.
    Security,
}

impl ReturnTo {
    /// The stored form (a pending federated sign-in's or second factor's `return_to`).
    pub fn encode(&self) -> String {
        match self {
            ReturnTo::Authorize(raw) => format!("authorize:{raw}"),
            ReturnTo::Portal => "portal".into(),
            ReturnTo::Security => "security".into(),
        }
    }

    /// The stored form read back; anything else is the portal.
    pub fn decode(s: &str) -> ReturnTo {
        match s.strip_prefix("authorize:") {
            Some(raw) => ReturnTo::Authorize(raw.to_string()),
            None if s == "security" => ReturnTo::Security,
            None => ReturnTo::Portal,
        }
    }

    /// Where a new session goes when it answers no authorization request.
    pub fn portal_path(&self) -> Option<&'static str> {
        match self {
            ReturnTo::Authorize(_) => None,
            ReturnTo::Portal => Some("/account"),
            ReturnTo::Security => Some("/account/security"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    #[error("the customer account has no identity provider")]
    NoIdp,
    /// The IdP cannot be reached or answers with a server error: try again later.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// keyway's configuration for the IdP is wrong (client secret, metadata): the operator must fix it.
    #[error("the identity provider configuration is wrong: {0}")]
    Misconfigured(String),
    /// The upstream answer failed verification (signature, issuer, audience, nonce, time, replay…).
    #[error("the identity provider's answer was refused: {0}")]
    Rejected(String),
    /// The user cancelled at the IdP (OIDC `access_denied`, a SAML non-success status).
    #[error("the sign-in was cancelled at the identity provider")]
    Cancelled,
    /// Unknown, expired or already used pending request, or one started in another browser.
    #[error("the sign-in request is unknown, expired or was already used")]
    Expired,
    #[error("the identity provider did not vouch for the e-mail address (email_verified)")]
    UnverifiedEmail,
    #[error("the identity provider named no e-mail address and no linked user")]
    NoEmail,
    /// The person is not a user of the account and just-in-time creation is off.
    #[error("not a user of this customer account")]
    NotInAccount,
    #[error("the user is disabled")]
    UserDisabled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A federated sign-in that succeeded.
#[derive(Debug)]
pub struct Completed {
    pub user: LicenseUser,
    pub account: Arc<CustomerAccount>,
    pub how: Authentication,
    pub return_to: ReturnTo,
}

/// A failed one, with where it was going (so an authorization request can be answered with an error redirect).
#[derive(Debug)]
pub struct Failed {
    pub error: FederationError,
    pub return_to: Option<ReturnTo>,
}

impl<E: Into<FederationError>> From<E> for Failed {
    fn from(e: E) -> Self {
        Failed { error: e.into(), return_to: None }
    }
}

/// Sends the browser to the account's IdP: a pending request bound to the browser cookie `browser` (the caller sets
/// it; a new one when the browser has none), the upstream authorization request or AuthnRequest. Returns the URL.
pub async fn start(
    deps: &FederationDeps<'_>,
    account: &CustomerAccount,
    return_to: ReturnTo,
    browser: &str,
    now: i64,
) -> Result<String, FederationError> {
    let idp = deps.store.find_identity_provider(&account.id).await?.ok_or(FederationError::NoIdp)?;
    let handle = random_token();
    let mut pending = FederationRequest {
        id_hash: hash_token(&handle),
        customer_account_id: account.id.clone(),
        kind: idp.kind(),
        browser_hash: hash_token(browser),
        nonce: None,
        code_verifier: None,
        saml_request_id: None,
        return_to: return_to.encode(),
        status: status::PENDING.into(),
        result: None,
        expires_at: now + PENDING_TTL,
        created_at: now,
    };
    let url = match &idp.settings {
        IdpSettings::Oidc(settings) => {
            let meta = deps.runtime.discovery.get(&deps.runtime.http, &settings.issuer, false).await?;
            let out = oidc::authorization_request(&meta, settings, &callback_url(deps.issuer))?;
            // The pending request is found by the hash of `state`: the handle is the state itself.
            pending.id_hash = hash_token(&out.state);
            pending.nonce = Some(out.nonce);
            pending.code_verifier = Some(Secret(out.code_verifier));
            out.url
        }
        IdpSettings::Saml(settings) => {
            let ep = saml::endpoints(deps.issuer, &account.id);
            let (request_id, url) =
                saml::authn_request(settings, &ep, (idp.sp_certificate.as_deref(), idp.secret.as_ref()), &handle)?;
            pending.saml_request_id = Some(request_id);
            url
        }
    };
    deps.store.insert_federation_request(&pending).await?;
    record(deps.store, &account.id, "federation.start", idp.kind().as_str(), now).await;
    Ok(url)
}

pub fn callback_url(issuer: &str) -> String {
    format!("{issuer}{}", oidc::CALLBACK_PATH)
}

/// The OIDC callback's parameters (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207).
#[derive(Debug, Default)]
pub struct OidcCallback<'a> {
    pub state: Option<&'a str>,
    pub code: Option<&'a str>,
    pub error: Option<&'a str>,
    pub iss: Option<&'a str>,
}

/// Completes an OIDC login: the pending request (this browser's, once), the code exchanged and the id_token
/// verified, the account's user found.
pub async fn complete_oidc(
    deps: &FederationDeps<'_>,
    cb: &OidcCallback<'_>,
    browser: Option<&str>,
    now: i64,
) -> Result<Completed, Failed> {
    let state = cb.state.ok_or(FederationError::Expired)?;
    let browser_hash = browser.map(hash_token).ok_or(FederationError::Expired)?;
    let pending = deps
        .store
        .advance_federation_request(&hash_token(state), status::PENDING, status::DONE, Some(&browser_hash), now)
        .await?
        .filter(|p| p.kind == IdpKind::Oidc)
        .ok_or(FederationError::Expired)?;
    let return_to = ReturnTo::decode(&pending.return_to);
    let fail = |error: FederationError| Failed { error, return_to: Some(return_to.clone()) };
    let (account, idp) = account_and_idp(deps.store, &pending.customer_account_id).await.map_err(fail)?;
    let IdpSettings::Oidc(settings) = &idp.settings else { return Err(fail(FederationError::NoIdp)) };
    let outcome = async {
        if let Some(e) = cb.error {
            return Err(if e == "access_denied" {
                FederationError::Cancelled
            } else {
                FederationError::Rejected(format!("the IdP answered {e}"))
            });
        }
        let code = cb.code.ok_or_else(|| FederationError::Rejected("the callback has no code".into()))?;
        let pending_secrets =
            (pending.nonce.as_deref().unwrap_or(""), pending.code_verifier.as_ref().map(Secret::expose).unwrap_or(""));
        let upstream = oidc::Upstream { settings, secret: idp.secret.as_ref(), redirect: &callback_url(deps.issuer) };
        oidc::finish(
            &deps.runtime.http,
            &deps.runtime.discovery,
            &upstream,
            &oidc::Callback { code, iss: cb.iss },
            pending_secrets,
            now,
        )
        .await
    }
    .await;
    let who = match outcome {
        Ok(w) => w,
        Err(e) => {
            record(deps.store, &account.id, "federation.login", &format!("failure: {e}"), now).await;
            return Err(fail(e));
        }
    };
    finish_login(deps.store, account, &idp, who, return_to, now).await
}

/// The ACS: verifies a SAMLResponse for a pending request of this account and keeps the result for the browser's
/// return (`complete_saml`). Returns the handle to send the browser back with.
pub async fn saml_acs(
    deps: &FederationDeps<'_>,
    account_id: &str,
    saml_response: &str,
    relay_state: &str,
    now: i64,
) -> Result<String, Failed> {
    let id_hash = hash_token(relay_state);
    // IdP-initiated responses (no pending request) are refused: RelayState must name one of ours (once).
    let pending = deps
        .store
        .advance_federation_request(&id_hash, status::PENDING, status::VERIFYING, None, now)
        .await?
        .filter(|p| p.kind == IdpKind::Saml && p.customer_account_id == account_id)
        .ok_or(FederationError::Expired)?;
    let return_to = ReturnTo::decode(&pending.return_to);
    let fail = |error: FederationError| Failed { error, return_to: Some(return_to.clone()) };
    let (account, idp) = account_and_idp(deps.store, account_id).await.map_err(fail)?;
    let IdpSettings::Saml(settings) = idp.settings.clone() else { return Err(fail(FederationError::NoIdp)) };
    let ep = saml::endpoints(deps.issuer, account_id);
    let request_id = pending.saml_request_id.clone().unwrap_or_default();
    let b64 = saml_response.to_string();
    // XML-DSig verification is CPU work for libxml2 and xmlsec: off the async workers.
    let verified = tokio::task::spawn_blocking(move || saml::verify_response(&settings, &ep, &b64, &request_id, now))
        .await
        .map_err(|e| fail(FederationError::Rejected(format!("verification task: {e}"))))?;
    let v = match verified {
        Ok(v) => v,
        Err(e) => {
            deps.store.federation_request_failed(&id_hash).await?;
            record(deps.store, &account.id, "federation.login", &format!("failure: {e}"), now).await;
            return Err(fail(e));
        }
    };
    // Each assertion once (SAML Profiles §4.1.4.5): remembered until it expires.
    let key = hash_token(&format!("{}\0{}", idp.upstream_id(), v.assertion_id));
    if !deps.store.claim_assertion(&key, v.not_on_or_after.max(now + 300)).await? {
        deps.store.federation_request_failed(&id_hash).await?;
        record(deps.store, &account.id, "federation.login", "failure: replayed assertion", now).await;
        return Err(fail(FederationError::Rejected("the assertion was used before".into())));
    }
    let who = UpstreamIdentity {
        issuer: idp.upstream_id().to_string(),
        subject: v.name_id,
        email: v.email,
        name: v.name,
        amr: Vec::new(),
        hosted_domain: None,
    };
    let result =
        serde_json::to_string(&who).map_err(|e| fail(FederationError::Store(StoreError::Db(e.to_string()))))?;
    if !deps.store.federation_request_verified(&id_hash, &result).await? {
        return Err(fail(FederationError::Expired));
    }
    Ok(relay_state.to_string())
}

/// The browser's return after the ACS: the verified result of its own pending request, once.
pub async fn complete_saml(
    deps: &FederationDeps<'_>,
    handle: &str,
    browser: Option<&str>,
    now: i64,
) -> Result<Completed, Failed> {
    let browser_hash = browser.map(hash_token).ok_or(FederationError::Expired)?;
    let pending = deps
        .store
        .advance_federation_request(&hash_token(handle), status::VERIFIED, status::DONE, Some(&browser_hash), now)
        .await?
        .ok_or(FederationError::Expired)?;
    let return_to = ReturnTo::decode(&pending.return_to);
    let fail = |error: FederationError| Failed { error, return_to: Some(return_to.clone()) };
    let who: UpstreamIdentity = pending
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .ok_or_else(|| fail(FederationError::Store(StoreError::Corrupt("federation result".into()))))?;
    let (account, idp) = account_and_idp(deps.store, &pending.customer_account_id).await.map_err(fail)?;
    finish_login(deps.store, account, &idp, who, return_to, now).await
}

async fn account_and_idp(
    store: &Store,
    account_id: &str,
) -> Result<(Arc<CustomerAccount>, IdentityProvider), FederationError> {
    let account = store.find_customer_account(account_id).await?.ok_or(FederationError::NoIdp)?;
    let idp = store.find_identity_provider(account_id).await?.ok_or(FederationError::NoIdp)?;
    Ok((account, idp))
}

/// The account's user behind the upstream identity (never another account's), then the sign-in's authentication.
async fn finish_login(
    store: &Store,
    account: Arc<CustomerAccount>,
    idp: &IdentityProvider,
    who: UpstreamIdentity,
    return_to: ReturnTo,
    now: i64,
) -> Result<Completed, Failed> {
    let fail = |error: FederationError| Failed { error, return_to: Some(return_to.clone()) };
    let jit = idp.just_in_time
        && may_create(idp, &who, &store.account_domains(&account.id).await.map_err(|e| fail(e.into()))?);
    let found = store.federated_user(&account, &who, jit, now).await.map_err(|e| fail(e.into()))?;
    let (user, how_found) = match found {
        FederatedUser::Linked(u) => (u, "linked identity"),
        FederatedUser::LinkedByEmail(u) => (u, "e-mail, identity linked now"),
        FederatedUser::Created(u) => (u, "created just in time"),
        FederatedUser::NotInAccount => {
            let e = if who.email.is_none() { FederationError::NoEmail } else { FederationError::NotInAccount };
            record(store, &account.id, "federation.login", &format!("failure: {e} ({})", who.issuer), now).await;
            return Err(fail(e));
        }
    };
    if user.disabled {
        record(store, &account.id, "federation.login", &format!("failure: disabled user {}", user.id), now).await;
        return Err(fail(FederationError::UserDisabled));
    }
    let actor = Actor::user(&user.id);
    let outcome = format!("success via {} ({how_found})", who.issuer);
    audit::record(
        store,
        AuditEvent {
            actor: actor.as_str(),
            action: "federation.login",
            subject: &user.id,
            client_ip: None,
            outcome: &outcome,
        },
        now,
    )
    .await;
    let how = Authentication::federated(&who.issuer, &who.amr);
    Ok(Completed { user, account, how, return_to })
}

/// Whether just-in-time creation may admit this person (the account has JIT on). JIT creates whoever the IdP vouches
/// for, so it is bounded where the IdP vouches for more than the customer's people: Google's issuer serves every
/// Google account in the world, so there only a Workspace user whose hosted domain (`hd`) is one of the account's
/// domains is created; with the customer's own IdP, domains configured for the account bound the e-mail's domain.
fn may_create(idp: &IdentityProvider, who: &UpstreamIdentity, domains: &[String]) -> bool {
    let email_domain = who.email.as_deref().and_then(|e| e.rsplit_once('@')).map(|(_, d)| d.to_ascii_lowercase());
    let listed = |d: &Option<String>| d.as_ref().is_some_and(|d| domains.iter().any(|x| x == d));
    if idp.upstream_id() == setup::Preset::Google.issuer() {
        listed(&who.hosted_domain) && listed(&email_domain)
    } else {
        domains.is_empty() || listed(&email_domain)
    }
}

async fn record(store: &Store, account_id: &str, action: &str, outcome: &str, now: i64) {
    let actor = Actor::anonymous();
    audit::record(
        store,
        AuditEvent { actor: actor.as_str(), action, subject: account_id, client_ip: None, outcome },
        now,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::federation::OidcSettings;

    #[test]
    fn return_to_survives_its_stored_form() {
        for r in [ReturnTo::Authorize("client_id=a&state=b:c".into()), ReturnTo::Portal, ReturnTo::Security] {
            assert_eq!(ReturnTo::decode(&r.encode()), r);
        }
        assert_eq!(ReturnTo::decode("something else"), ReturnTo::Portal);
        assert_eq!(ReturnTo::Security.portal_path(), Some("/account/security"));
        assert_eq!(ReturnTo::Authorize(String::new()).portal_path(), None);
    }

    fn idp(issuer: &str) -> IdentityProvider {
        IdentityProvider {
            customer_account_id: "a".into(),
            display_name: "x".into(),
            settings: IdpSettings::Oidc(OidcSettings {
                issuer: issuer.into(),
                client_id: "c".into(),
                scopes: vec![],
                email_claim: "email".into(),
                allow_unverified_email: false,
            }),
            secret: None,
            sp_certificate: None,
            password_login: false,
            just_in_time: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn who(email: &str, hd: Option<&str>) -> UpstreamIdentity {
        UpstreamIdentity {
            issuer: String::new(),
            subject: "s".into(),
            email: Some(email.into()),
            name: None,
            amr: vec![],
            hosted_domain: hd.map(str::to_string),
        }
    }

    #[test]
    fn jit_is_bounded_by_the_accounts_domains_and_googles_hosted_domain() {
        let own = idp("https://login.globex.example");
        let domains = vec!["globex.example".to_string()];
        assert!(may_create(&own, &who("a@anything.example", None), &[]), "the customer's own IdP, no domains");
        assert!(may_create(&own, &who("a@Globex.Example", None), &domains));
        assert!(!may_create(&own, &who("a@evil.example", None), &domains));
        let google = idp("https://accounts.google.com");
        assert!(!may_create(&google, &who("someone@gmail.com", None), &[]), "every Google account in the world");
        assert!(!may_create(&google, &who("a@globex.example", None), &domains), "a consumer account on a work address");
        assert!(may_create(&google, &who("a@globex.example", Some("globex.example")), &domains));
        assert!(!may_create(&google, &who("a@evil.example", Some("evil.example")), &domains));
    }
}
