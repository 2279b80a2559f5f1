//! Issuing the authorization response for a signed-in user (RFC 6749 §4.1.2, §4.2.2; OIDC Core §3.1.2.5,
//! §3.2.2.5): a code, or tokens for the implicit response types.
use crate::crypto::jwt::half_hash;
use crate::crypto::secrets::{hash_token, random_token};
use crate::oauth::authorize::{AuthorizeRequest, ResponseMode, ResponseTarget, ResponseType};
use crate::oauth::session::ActiveSession;
use crate::oauth::tokens::{self, AccessClaims, IdClaims, Subject};
use crate::state::AppState;
use crate::store::grants::CodeRecord;

/// A response ready to deliver: to `redirect_uri` in the query or fragment, or by an auto-submitting form.
#[derive(Debug, Clone)]
pub struct AuthResponse {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub params: Vec<(&'static str, String)>,
}

impl AuthResponse {
    /// An error response (RFC 6749 §4.1.2.1) with `iss` (RFC 9207).
    pub fn error(issuer: &str, target: &ResponseTarget, error: &str, description: &str) -> AuthResponse {
        let mut params = vec![("error", error.to_string()), ("error_description", description.to_string())];
        if let Some(s) = &target.state {
            params.push(("state", s.clone()));
        }
        params.push(("iss", issuer.to_string()));
        AuthResponse { redirect_uri: target.redirect_uri.clone(), mode: target.mode, params }
    }

    /// The redirect URL for query and fragment modes.
    pub fn location(&self) -> String {
        let encoded: Vec<String> = self.params.iter().map(|(k, v)| format!("{k}={}", crate::license::sso_url::encode(v))).collect();
        let joined = encoded.join("&");
        match self.mode {
            ResponseMode::Fragment => format!("{}#{joined}", self.redirect_uri),
            _ => {
                let sep = if self.redirect_uri.contains('?') { '&' } else { '?' };
                format!("{}{sep}{joined}", self.redirect_uri)
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Jwt(#[from] crate::crypto::jwt::JwtError),
}

pub fn subject(session: &ActiveSession) -> Subject {
    Subject {
        user_id: session.user.id.clone(),
        email: session.user.email.clone(),
        name: session.user.name.clone(),
        email_verified: session.user.email_verified,
        customer_account_code: session.account.code.clone(),
    }
}

pub async fn issue(state: &AppState, req: &AuthorizeRequest, session: &ActiveSession) -> Result<AuthResponse, IssueError> {
    let now = state.now();
    let issuer = &state.config.issuer;
    let mut params: Vec<(&'static str, String)> = Vec::with_capacity(8);
    match req.response_type {
        ResponseType::Code => {
            let code = random_token();
            state
                .store
                .insert_code(CodeRecord {
                    id: uuid::Uuid::new_v4().to_string(),
                    code_hash: hash_token(&code),
                    product_id: req.product.id.clone(),
                    license_user_id: session.user.id.clone(),
                    session_id: Some(session.sid.clone()),
                    redirect_uri: req.redirect_uri_given.then(|| req.target.redirect_uri.clone()),
                    scope: req.scope.as_string(),
                    nonce: req.nonce.clone(),
                    code_challenge: req.code_challenge.clone(),
                    auth_time: session.auth_time,
                    expires_at: now + state.config.code_ttl,
                    consumed_at: None,
                    revoked_at: None,
                    created_at: now,
                })
                .await?;
            params.push(("code", code));
        }
        rt => {
            let keys = state.keys();
            let sub = subject(session);
            let access = if rt == ResponseType::IdToken {
                None
            } else {
                let claims = AccessClaims {
                    auth_time: Some(session.auth_time),
                    sid: Some(session.sid.clone()),
                    customer_account_code: Some(sub.customer_account_code.clone()),
                    ..AccessClaims::new(issuer, &req.product.client_id, &sub.user_id, req.scope.as_string(), now, req.product.access_token_ttl)
                };
                Some(tokens::sign_access(&keys, state.config.access_token_signing_alg, &claims)?)
            };
            // `token` (Cognito style) adds an id_token only with openid; the OIDC implicit types always do.
            let wants_id = rt != ResponseType::Token || req.scope.has("openid");
            if let Some(at) = &access {
                params.push(("access_token", at.clone()));
                params.push(("token_type", "Bearer".into()));
                params.push(("expires_in", req.product.access_token_ttl.to_string()));
            }
            if wants_id {
                let claims = id_claims(state, &req.product, &sub, session.auth_time, Some(&session.sid), req.nonce.clone(), access.as_deref(), &req.scope, now);
                params.push(("id_token", tokens::sign_id(&keys, &claims)?));
            }
            params.push(("scope", req.scope.as_string()));
        }
    }
    if let Some(s) = &req.target.state {
        params.push(("state", s.clone()));
    }
    params.push(("iss", issuer.clone()));
    Ok(AuthResponse { redirect_uri: req.target.redirect_uri.clone(), mode: req.target.mode, params })
}

/// id_token claims (OIDC Core §2, §5.4): profile and email claims follow the granted scopes.
#[allow(clippy::too_many_arguments)]
pub fn id_claims(
    state: &AppState,
    product: &crate::store::entity::product::Model,
    sub: &Subject,
    auth_time: i64,
    sid: Option<&str>,
    nonce: Option<String>,
    access_token: Option<&str>,
    scope: &crate::oauth::authorize::Scope,
    now: i64,
) -> IdClaims {
    IdClaims {
        iss: state.config.issuer.clone(),
        sub: sub.user_id.clone(),
        aud: product.client_id.clone(),
        exp: now + product.id_token_ttl,
        iat: now,
        auth_time,
        jti: tokens::new_jti(),
        nonce,
        at_hash: access_token.map(half_hash),
        c_hash: None,
        sid: sid.map(str::to_string),
        azp: Some(product.client_id.clone()),
        email: scope.has("email").then(|| sub.email.clone()),
        email_verified: scope.has("email").then_some(sub.email_verified),
        name: scope.has("profile").then(|| sub.name.clone()),
        customer_account_code: Some(sub.customer_account_code.clone()),
    }
}
