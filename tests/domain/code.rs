//! `oauth::code::redeem` (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9700 §4.8.2): single use, replay revokes the grant,
//! exact redirect_uri (or none where the License API allows it), PKCE, expiry by `now`, the client it was issued to.
use keyway::crypto::secrets::{hash_token, random_token};
use keyway::oauth::code::{self, CodeRedemption, RedeemError};
use keyway::store::grants::{CodeRecord, RefreshOffer};
use keyway::store::StoreError;

use crate::dual_store;
use crate::fixture::{Fixture, REDIRECT_URI};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const CODE_TTL: i64 = 300;

/// Stores a code for the fixture's user and product; returns the plain code and its record.
async fn issue(f: &Fixture, redirect_uri: Option<&str>, challenge: Option<&str>) -> (String, CodeRecord) {
    issue_scoped(f, redirect_uri, challenge, "openid offline_access").await
}

async fn issue_scoped(
    f: &Fixture,
    redirect_uri: Option<&str>,
    challenge: Option<&str>,
    scope: &str,
) -> (String, CodeRecord) {
    let plain = random_token();
    let rec = CodeRecord {
        id: uuid::Uuid::new_v4().to_string(),
        code_hash: hash_token(&plain),
        product_id: f.product.id.clone(),
        license_user_id: f.user.id.clone(),
        session_id: Some("sid-1".into()),
        redirect_uri: redirect_uri.map(str::to_string),
        scope: scope.into(),
        nonce: None,
        code_challenge: challenge.map(str::to_string),
        auth_time: f.now,
        expires_at: f.now + CODE_TTL,
        consumed_at: None,
        revoked_at: None,
        created_at: f.now,
        amr: None,
        idp: None,
    };
    f.store.insert_code(&rec).await.unwrap();
    (plain, rec)
}

fn at_token_endpoint<'a>(
    code: &'a str,
    redirect_uri: Option<&'a str>,
    verifier: Option<&'a str>,
) -> CodeRedemption<'a> {
    CodeRedemption { code, redirect_uri, code_verifier: verifier, redirect_uri_optional: false }
}

/// Redeems for the confidential product at `f.now`.
async fn redeem(
    f: &Fixture,
    plain: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    redirect_uri_optional: bool,
) -> Result<code::Redeemed, RedeemError> {
    let r = CodeRedemption { code: plain, redirect_uri, code_verifier: verifier, redirect_uri_optional };
    code::redeem(&f.store, &f.product, &r, None, f.now).await
}

fn invalid_reason(r: Result<code::Redeemed, RedeemError>) -> &'static str {
    match r {
        Err(RedeemError::Invalid(why)) => why,
        Err(RedeemError::Store(e)) => panic!("store error: {e}"),
        Ok(_) => panic!("the code was redeemed"),
    }
}

async fn code_is_single_use_and_replay_revokes_the_grant(f: Fixture) {
    let (plain, rec) = issue(&f, Some(REDIRECT_URI), None).await;
    let refresh_hash = hash_token("refresh-1");
    let offer = RefreshOffer { id: "refresh-id-1", token_hash: &refresh_hash, expires_at: f.now + 3600 };
    let won =
        code::redeem(&f.store, &f.product, &at_token_endpoint(&plain, Some(REDIRECT_URI), None), Some(&offer), f.now)
            .await
            .unwrap();
    assert!(won.refreshed, "offline_access: the offered refresh token is stored");
    assert_eq!(won.user.id, f.user.id);
    assert_eq!(won.account.id, f.account.id);
    assert_eq!(won.code.id, rec.id);
    let (refresh, grant_revoked) =
        f.store.find_refresh_token(&refresh_hash).await.unwrap().expect("stored in the claim");
    assert!(refresh.revoked_at.is_none() && !grant_revoked);
    let expected = f.refresh_record("refresh-id-1", refresh_hash.clone(), &rec.id, "openid offline_access");
    assert_eq!(refresh, expected, "the grant, user, session and scope are the code's");
    assert!(!f.store.is_grant_revoked(&rec.id).await.unwrap());

    let again =
        code::redeem(&f.store, &f.product, &at_token_endpoint(&plain, Some(REDIRECT_URI), None), None, f.now + 1).await;
    assert_eq!(invalid_reason(again), "the authorization code was already used");
    assert!(f.store.is_grant_revoked(&rec.id).await.unwrap(), "RFC 6749 §4.1.2: a replay revokes the grant");
    let (refresh, grant_revoked) = f.store.find_refresh_token(&refresh_hash).await.unwrap().unwrap();
    assert!(refresh.revoked_at.is_some() && grant_revoked, "the refresh token issued from the code dies with it");
}

async fn concurrent_redemptions_have_exactly_one_winner(f: Fixture) {
    let (plain, _) = issue(&f, None, Some(CHALLENGE)).await;
    let f = std::sync::Arc::new(f);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (f, plain) = (f.clone(), plain.clone());
            tokio::spawn(async move {
                code::redeem(&f.store, &f.product, &at_token_endpoint(&plain, None, Some(VERIFIER)), None, f.now)
                    .await
                    .is_ok()
            })
        })
        .collect();
    let wins = futures_util::future::join_all(tasks).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(wins, 1);
}

