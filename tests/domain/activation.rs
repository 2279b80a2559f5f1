//! `license::activation::activate` with each proof (SPEC §3.4): an SSO code or id_token (single use, for this
//! product and customer account), a license key, or username + password (the one password check, with its lockout).
use keyway::crypto::secrets::{hash_token, random_token, Secret};
use keyway::license::activation::{
    activate, Activated, ActivationError, ActivationRequest, Caller, LicenseDeps, Proof, SsoCredential,
};
use keyway::model::HardwareId;
use keyway::oauth::claims::{self, AuthContext, Echo, Subject};
use keyway::oauth::scope::Scope;
use keyway::store::grants::CodeRecord;

use crate::dual_store;
use crate::fixture::{Fixture, EMAIL, PASSWORD};

fn deps(f: &Fixture) -> LicenseDeps<'_> {
    LicenseDeps { store: &f.store, verifier: f.verifier(), passwords: f.password_check() }
}

fn caller(f: &Fixture) -> Caller {
    Caller { organization_id: f.organization_id.clone(), principal: "api-key".into() }
}

async fn run(f: &Fixture, hw: &str, proof: Proof) -> Result<Activated, ActivationError> {
    let req = ActivationRequest {
        product: "app".into(),
        hardware_id: HardwareId::parse(hw).unwrap(),
        proof,
        device_info: None,
        client_ip: None,
    };
    activate(&deps(f), &caller(f), req, f.now).await
}

fn sso(account: &str, credential: SsoCredential) -> Proof {
    Proof::Sso { customer_account_code: account.into(), credential }
}

async fn code_for(f: &Fixture, user_id: &str) -> String {
    let plain = random_token();
    f.store
        .insert_code(&CodeRecord {
            id: uuid::Uuid::new_v4().to_string(),
            code_hash: hash_token(&plain),
            product_id: f.product.id.clone(),
            license_user_id: user_id.into(),
            session_id: None,
            redirect_uri: None,
            scope: "openid".into(),
            nonce: None,
            code_challenge: None,
            auth_time: f.now,
            expires_at: f.now + 300,
            consumed_at: None,
            revoked_at: None,
            created_at: f.now,
            amr: None,
            idp: None,
        })
        .await
        .unwrap();
    plain
}

fn code(plain: &str) -> SsoCredential {
    SsoCredential::Code { code: plain.into(), redirect_uri: None, code_verifier: None }
}

async fn seats(f: &Fixture) -> i32 {
    f.store.find_license(f.license.id).await.unwrap().unwrap().times_activated
}

async fn code_proof_activates_once(f: Fixture) {
    let plain = code_for(&f, &f.user.id).await;
    let a = run(&f, "hw-1", sso("acme", code(&plain))).await.unwrap();
    assert_eq!((a.license.id, a.license.times_activated), (f.license.id, 1));
    assert_eq!(a.user.as_ref().map(|u| u.id.as_str()), Some(f.user.id.as_str()));
    assert_eq!((a.signature_id.as_str(), a.activation.hardware_id.as_str()), (EMAIL, "hw-1"));
    assert!(matches!(run(&f, "hw-2", sso("acme", code(&plain))).await, Err(ActivationError::InvalidCode(_))));
    assert_eq!(seats(&f).await, 1, "the replay took no seat");
}

async fn code_proof_must_match_the_customer_account(f: Fixture) {
    let other = f.store.create_customer_account(&f.organization_id, "globex", "Globex", f.now).await.unwrap();
    let plain = code_for(&f, &f.user.id).await;
    assert!(matches!(run(&f, "hw", sso("globex", code(&plain))).await, Err(ActivationError::InvalidCode(_))));
    assert!(matches!(run(&f, "hw", sso("nope", code(&plain))).await, Err(ActivationError::UnknownCustomerAccount)));
    assert_eq!(other.code, "globex");
    assert_eq!(seats(&f).await, 0);
}

