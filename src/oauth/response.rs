//! The authorization response for a signed-in user (RFC 6749 §4.1.2, §4.2.2; OIDC Core §3.1.2.5, §3.2.2.5): a
//! code, or tokens for the implicit response types; and error responses (§4.1.2.1) with `iss` (RFC 9207).
use std::sync::atomic::{AtomicBool, Ordering};

use super::authorize::{AuthorizeRequest, ResponseMode, ResponseTarget, ResponseType};
use super::claims::{self, AuthContext, Subject};
use super::session::ActiveSession;
use super::tokens::Signer;
use crate::crypto::jwt::JwtError;
use crate::crypto::secrets::{hash_token, random_token};
use crate::store::grants::CodeRecord;
use crate::store::sessions::SessionRecord;
use crate::store::sign_in::{SignInRecord, Started};
use crate::store::{Store, StoreError};

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
        match self.mode {
            ResponseMode::Fragment => {
                let encoded: Vec<String> =
                    self.params.iter().map(|(k, v)| format!("{k}={}", crate::encoding::component(v))).collect();
                format!("{}#{}", self.redirect_uri, encoded.join("&"))
            }
            _ => {
                let pairs: Vec<(&str, &str)> = self.params.iter().map(|(k, v)| (*k, v.as_str())).collect();
                crate::encoding::with_query(&self.redirect_uri, &pairs)
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Jwt(#[from] JwtError),
}

/// A password sign-in that has just passed and the session it starts, neither written yet: the response is issued
/// in the same commit (issue 16; `Store::record_sign_in`).
#[derive(Debug, Clone)]
pub struct SignedIn<'a> {
    pub record: SignInRecord<'a>,
    pub session: &'a SessionRecord,
    /// The browser's previous session (its hash), ended in the same write.
    pub replaces: Option<&'a str>,
    /// Set once the write has committed (the caller sets the session cookie only then).
    pub written: &'a AtomicBool,
}

impl SignedIn<'_> {
    /// Writes the sign-in and its session, with `code` when the response carries one.
    pub async fn write(&self, store: &Store, code: Option<&CodeRecord>, now: i64) -> Result<(), StoreError> {
        let started = Started { session: self.session, replaces: self.replaces, code };
        store.record_sign_in(&self.record, Some(&started), now).await?;
        self.written.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// Issues the response for `req` to the user of `session`: a stored (hashed) code, or signed tokens. `signed_in`: the
/// sign-in that has just started `session`, written with the code (or before the tokens are signed).
pub async fn issue(
    store: &Store,
    signer: &Signer<'_>,
    code_ttl: i64,
    req: &AuthorizeRequest,
    session: &ActiveSession,
    signed_in: Option<&SignedIn<'_>>,
    now: i64,
) -> Result<AuthResponse, IssueError> {
    let mut params: Vec<(&'static str, String)> = Vec::with_capacity(8);
    match req.response_type {
        ResponseType::Code => {
            let code = random_token();
            let record = CodeRecord {
                id: crate::crypto::secrets::random_uuid().to_string(),
                code_hash: hash_token(&code),
                product_id: req.client.id.clone(),
                license_user_id: session.user.id.clone(),
                session_id: Some(session.sid.clone()),
                redirect_uri: req.redirect_uri_given.then(|| req.target.redirect_uri.clone()),
                scope: req.scope.as_string(),
                nonce: req.nonce.clone(),
                code_challenge: req.code_challenge.clone(),
                auth_time: session.auth_time,
                expires_at: now + code_ttl,
                consumed_at: None,
                revoked_at: None,
                created_at: now,
                amr: session.how.amr_text(),
                idp: session.how.idp.clone(),
            };
            match signed_in {
                Some(s) => s.write(store, Some(&record), now).await?,
                None => store.insert_code(&record).await?,
            }
            params.push(("code", code));
        }
        rt => {
            if let Some(s) = signed_in {
                s.write(store, None, now).await?;
            }
            let sub = Subject::of(&session.user, &session.account);
            let amr = session.how.amr_text();
            let ctx = AuthContext {
                auth_time: session.auth_time,
                sid: Some(&session.sid),
                grant_id: None,
                amr: amr.as_deref(),
                idp: session.how.idp.as_deref(),
            };
            let access = match rt {
                ResponseType::IdToken => None,
                _ => Some(signer.access_token(&claims::user_access(
                    signer.issuer,
                    &req.client,
                    &sub,
                    &req.scope,
                    ctx,
                    now,
                ))?),
            };
            if let Some(at) = &access {
                params.push(("access_token", at.clone()));
                params.push(("token_type", "Bearer".into()));
                params.push(("expires_in", req.client.access_token_ttl.to_string()));
            }
            // `token` (Cognito style) adds an id_token only with openid; the OIDC implicit types always do.
            if rt != ResponseType::Token || req.scope.has("openid") {
                let echo = claims::Echo { nonce: req.nonce.as_deref(), access_token: access.as_deref() };
                let c = claims::id_token(signer.issuer, &req.client, &sub, &req.scope, ctx, echo, now);
                params.push(("id_token", signer.id_token(&c)?));
            }
            params.push(("scope", req.scope.as_string()));
        }
    }
    if let Some(s) = &req.target.state {
        params.push(("state", s.clone()));
    }
    params.push(("iss", signer.issuer.to_string()));
    Ok(AuthResponse { redirect_uri: req.target.redirect_uri.clone(), mode: req.target.mode, params })
}
