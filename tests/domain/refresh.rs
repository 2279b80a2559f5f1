//! `oauth::refresh::refresh` (RFC 6749 §6, RFC 9700 §4.14.2): rotation, reuse of a rotated token revokes the whole
//! family, and a request may narrow the scope of its tokens but never widen it.
use keyway::crypto::secrets::hash_token;
use keyway::oauth::refresh::refresh;
use keyway::oauth::token::{TokenEndpointError, TokenResponse};
use keyway::store::grants::RefreshRecord;

use crate::dual_store;
use crate::fixture::Fixture;

const GRANTED: &str = "openid email offline_access";

/// Stores a live refresh token of the fixture's user for the confidential product.
async fn stored(f: &Fixture, plain: &str) -> RefreshRecord {
    let (id, grant) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
    let r = f.refresh_record(&id, hash_token(plain), &grant, GRANTED);
    f.store.insert_refresh_token(&r).await.unwrap();
    r
}

async fn use_token(f: &Fixture, token: &str, scope: Option<&str>) -> Result<TokenResponse, TokenEndpointError> {
    refresh(&f.store, &f.signer(), &f.product, token, scope, f.now + 10).await
}

fn access_scope(t: &TokenResponse) -> String {
    let claims = f_claims(&t.access_token);
    claims["scope"].as_str().unwrap().to_string()
}

fn f_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn invalid_grant(r: Result<TokenResponse, TokenEndpointError>) -> String {
    match r {
        Err(TokenEndpointError::InvalidGrant(why)) => why,
        other => panic!("expected invalid_grant, got {:?}", other.map(|t| t.scope)),
    }
}

async fn refresh_rotates_the_token(f: Fixture) {
    let old = stored(&f, "refresh-1").await;
    let t = use_token(&f, "refresh-1", None).await.unwrap();
    let new = t.refresh_token.clone().expect("a new refresh token");
    assert_ne!(new, "refresh-1");
    assert!(t.id_token.is_some(), "openid was granted");
    assert_eq!(access_scope(&t), GRANTED);
    let (rotated, _) = f.store.find_refresh_token(&old.token_hash).await.unwrap().unwrap();
    assert!(rotated.rotated_at.is_some(), "the old token is retired");
    let (fresh, revoked) = f.store.find_refresh_token(&hash_token(&new)).await.unwrap().unwrap();
    assert_eq!((fresh.grant_id.as_str(), fresh.scope.as_str(), revoked), (old.grant_id.as_str(), GRANTED, false));
    assert!(use_token(&f, &new, None).await.is_ok(), "the new one works");
}

async fn reuse_of_a_rotated_token_revokes_the_family(f: Fixture) {
    let old = stored(&f, "refresh-1").await;
    let second = use_token(&f, "refresh-1", None).await.unwrap().refresh_token.unwrap();
    assert_eq!(invalid_grant(use_token(&f, "refresh-1", None).await), "the refresh token was already used");
    assert!(f.store.is_grant_revoked(&old.grant_id).await.unwrap());
    let why = invalid_grant(use_token(&f, &second, None).await);
    assert!(why.contains("invalid"), "the successor dies with its family: {why}");
    // Another family of the same user is untouched.
    stored(&f, "refresh-other").await;
    assert!(use_token(&f, "refresh-other", None).await.is_ok());
}

async fn concurrent_refreshes_rotate_once(f: Fixture) {
    stored(&f, "refresh-1").await;
    let f = std::sync::Arc::new(f);
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let f = f.clone();
            tokio::spawn(async move { use_token(&f, "refresh-1", None).await.is_ok() })
        })
        .collect();
    let ok = futures_util::future::join_all(tasks).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(ok, 1, "exactly one rotation wins");
}

/// Two requests that both read the token before either rotated it: the conditional UPDATE lets one win (the
/// interleaving `concurrent_refreshes_rotate_once` may or may not produce).
async fn rotation_is_won_once_even_after_both_read_the_token(f: Fixture) {
    let old = stored(&f, "refresh-1").await;
    let successor = |plain: &str| RefreshRecord {
        id: uuid::Uuid::new_v4().to_string(),
        token_hash: hash_token(plain),
        ..old.clone()
    };
    assert!(f.store.rotate_refresh_token(&old, &successor("next-1"), f.now).await.unwrap());
    assert!(!f.store.rotate_refresh_token(&old, &successor("next-2"), f.now).await.unwrap(), "the second loses");
    assert!(f.store.find_refresh_token(&hash_token("next-2")).await.unwrap().is_none(), "and stores nothing");
}

async fn refresh_scope_may_narrow_but_not_widen(f: Fixture) {
    stored(&f, "refresh-1").await;
    match use_token(&f, "refresh-1", Some("openid email profile")).await {
        Err(TokenEndpointError::InvalidScope(_)) => {}
        other => panic!("a wider scope is invalid_scope, got {:?}", other.map(|t| t.scope)),
    }
    // The refusal did not rotate the token. Narrowed: the tokens carry only what was asked (RFC 6749 §6: the scope
    // of the access request), the new refresh token keeps the whole grant.
    let t = use_token(&f, "refresh-1", Some("email")).await.unwrap();
    assert_eq!(t.scope, "email");
    assert_eq!(access_scope(&t), "email");
    assert!(t.id_token.is_none(), "no openid asked, no id_token");
    let again = use_token(&f, &t.refresh_token.unwrap(), None).await.unwrap();
    assert_eq!(access_scope(&again), GRANTED, "omitted scope is the originally granted one");
}

async fn refresh_of_another_client_expired_or_disabled_user_is_invalid(f: Fixture) {
    let r = stored(&f, "refresh-1").await;
    let other = refresh(&f.store, &f.signer(), &f.public, "refresh-1", None, f.now).await;
    assert!(matches!(other, Err(TokenEndpointError::InvalidGrant(_))), "issued to another client");
    let late = refresh(&f.store, &f.signer(), &f.product, "refresh-1", None, r.expires_at).await;
    assert!(matches!(late, Err(TokenEndpointError::InvalidGrant(_))), "expired by now");
    f.store.set_user_disabled(&f.user.id, true).await.unwrap();
    assert!(matches!(use_token(&f, "refresh-1", None).await, Err(TokenEndpointError::InvalidGrant(_))));
    let (still, _) = f.store.find_refresh_token(&r.token_hash).await.unwrap().unwrap();
    assert!(still.rotated_at.is_none(), "refusals do not rotate");
}

dual_store!(
    refresh_rotates_the_token,
    reuse_of_a_rotated_token_revokes_the_family,
    concurrent_refreshes_rotate_once,
    rotation_is_won_once_even_after_both_read_the_token,
    refresh_scope_may_narrow_but_not_widen,
    refresh_of_another_client_expired_or_disabled_user_is_invalid,
);
