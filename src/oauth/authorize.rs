//! Authorization request validation (RFC 6749 §4.1.1, §4.2.1; OIDC Core §3.1.2.1, §3.2.2.1; RFC 7636).
//!
//! The order matters: until the client and redirect_uri are known good, errors are shown to the user and never
//! redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.1.3); after that, errors go back to the client.
use crate::license::sso_url::valid_pkce_value;
use crate::oauth::client::{GRANT_AUTHORIZATION_CODE, GRANT_IMPLICIT};
use crate::params::Params;
use crate::store::entity::{customer_account, product};
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prompt {
    #[default]
    Default,
    None,
    Login,
}

pub const SUPPORTED_SCOPES: [&str; 4] = ["openid", "email", "profile", "offline_access"];

/// A space-delimited scope (RFC 6749 §3.3) of supported values, deduplicated, in a stable order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(Vec<String>);

impl Scope {
    pub fn parse(s: &str) -> Result<Scope, String> {
        let mut out: Vec<String> = Vec::new();
        for part in s.split(' ').filter(|p| !p.is_empty()) {
            if !SUPPORTED_SCOPES.contains(&part) {
                return Err(format!("unsupported scope {part}"));
            }
            if !out.iter().any(|x| x == part) {
                out.push(part.to_string());
            }
        }
        Ok(Scope(out))
    }

    pub fn has(&self, s: &str) -> bool {
        self.0.iter().any(|x| x == s)
    }

    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.0.iter().all(|s| other.has(s))
    }

    pub fn as_string(&self) -> String {
        self.0.join(" ")
    }
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
    Redirect { target: ResponseTarget, error: &'static str, description: String },
    Store(StoreError),
}

impl From<StoreError> for AuthorizeError {
    fn from(e: StoreError) -> Self {
        AuthorizeError::Store(e)
    }
}

#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub product: product::Model,
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
    pub customer_account: Option<customer_account::Model>,
    /// The request as received, carried through the login form so it can be validated again afterwards.
    pub raw: String,
}

const MAX_STATE: usize = 2048;

