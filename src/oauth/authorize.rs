//! Authorization request validation (RFC 6749 §4.1.1, §4.2.1; OIDC Core §3.1.2.1, §3.2.2.1; RFC 7636).
//!
//! The order matters: until the client and redirect_uri are known good, errors are shown to the user and never
//! redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.1.3); after that, errors go back to the client.
use std::sync::Arc;

use super::pkce::{self, ChallengeError};
use super::scope::Scope;
use super::session::ActiveSession;
use super::tokens::Verifier;
use crate::model::{CustomerAccount, Grant, OAuthClient};
use crate::params::Params;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    Code,
    /// Cognito / LicenseSpring style: access_token (+ id_token when `openid` is in scope).
    Token,
    IdToken,
    IdTokenToken,
}

impl ResponseType {
    fn parse(s: &str) -> Option<ResponseType> {
        let mut parts: Vec<&str> = s.split(' ').filter(|p| !p.is_empty()).collect();
        parts.sort_unstable();
        match parts.as_slice() {
            ["code"] => Some(ResponseType::Code),
            ["token"] => Some(ResponseType::Token),
            ["id_token"] => Some(ResponseType::IdToken),
            ["id_token", "token"] => Some(ResponseType::IdTokenToken),
            _ => None,
        }
    }

    pub fn is_implicit(self) -> bool {
        self != ResponseType::Code
    }

    /// OIDC Core §3.2.2.1: nonce is required when an id_token comes from the authorization endpoint.
    fn needs_nonce(self) -> bool {
        matches!(self, ResponseType::IdToken | ResponseType::IdTokenToken)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResponseType::Code => "code",
            ResponseType::Token => "token",
            ResponseType::IdToken => "id_token",
            ResponseType::IdTokenToken => "id_token token",
        }
    }
}

