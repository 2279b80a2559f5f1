//! RP-Initiated Logout 1.0: checking a logout request, and whether it may end the browser's session without asking.
use std::sync::Arc;

use super::claims::IdClaims;
use super::session::ActiveSession;
use super::tokens::Verifier;
use crate::model::OAuthClient;
use crate::store::{Store, StoreError};

/// The request's parameters, as received.
#[derive(Debug, Default)]
pub struct LogoutParams<'a> {
    pub id_token_hint: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub post_logout_redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
}

/// A checked logout request: where to go afterwards, and the hint's claims.
#[derive(Debug)]
pub struct LogoutRequest {
    pub redirect: Option<String>,
    pub hint: Option<IdClaims>,
    /// The client the request is from (by client_id or the hint's audience).
    pub client: Option<Arc<OAuthClient>>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn check(store: &Store, verifier: &Verifier<'_>, p: &LogoutParams<'_>) -> Result<LogoutRequest, LogoutError> {
    // An expired hint is still a good hint (§2): only signature and issuer matter.
    let hint = p
        .id_token_hint
        .map(|t| {
            verifier
                .id_token_hint(t)
                .map_err(|_| LogoutError::Invalid("id_token_hint is not a valid id_token from this server"))
        })
        .transpose()?;
    let client_id = match (p.client_id, &hint) {
        (Some(c), Some(h)) if c != h.aud => {
            return Err(LogoutError::Invalid("client_id does not match the id_token_hint"))
        }
        (Some(c), _) => Some(c),
        (None, Some(h)) => Some(h.aud.as_str()),
        (None, None) => None,
    };
    let client = match client_id {
        Some(c) => store.find_client(c).await?,
        None => None,
    };
    let redirect = match p.post_logout_redirect_uri {
        None => None,
        Some(uri) => {
            let c = match (client_id, &client) {
                (None, _) => {
                    return Err(LogoutError::Invalid("post_logout_redirect_uri needs client_id or id_token_hint"))
                }
                (Some(_), None) => return Err(LogoutError::Invalid("unknown client_id")),
                (Some(_), Some(c)) => c,
            };
            // Exact match against the registered list, as for redirect_uri.
            if !c.post_logout_redirect_uris.iter().any(|u| u.as_str() == uri) {
                return Err(LogoutError::Invalid("post_logout_redirect_uri is not registered for this client"));
            }
            Some(match p.state {
                Some(s) => crate::encoding::with_query(uri, &[("state", s)]),
                None => uri.to_string(),
            })
        }
    };
    Ok(LogoutRequest { redirect, hint, client })
}

/// §2: the OP ends the session without asking only when the hint belongs to it: same user, same session (`sid`),
/// and issued to a client of the session's organization. Anything else (no hint, another user's or another
/// organization's id_token) needs the user's confirmation, or anyone could sign anyone out.
pub fn ends_without_asking(req: &LogoutRequest, session: Option<&ActiveSession>) -> bool {
    let Some(hint) = &req.hint else { return false };
    let Some(s) = session else {
        // Nothing to end in this browser: only the hint's own session, which its holder may end.
        return true;
    };
    let same_org = req.client.as_ref().is_some_and(|c| c.organization_id == s.account.organization_id);
    hint.sub == s.user.id && hint.sid.as_deref().is_none_or(|sid| sid == s.sid) && same_org
}