fn id_token(f: &Fixture, client: &keyway::model::OAuthClient, now: i64) -> String {
    let scope = Scope::parse("openid email").unwrap();
    let ctx = AuthContext { auth_time: now, sid: None, grant_id: None, amr: None, idp: None };
    let c = claims::id_token(
        crate::fixture::ISSUER,
        client,
        &Subject::of(&f.user, &f.account),
        &scope,
        ctx,
        Echo::default(),
        now,
    );
    f.signer().id_token(&c).unwrap()
}

async fn id_token_proof_is_single_use_and_for_this_product(f: Fixture) {
    let token = id_token(&f, &f.product, f.now);
    let a = run(&f, "hw-1", sso("acme", SsoCredential::IdToken(token.clone()))).await.unwrap();
    assert_eq!(a.user.unwrap().id, f.user.id);
    assert!(matches!(
        run(&f, "hw-2", sso("acme", SsoCredential::IdToken(token))).await,
        Err(ActivationError::InvalidIdToken)
    ));
    let for_other_product = id_token(&f, &f.public, f.now);
    assert!(matches!(
        run(&f, "hw-3", sso("acme", SsoCredential::IdToken(for_other_product))).await,
        Err(ActivationError::InvalidIdToken)
    ));
    let expired = id_token(&f, &f.product, f.now - 7200);
    assert!(matches!(
        run(&f, "hw-4", sso("acme", SsoCredential::IdToken(expired))).await,
        Err(ActivationError::InvalidIdToken)
    ));
    assert_eq!(seats(&f).await, 1);
}

async fn license_key_proof(f: Fixture) {
    let a = run(&f, "hw-1", Proof::LicenseKey("AAAA-BBBB-CCCC-DDDD".into())).await.unwrap();
    assert!(a.user.is_none());
    assert_eq!((a.license.id, a.signature_id.as_str()), (f.license.id, "AAAA-BBBB-CCCC-DDDD"));
    let again = run(&f, "hw-1", Proof::LicenseKey("AAAA-BBBB-CCCC-DDDD".into())).await.unwrap();
    assert_eq!(again.activation.id, a.activation.id, "idempotent on the same device");
    assert!(matches!(run(&f, "hw-2", Proof::LicenseKey("WRONG".into())).await, Err(ActivationError::LicenseNotFound)));
    assert_eq!(seats(&f).await, 1);
}

fn password(username: &str, password: &str) -> Proof {
    Proof::Password { username: username.into(), password: Secret::new(password) }
}

async fn password_proof_with_lockout(f: Fixture) {
    let a = run(&f, "hw-1", password(EMAIL, PASSWORD)).await.unwrap();
    assert_eq!(a.user.unwrap().id, f.user.id);
    assert!(matches!(run(&f, "hw-2", password(EMAIL, "wrong")).await, Err(ActivationError::InvalidCredentials)));
    assert!(matches!(
        run(&f, "hw-2", password("nobody@example.com", PASSWORD)).await,
        Err(ActivationError::InvalidCredentials)
    ));
    // The success above started the count over: four more failures reach the threshold of five.
    for _ in 0..4 {
        assert!(matches!(run(&f, "hw-2", password(EMAIL, "wrong")).await, Err(ActivationError::InvalidCredentials)));
    }
    match run(&f, "hw-2", password(EMAIL, PASSWORD)).await {
        Err(ActivationError::UserLocked { until }) => assert_eq!(until, f.now + 300),
        other => panic!("expected user_locked, got {:?}", other.map(|a| a.license.id)),
    }
    assert_eq!(seats(&f).await, 1, "the locked attempt took no seat");
}

async fn unknown_product_is_refused_before_any_proof(f: Fixture) {
    let req = ActivationRequest {
        product: "nope".into(),
        hardware_id: HardwareId::parse("hw").unwrap(),
        proof: password(EMAIL, PASSWORD),
        device_info: None,
        client_ip: None,
    };
    assert!(matches!(activate(&deps(&f), &caller(&f), req, f.now).await, Err(ActivationError::UnknownProduct)));
    assert_eq!(f.passwords.verification_count(), 0, "no password was checked");
}

dual_store!(
    code_proof_activates_once,
    code_proof_must_match_the_customer_account,
    id_token_proof_is_single_use_and_for_this_product,
    license_key_proof,
    password_proof_with_lockout,
    unknown_product_is_refused_before_any_proof,
);