/// OAuth 2.0 Multiple Response Types §5: the default response mode of a response type that returns anything from the
/// authorization endpoint besides a code is the fragment; that holds for its errors too, and for response types
/// keyway does not support (the hybrid `code id_token`): an RP that reads the fragment would not see a query.
fn default_mode(raw_response_type: Option<&str>) -> ResponseMode {
    let returns_tokens = raw_response_type.is_some_and(|rt| rt.split(' ').any(|p| p == "token" || p == "id_token"));
    if returns_tokens {
        ResponseMode::Fragment
    } else {
        ResponseMode::Query
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

impl ResponseMode {
    fn parse(s: &str) -> Option<ResponseMode> {
        match s {
            "query" => Some(ResponseMode::Query),
            "fragment" => Some(ResponseMode::Fragment),
            "form_post" => Some(ResponseMode::FormPost),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prompt {
    #[default]
    Default,
    None,
    Login,
}

/// Where an authorization response (success or error) goes once the client and redirect_uri are trusted.
#[derive(Debug, Clone)]
pub struct ResponseTarget {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub state: Option<String>,
}

#[derive(Debug)]
pub enum AuthorizeError {
    /// Shown on an error page, never redirected.
    Fatal(String),
    /// Sent back to the client at `target` (RFC 6749 §4.1.2.1).
    Redirect {
        target: ResponseTarget,
        error: &'static str,
        description: String,
    },
    Store(StoreError),
}

impl From<StoreError> for AuthorizeError {
    fn from(e: StoreError) -> Self {
        AuthorizeError::Store(e)
    }
}

#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub client: Arc<OAuthClient>,
    pub target: ResponseTarget,
    /// Whether the request named the redirect_uri (then the token request must repeat it, RFC 6749 §4.1.3).
    pub redirect_uri_given: bool,
    pub response_type: ResponseType,
    pub scope: Scope,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
    pub customer_account: Option<Arc<CustomerAccount>>,
    /// OIDC Core §3.1.2.1 `acr_values`, space-separated, in order of preference.
    pub acr_values: Vec<String>,
    /// The request as received, carried through the login form so it can be validated again afterwards.
    pub raw: String,
}

const MAX_STATE: usize = 2048;
const MAX_NONCE: usize = 512;

impl AuthorizeRequest {
    /// Whether the request asks for multi-factor authentication (`acr_values` names keyway's MFA class). keyway's
    /// only stronger class is MFA, so it is honoured whichever position it has in the list.
    pub fn wants_mfa(&self) -> bool {
        self.acr_values.iter().any(|v| v == crate::auth::mfa::ACR_MFA)
    }
}

/// Validates an authorization request given as `raw` (a query string or form body).
pub async fn validate(store: &Store, raw: &str) -> Result<AuthorizeRequest, AuthorizeError> {
    let p = Params::parse(raw).map_err(|e| AuthorizeError::Fatal(e.0))?;
    let (client, redirect_uri, given) = client_and_redirect(store, &p).await?;
    // From here on errors are redirected; the mode depends on the response type.
    let requested_mode = p.get("response_mode").map(|m| ResponseMode::parse(m).ok_or(()));
    let mut target = ResponseTarget {
        redirect_uri,
        mode: requested_mode.and_then(Result::ok).unwrap_or_else(|| default_mode(p.get("response_type"))),
        state: p.get("state").map(|s| s.chars().take(MAX_STATE).collect::<String>()),
    };
    let response_type = p.get("response_type").and_then(ResponseType::parse);
    // Tokens must never travel in a query string (OAuth 2.0 Multiple Response Types §3.0).
    if target.mode == ResponseMode::Query && response_type.is_some_and(ResponseType::is_implicit) {
        target.mode = ResponseMode::Fragment;
    }
    let fail = |error: &'static str, description: &str| AuthorizeError::Redirect {
        target: target.clone(),
        error,
        description: description.to_string(),
    };

    if p.get("state").is_some_and(|s| s.len() > MAX_STATE) {
        return Err(fail("invalid_request", "state is too long"));
    }
    if p.contains("request") {
        return Err(fail("request_not_supported", "request objects are not supported"));
    }
    if p.contains("request_uri") {
        return Err(fail("request_uri_not_supported", "request_uri is not supported"));
    }
    let response_type = match (p.get("response_type"), response_type) {
        (None, _) => return Err(fail("invalid_request", "response_type is missing")),
        (Some(_), None) => {
            return Err(fail(
                "unsupported_response_type",
                "response_type must be code, token, id_token or id_token token",
            ))
        }
        (_, Some(rt)) => rt,
    };
    if matches!(requested_mode, Some(Err(()))) {
        return Err(fail("invalid_request", "response_mode must be query, fragment or form_post"));
    }
    if p.get("response_mode") == Some("query") && response_type.is_implicit() {
        return Err(fail("invalid_request", "tokens are never returned in the query; use fragment or form_post"));
    }
    let needed = if response_type.is_implicit() { Grant::Implicit } else { Grant::AuthorizationCode };
    if !client.allows(needed) {
        return Err(fail("unauthorized_client", "this client may not use this response_type"));
    }
    let scope = Scope::parse(p.get("scope").ok_or_else(|| fail("invalid_scope", "scope is missing"))?)
        .map_err(|e| fail("invalid_scope", &e))?;
    if !scope.has("openid") && matches!(response_type, ResponseType::IdToken | ResponseType::IdTokenToken) {
        return Err(fail("invalid_scope", "this request needs the openid scope"));
    }
    if scope.has("openid") && !given {
        return Err(fail("invalid_request", "redirect_uri is required for OpenID Connect requests"));
    }
    let nonce = p.get("nonce").map(str::to_string);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE) {
        return Err(fail("invalid_request", "nonce is too long"));
    }
    if response_type.needs_nonce() && nonce.is_none() {
        return Err(fail("invalid_request", "nonce is required for this response_type"));
    }
    let code_challenge = if response_type == ResponseType::Code {
        code_challenge(&p, &client).map_err(|d| fail("invalid_request", d))?
    } else {
        None
    };
    let prompt = prompt(p.get("prompt")).map_err(|d| fail("invalid_request", d))?;
    let max_age = match p.get("max_age") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|m| *m >= 0)
                .ok_or_else(|| fail("invalid_request", "max_age must be a non-negative integer"))?,
        ),
    };
    let customer_account = match p.get("customer_account_code") {
        None => None,
        Some(code) => Some(
            store
                .find_customer_account_by_code(&client.organization_id, code)
                .await?
                .ok_or_else(|| fail("invalid_request", "unknown customer_account_code"))?,
        ),
    };
    Ok(AuthorizeRequest {
        target,
        redirect_uri_given: given,
        response_type,
        scope,
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint: p.get("login_hint").map(|s| s.chars().take(254).collect()),
        id_token_hint: p.get("id_token_hint").map(str::to_string),
        customer_account,
        acr_values: p
            .get("acr_values")
            .map(|v| v.split(' ').filter(|x| !x.is_empty()).take(16).map(str::to_string).collect())
            .unwrap_or_default(),
        raw: raw.to_string(),
        client,
    })
}

