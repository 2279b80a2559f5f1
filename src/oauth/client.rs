//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3.1, §3.2.1). Client
//! secrets have 256 random bits and are stored as SHA-256: a fast hash is safe for a high-entropy secret and keeps
//! the token endpoint cheap.
use std::sync::Arc;

use crate::crypto::secrets::{hash_token, secrets_equal, Secret};
use crate::model::OAuthClient;
use crate::store::{Store, StoreError};

pub fn hash_secret(secret: &str) -> String {
    hash_token(secret)
}

/// Constant-time check of a presented secret against the stored hash.
pub fn verify_secret(presented: &str, stored_hash: &str) -> bool {
    secrets_equal(hash_token(presented).as_bytes(), stored_hash.as_bytes())
}

/// How the client presented itself. The secret never shows in Debug output.
#[derive(Debug)]
pub enum ClientCredentials {
    /// `Authorization: Basic` (client_secret_basic).
    Basic { id: String, secret: Secret },
    /// `client_id` + `client_secret` in the body (client_secret_post).
    Post { id: String, secret: Secret },
    /// Public client: `client_id` only (RFC 6749 §3.2.1; PKCE protects its codes).
    None { id: String },
}

impl ClientCredentials {
    pub fn client_id(&self) -> &str {
        match self {
            ClientCredentials::Basic { id, .. }
            | ClientCredentials::Post { id, .. }
            | ClientCredentials::None { id } => id,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    /// Unknown client, wrong secret, a public client presenting a secret or the reverse, a disabled client.
    #[error("client authentication failed")]
    Invalid { basic: bool },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Authenticates the client: confidential clients prove their secret, public ones may only name themselves. Unknown
/// clients cost the same hash as known ones, so timing does not reveal client ids.
pub async fn authenticate(store: &Store, creds: &ClientCredentials) -> Result<Arc<OAuthClient>, ClientAuthError> {
    let (id, secret, basic) = match creds {
        ClientCredentials::Basic { id, secret } => (id, Some(secret), true),
        ClientCredentials::Post { id, secret } => (id, Some(secret), false),
        ClientCredentials::None { id } => (id, None, false),
    };
    let client = store.find_client(id).await?;
    let stored = client.as_ref().and_then(|c| c.secret_hash.as_deref());
    let ok = match (secret, stored) {
        (Some(s), Some(h)) => verify_secret(s.expose(), h),
        (Some(s), None) => {
            let _ = secrets_equal(hash_token(s.expose()).as_bytes(), &[0u8; 64]);
            false
        }
        (None, None) => client.is_some(),
        (None, Some(_)) => false,
    };
    match client {
        Some(c) if ok && !c.disabled => Ok(c),
        _ => Err(ClientAuthError::Invalid { basic }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_verify_and_debug_redacts() {
        let h = hash_secret("s3cret");
        assert!(verify_secret("s3cret", &h));
        assert!(!verify_secret("s3cres", &h));
        let creds = ClientCredentials::Basic { id: "c".into(), secret: Secret::new("hunter2") };
        assert!(!format!("{creds:?}").contains("hunter2"));
    }
}