async fn redirect_uri_must_match_exactly_unless_optional_and_absent(f: Fixture) {
    let (plain, _) = issue(&f, Some(REDIRECT_URI), None).await;
    let mismatch = "redirect_uri does not match the authorization request";
    let r = redeem(&f, &plain, Some("https://app.example/callback/"), None, false).await;
    assert_eq!(invalid_reason(r), mismatch, "exact string comparison, no normalisation (RFC 9700 §4.1.1)");
    let r = redeem(&f, &plain, Some("https://APP.example/callback"), None, false).await;
    assert_eq!(invalid_reason(r), mismatch);
    let r = redeem(&f, &plain, Some("https://evil.example/callback"), None, true).await;
    assert_eq!(invalid_reason(r), mismatch, "where it is optional, a sent one must still match");
    let r = redeem(&f, &plain, None, None, false).await;
    assert_eq!(invalid_reason(r), mismatch, "RFC 6749 §4.1.3: required when the authorization request had one");
    // None of the refusals burned the code: the License API's rule (absent is fine) still redeems it.
    assert!(redeem(&f, &plain, None, None, true).await.is_ok());

    // A code issued without redirect_uri takes none at the token endpoint.
    let (plain, _) = issue(&f, None, None).await;
    assert!(redeem(&f, &plain, None, None, false).await.is_ok());
}

async fn pkce_is_required_checked_and_cannot_be_downgraded(f: Fixture) {
    let (plain, _) = issue(&f, None, Some(CHALLENGE)).await;
    let mismatch = "code_verifier does not match the code_challenge";
    assert_eq!(invalid_reason(redeem(&f, &plain, None, None, false).await), "code_verifier is required");
    let other = "x".repeat(43);
    assert_eq!(invalid_reason(redeem(&f, &plain, None, Some(&other), false).await), mismatch);
    let r = redeem(&f, &plain, None, Some("short"), false).await;
    assert_eq!(invalid_reason(r), mismatch, "RFC 7636 §4.1: 43-128 characters");
    assert!(redeem(&f, &plain, None, Some(VERIFIER), false).await.is_ok(), "failed verifiers did not burn the code");

    // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a downgrade attempt.
    let (plain, _) = issue(&f, None, None).await;
    let r = redeem(&f, &plain, None, Some(VERIFIER), false).await;
    assert_eq!(invalid_reason(r), "code_verifier given for a code issued without code_challenge");
}

async fn code_expires_by_now(f: Fixture) {
    let (plain, rec) = issue(&f, None, None).await;
    let r = code::redeem(&f.store, &f.product, &at_token_endpoint(&plain, None, None), None, rec.expires_at).await;
    assert_eq!(invalid_reason(r), "the authorization code is invalid, expired or was issued to another client");
    assert!(!f.store.is_grant_revoked(&rec.id).await.unwrap(), "an expired code is not a replay");
    let r = code::redeem(&f.store, &f.product, &at_token_endpoint(&plain, None, None), None, rec.expires_at - 1).await;
    assert!(r.is_ok(), "one second before expiry it is still good");
}

async fn code_of_another_client_or_disabled_user_is_invalid(f: Fixture) {
    let (plain, _) = issue(&f, None, None).await;
    let r = code::redeem(&f.store, &f.public, &at_token_endpoint(&plain, None, None), None, f.now).await;
    assert_eq!(invalid_reason(r), "the authorization code is invalid, expired or was issued to another client");
    let r = redeem(&f, "unknown-code", None, None, false).await;
    assert_eq!(invalid_reason(r), "the authorization code is invalid, expired or was issued to another client");

    f.store.set_user_disabled(&f.user.id, true).await.unwrap();
    let r = redeem(&f, &plain, None, None, false).await;
    assert!(matches!(r, Err(RedeemError::Invalid(_))), "a disabled user's code issues nothing");
}

/// A refresh token is offered with every claim of a client that may refresh; only a code whose scope holds
/// offline_access gets it (OIDC Core §11).
async fn without_offline_access_the_offered_refresh_token_is_not_stored(f: Fixture) {
    let (plain, _) = issue_scoped(&f, None, None, "openid email").await;
    let refresh_hash = hash_token("refresh-2");
    let offer = RefreshOffer { id: "refresh-id-2", token_hash: &refresh_hash, expires_at: f.now + 3600 };
    let won =
        code::redeem(&f.store, &f.product, &at_token_endpoint(&plain, None, None), Some(&offer), f.now).await.unwrap();
    assert!(!won.refreshed);
    assert!(f.store.find_refresh_token(&refresh_hash).await.unwrap().is_none());
}

/// The refresh token's insert fails (its id is taken: a unique-key violation): the claim fails with it, as one, and
/// the code can still be redeemed.
async fn a_failed_refresh_insert_does_not_burn_the_code(f: Fixture) {
    let (plain, rec) = issue(&f, None, None).await;
    let taken = f.refresh_record("refresh-id-3", hash_token("another refresh token"), "another-grant", "openid");
    f.store.insert_refresh_token(&taken).await.unwrap();
    let refresh_hash = hash_token("refresh-3");
    let offer = RefreshOffer { id: "refresh-id-3", token_hash: &refresh_hash, expires_at: f.now + 3600 };
    let r = code::redeem(&f.store, &f.product, &at_token_endpoint(&plain, None, None), Some(&offer), f.now).await;
    assert!(matches!(r, Err(RedeemError::Store(StoreError::Conflict(_)))), "{r:?}");
    assert!(f.store.find_code(&rec.code_hash).await.unwrap().unwrap().consumed_at.is_none(), "not consumed");
    let won = code::redeem(&f.store, &f.product, &at_token_endpoint(&plain, None, None), None, f.now).await;
    assert!(won.is_ok(), "the code still works");
}

dual_store!(
    without_offline_access_the_offered_refresh_token_is_not_stored,
    a_failed_refresh_insert_does_not_burn_the_code,
    code_is_single_use_and_replay_revokes_the_grant,
    concurrent_redemptions_have_exactly_one_winner,
    redirect_uri_must_match_exactly_unless_optional_and_absent,
    pkce_is_required_checked_and_cannot_be_downgraded,
    code_expires_by_now,
    code_of_another_client_or_disabled_user_is_invalid,
);