/// Validates an authorization request given as `raw` (a query string or form body).
pub async fn validate(store: &Store, raw: &str) -> Result<AuthorizeRequest, AuthorizeError> {
    let p = Params::parse(raw).map_err(|e| AuthorizeError::Fatal(e.0))?;
    let client_id = p.get("client_id").ok_or_else(|| AuthorizeError::Fatal("client_id is missing".into()))?;
    let product = store.find_product_by_client_id(client_id).await?.ok_or_else(|| AuthorizeError::Fatal("unknown client_id".into()))?;
    let registered = product.redirect_uri_list();
    let (redirect_uri, given) = match p.get("redirect_uri") {
        // Exact string comparison (RFC 9700 §4.1.1): no prefix, no normalisation.
        Some(r) if registered.iter().any(|u| u == r) => (r.to_string(), true),
        Some(_) => return Err(AuthorizeError::Fatal("redirect_uri is not registered for this client".into())),
        None if registered.len() == 1 => (registered[0].clone(), false),
        None => return Err(AuthorizeError::Fatal("redirect_uri is missing".into())),
    };

    // From here on errors are redirected. Work out how first: the mode depends on the response type.
    let response_type = p.get("response_type").and_then(ResponseType::parse);
    let requested_mode = match p.get("response_mode") {
        None => Ok(None),
        Some("query") => Ok(Some(ResponseMode::Query)),
        Some("fragment") => Ok(Some(ResponseMode::Fragment)),
        Some("form_post") => Ok(Some(ResponseMode::FormPost)),
        Some(_) => Err(()),
    };
    let default_mode = match response_type {
        Some(rt) if rt.is_implicit() => ResponseMode::Fragment,
        _ => ResponseMode::Query,
    };
    let state = p.get("state").map(|s| s.chars().take(MAX_STATE).collect::<String>());
    let mut target = ResponseTarget { redirect_uri, mode: requested_mode.ok().flatten().unwrap_or(default_mode), state };
    // Tokens must never travel in a query string (OAuth 2.0 Multiple Response Types §3.0).
    if target.mode == ResponseMode::Query && response_type.is_some_and(|r| r.is_implicit()) {
        target.mode = ResponseMode::Fragment;
    }
    let fail = |target: &ResponseTarget, error: &'static str, description: &str| AuthorizeError::Redirect {
        target: target.clone(),
        error,
        description: description.to_string(),
    };

    if p.get("state").is_some_and(|s| s.len() > MAX_STATE) {
        return Err(fail(&target, "invalid_request", "state is too long"));
    }
    if p.contains("request") {
        return Err(fail(&target, "request_not_supported", "request objects are not supported"));
    }
    if p.contains("request_uri") {
        return Err(fail(&target, "request_uri_not_supported", "request_uri is not supported"));
    }
    let response_type = match (p.get("response_type"), response_type) {
        (None, _) => return Err(fail(&target, "invalid_request", "response_type is missing")),
        (Some(_), None) => return Err(fail(&target, "unsupported_response_type", "response_type must be code, token, id_token or id_token token")),
        (_, Some(rt)) => rt,
    };
    if requested_mode.is_err() {
        return Err(fail(&target, "invalid_request", "response_mode must be query, fragment or form_post"));
    }
    if p.get("response_mode") == Some("query") && response_type.is_implicit() {
        return Err(fail(&target, "invalid_request", "tokens are never returned in the query; use fragment or form_post"));
    }
    let grants = product.allowed_grant_list();
    let needed_grant = if response_type.is_implicit() { GRANT_IMPLICIT } else { GRANT_AUTHORIZATION_CODE };
    if !grants.iter().any(|g| g == needed_grant) {
        return Err(fail(&target, "unauthorized_client", "this client may not use this response_type"));
    }
    let scope = match p.get("scope") {
        None => return Err(fail(&target, "invalid_scope", "scope is missing")),
        Some(s) => Scope::parse(s).map_err(|e| fail(&target, "invalid_scope", &e))?,
    };
    if !scope.has("openid") && matches!(response_type, ResponseType::IdToken | ResponseType::IdTokenToken) {
        return Err(fail(&target, "invalid_scope", "this request needs the openid scope"));
    }
    if scope.has("openid") && !given {
        return Err(fail(&target, "invalid_request", "redirect_uri is required for OpenID Connect requests"));
    }
    let nonce = p.get("nonce").map(str::to_string);
    if nonce.as_ref().is_some_and(|n| n.len() > 512) {
        return Err(fail(&target, "invalid_request", "nonce is too long"));
    }
    if response_type.needs_nonce() && nonce.is_none() {
        return Err(fail(&target, "invalid_request", "nonce is required for this response_type"));
    }
    let code_challenge = if response_type == ResponseType::Code {
        match (p.get("code_challenge"), p.get("code_challenge_method")) {
            (None, None) if product.is_public_client() => {
                return Err(fail(&target, "invalid_request", "public clients must use PKCE (code_challenge with S256)"))
            }
            (None, None) => None,
            (Some(c), Some("S256")) if valid_pkce_value(c) => Some(c.to_string()),
            (Some(_), Some("S256")) => return Err(fail(&target, "invalid_request", "code_challenge is malformed")),
            (Some(_), None) | (Some(_), Some("plain")) => {
                return Err(fail(&target, "invalid_request", "code_challenge_method must be S256; plain is not supported"))
            }
            (_, Some(_)) => return Err(fail(&target, "invalid_request", "code_challenge_method must be S256 with a code_challenge")),
        }
    } else {
        None
    };
    let prompt = match p.get("prompt") {
        None => Prompt::Default,
        Some(v) => {
            let values: Vec<&str> = v.split(' ').filter(|x| !x.is_empty()).collect();
            if values.iter().any(|x| !matches!(*x, "none" | "login" | "consent" | "select_account")) {
                return Err(fail(&target, "invalid_request", "prompt must be none, login, consent or select_account"));
            }
            if values.contains(&"none") && values.len() > 1 {
                return Err(fail(&target, "invalid_request", "prompt=none cannot be combined with other values"));
            }
            if values.contains(&"none") {
                Prompt::None
            } else if values.contains(&"login") || values.contains(&"select_account") {
                Prompt::Login
            } else {
                Prompt::Default
            }
        }
    };
    let max_age = match p.get("max_age") {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|m| *m >= 0).ok_or_else(|| fail(&target, "invalid_request", "max_age must be a non-negative integer"))?),
    };
    let customer_account = match p.get("customer_account_code") {
        None => None,
        Some(code) => Some(
            store
                .find_customer_account_by_code(&product.organization_id, code)
                .await?
                .ok_or_else(|| fail(&target, "invalid_request", "unknown customer_account_code"))?,
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
        raw: raw.to_string(),
        product,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_types_and_scopes() {
        assert_eq!(ResponseType::parse("token id_token"), Some(ResponseType::IdTokenToken));
        assert_eq!(ResponseType::parse("code"), Some(ResponseType::Code));
        assert_eq!(ResponseType::parse("code id_token"), None);
        assert_eq!(ResponseType::parse(""), None);
        let s = Scope::parse("openid email openid").expect("scope");
        assert_eq!(s.as_string(), "openid email");
        assert!(Scope::parse("openid admin").is_err());
        assert!(Scope::parse("openid").expect("s").is_subset_of(&s));
    }
}