/// The client and the redirect_uri to answer at: errors here are never redirected.
async fn client_and_redirect(store: &Store, p: &Params) -> Result<(Arc<OAuthClient>, String, bool), AuthorizeError> {
    let client_id = p.get("client_id").ok_or_else(|| AuthorizeError::Fatal("client_id is missing".into()))?;
    let client =
        store.find_client(client_id).await?.ok_or_else(|| AuthorizeError::Fatal("unknown client_id".into()))?;
    if client.disabled {
        return Err(AuthorizeError::Fatal("this application is disabled".into()));
    }
    let (redirect_uri, given) = match p.get("redirect_uri") {
        // Exact string comparison (RFC 9700 §4.1.1): no prefix, no normalisation.
        Some(r) if client.registered_redirect_uri(r).is_some() => (r.to_string(), true),
        Some(_) => return Err(AuthorizeError::Fatal("redirect_uri is not registered for this client".into())),
        None => match client.redirect_uris.as_slice() {
            [only] => (only.to_string(), false),
            _ => return Err(AuthorizeError::Fatal("redirect_uri is missing".into())),
        },
    };
    Ok((client, redirect_uri, given))
}

/// RFC 7636: S256 only; public clients must use it (RFC 9700 §2.1.1).
fn code_challenge(p: &Params, client: &OAuthClient) -> Result<Option<String>, &'static str> {
    match pkce::parse_challenge(p.get("code_challenge"), p.get("code_challenge_method")) {
        Ok(None) if client.is_public() => Err("public clients must use PKCE (code_challenge with S256)"),
        Ok(c) => Ok(c),
        Err(ChallengeError::Malformed) => Err("code_challenge is malformed"),
        Err(ChallengeError::MethodNotS256) if p.get("code_challenge").is_some() => {
            Err("code_challenge_method must be S256; plain is not supported")
        }
        Err(ChallengeError::MethodNotS256) => Err("code_challenge_method must be S256 with a code_challenge"),
    }
}

/// OIDC Core §3.1.2.1 `prompt`: `none` alone, or `login` / `select_account` (a fresh login); `consent` is accepted
/// (there is no consent step).
fn prompt(v: Option<&str>) -> Result<Prompt, &'static str> {
    let Some(v) = v else { return Ok(Prompt::Default) };
    let values: Vec<&str> = v.split(' ').filter(|x| !x.is_empty()).collect();
    if values.iter().any(|x| !matches!(*x, "none" | "login" | "consent" | "select_account")) {
        return Err("prompt must be none, login, consent or select_account");
    }
    if values.contains(&"none") {
        return if values.len() > 1 {
            Err("prompt=none cannot be combined with other values")
        } else {
            Ok(Prompt::None)
        };
    }
    Ok(if values.contains(&"login") || values.contains(&"select_account") { Prompt::Login } else { Prompt::Default })
}

/// Whether an existing session may answer this request without a new login.
pub fn session_usable(req: &AuthorizeRequest, s: &ActiveSession, verifier: &Verifier<'_>, now: i64) -> bool {
    if req.prompt == Prompt::Login {
        return false;
    }
    if req.customer_account.as_ref().is_some_and(|a| a.id != s.account.id)
        || s.account.organization_id != req.client.organization_id
    {
        return false;
    }
    // OIDC Core §3.1.2.1: max_age=0 is prompt=login; otherwise re-authenticate once more than max_age has passed.
    match req.max_age {
        Some(0) => return false,
        Some(m) if now - s.auth_time > m => return false,
        _ => {}
    }
    if let Some(hint) = &req.id_token_hint {
        // The hint may be expired (OIDC Core §3.1.2.1); it must be ours and name the session's user.
        match verifier.id_token_hint(hint) {
            Ok(c) if c.sub == s.user.id => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_types_modes_and_prompts() {
        assert_eq!(ResponseType::parse("token id_token"), Some(ResponseType::IdTokenToken));
        assert_eq!(ResponseType::parse("code"), Some(ResponseType::Code));
        assert_eq!(ResponseType::parse("code id_token"), None);
        assert_eq!(ResponseType::parse(""), None);
        assert_eq!(default_mode(Some("code")), ResponseMode::Query);
        assert_eq!(default_mode(Some("code id_token")), ResponseMode::Fragment, "hybrid errors go in the fragment");
        assert_eq!(default_mode(Some("id_token")), ResponseMode::Fragment);
        assert_eq!(default_mode(Some("bogus")), ResponseMode::Query);
        assert_eq!(default_mode(None), ResponseMode::Query);
        assert_eq!(prompt(None), Ok(Prompt::Default));
        assert_eq!(prompt(Some("login consent")), Ok(Prompt::Login));
        assert_eq!(prompt(Some("none")), Ok(Prompt::None));
        assert!(prompt(Some("none login")).is_err());
        assert!(prompt(Some("bogus")).is_err());
    }
}
