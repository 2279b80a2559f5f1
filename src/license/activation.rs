//! License activation, check, deactivation and user licenses (SPEC §3.4–3.5): identify the license user (SSO code or
//! id_token, username + password) or the license (key, id), pick the license for the product, and activate it on the
//! device without ever exceeding the seat limit.
use std::sync::Arc;

use crate::audit::{self, Actor};
use crate::auth::password::{self, Attempt, Outcome, PasswordCheck, Realm, Surface};
use crate::crypto::secrets::Secret;
use crate::model::license::Unusable;
use crate::model::{Activation, CustomerAccount, HardwareId, License, LicenseUser, OAuthClient};
use crate::oauth::code::{self, CodeRedemption, RedeemError};
use crate::oauth::tokens::Verifier;
use crate::store::activations::{ActivateOutcome, DeviceActivation};
use crate::store::audit::AuditEvent;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error("unknown product")]
    UnknownProduct,
    #[error("unknown customer account")]
    UnknownCustomerAccount,
    #[error("invalid code: {0}")]
    InvalidCode(&'static str),
    #[error("invalid id_token")]
    InvalidIdToken,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("user locked until {until}")]
    UserLocked { until: i64 },
    #[error("license not found")]
    LicenseNotFound,
    #[error("license not enabled")]
    LicenseNotEnabled,
    #[error("license expired")]
    LicenseExpired,
    #[error("license not active")]
    LicenseNotActive,
    #[error("seats full")]
    SeatsFull,
    #[error("user disabled")]
    UserDisabled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Unusable> for ActivationError {
    fn from(u: Unusable) -> Self {
        match u {
            Unusable::Disabled => ActivationError::LicenseNotEnabled,
            Unusable::Expired => ActivationError::LicenseExpired,
        }
    }
}

/// Who calls the License API: an organization, by API key or by a product's client-credentials token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub organization_id: String,
    /// The API key, or the OAuth client id in Bearer mode (for the audit trail).
    pub principal: String,
}

/// What the License API and its handlers need.
#[derive(Clone, Copy)]
pub struct LicenseDeps<'a> {
    pub store: &'a Store,
    pub verifier: Verifier<'a>,
    pub passwords: PasswordCheck<'a>,
}

/// How an SSO activation proves the user: the result of the hosted login.
#[derive(Debug)]
pub enum SsoCredential {
    /// An authorization code, redeemed exactly as at the token endpoint (single use, client, PKCE), except that an
    /// absent redirect_uri is accepted (licensespring-contract.md: the HMAC-signed request stands in for it).
    Code { code: String, redirect_uri: Option<String>, code_verifier: Option<String> },
    /// An id_token from the implicit response: verified, and usable once (its `jti` is recorded).
    IdToken(String),
}

#[derive(Debug)]
pub enum Proof {
    Sso { customer_account_code: String, credential: SsoCredential },
    LicenseKey(String),
    Password { username: String, password: Secret },
}

#[derive(Debug)]
pub struct ActivationRequest {
    pub product: String,
    pub hardware_id: HardwareId,
    pub proof: Proof,
    /// The device fields the SDK sent, as a JSON object.
    pub device_info: Option<String>,
    pub client_ip: Option<String>,
}

/// A license on a device, with everything its response needs.
#[derive(Debug)]
pub struct Activated {
    pub license: License,
    pub activation: Activation,
    pub product: Arc<OAuthClient>,
    pub account: Arc<CustomerAccount>,
    pub user: Option<LicenseUser>,
    /// The `<id>` of `license_signature` (licensespring-contract.md): the user's e-mail for SSO, the username, or the
    /// license key.
    pub signature_id: String,
}

async fn product(store: &Store, caller: &Caller, code: &str) -> Result<Arc<OAuthClient>, ActivationError> {
    store.find_product_by_code(&caller.organization_id, code).await?.ok_or(ActivationError::UnknownProduct)
}

async fn account(store: &Store, caller: &Caller, code: &str) -> Result<Arc<CustomerAccount>, ActivationError> {
    store
        .find_customer_account_by_code(&caller.organization_id, code)
        .await?
        .ok_or(ActivationError::UnknownCustomerAccount)
}

pub async fn activate(
    deps: &LicenseDeps<'_>,
    caller: &Caller,
    req: ActivationRequest,
    now: i64,
) -> Result<Activated, ActivationError> {
    let product = product(deps.store, caller, &req.product).await?;
    let actor = Actor::license_api(&caller.principal);
    let result = activate_proof(deps, caller, &product, &req, &actor, now).await;
    // A new seat is audited in its own transaction; here the rest: the idempotent repeat and every refusal.
    let outcome = match &result {
        Ok((_, Seat::Taken)) => return result.map(|(a, _)| a),
        Ok((a, Seat::AlreadyHeld)) => {
            (format!("license {} {}", a.license.id, req.hardware_id), "success (already active)".to_string())
        }
        Err(e) => (format!("{}/{}", product.short_code, req.hardware_id), format!("failure: {e}")),
    };
    audit::record(
        deps.store,
        AuditEvent {
            actor: actor.as_str(),
            action: "license.activate",
            subject: &outcome.0,
            client_ip: req.client_ip.as_deref(),
            outcome: &outcome.1,
        },
        now,
    )
    .await;
    result.map(|(a, _)| a)
}

/// Whether an activation took a new seat or found the device active already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seat {
    Taken,
    AlreadyHeld,
}

async fn activate_proof(
    deps: &LicenseDeps<'_>,
    caller: &Caller,
    product: &Arc<OAuthClient>,
    req: &ActivationRequest,
    actor: &Actor,
    now: i64,
) -> Result<(Activated, Seat), ActivationError> {
    let device = Device {
        hardware_id: &req.hardware_id,
        info: req.device_info.as_deref(),
        actor,
        client_ip: req.client_ip.as_deref(),
    };
    match &req.proof {
        Proof::Sso { customer_account_code, credential } => {
            let account = account(deps.store, caller, customer_account_code).await?;
            let user = sso_user(deps, product, &account, credential, now).await?;
            let signature_id = user.email.clone();
            let (license, activation, seat) = activate_for_user(deps.store, product, &user, &device, now).await?;
            Ok((
                Activated { license, activation, product: product.clone(), account, user: Some(user), signature_id },
                seat,
            ))
        }
        Proof::LicenseKey(key) => {
            let license =
                deps.store.find_license_by_key(&product.id, key).await?.ok_or(ActivationError::LicenseNotFound)?;
            let account = deps
                .store
                .find_customer_account(&license.customer_account_id)
                .await?
                .ok_or(ActivationError::LicenseNotFound)?;
            let existing = deps.store.find_activation(license.id, req.hardware_id.as_str()).await?;
            let (license, activation, seat) =
                activate_license(deps.store, license, existing, None, &device, now).await?;
            Ok((
                Activated {
                    license,
                    activation,
                    product: product.clone(),
                    account,
                    user: None,
                    signature_id: key.clone(),
                },
                seat,
            ))
        }
        Proof::Password { username, password } => {
            let user = password_user(deps, caller, username, password, req.client_ip.as_deref(), now).await?;
            let account = deps
                .store
                .find_customer_account(&user.customer_account_id)
                .await?
                .ok_or(ActivationError::LicenseNotFound)?;
            let (license, activation, seat) = activate_for_user(deps.store, product, &user, &device, now).await?;
            Ok((
                Activated {
                    license,
                    activation,
                    product: product.clone(),
                    account,
                    user: Some(user),
                    signature_id: username.clone(),
                },
                seat,
            ))
        }
    }
}

/// The user an SSO credential proves, in `account`.
async fn sso_user(
    deps: &LicenseDeps<'_>,
    product: &OAuthClient,
    account: &CustomerAccount,
    credential: &SsoCredential,
    now: i64,
) -> Result<LicenseUser, ActivationError> {
    let user = match credential {
        SsoCredential::Code { code, redirect_uri, code_verifier } => {
            let redemption = CodeRedemption {
                code,
                redirect_uri: redirect_uri.as_deref(),
                code_verifier: code_verifier.as_deref(),
                redirect_uri_optional: true,
            };
            let r = code::redeem(deps.store, product, &redemption, None, now).await.map_err(|e| match e {
                RedeemError::Invalid(why) => ActivationError::InvalidCode(why),
                RedeemError::Store(s) => ActivationError::Store(s),
            })?;
            if r.account.id != account.id {
                return Err(ActivationError::InvalidCode("the code was issued for another customer account"));
            }
            r.user
        }
        SsoCredential::IdToken(token) => {
            let claims = deps
                .verifier
                .id_token(token, product.client_id.as_str(), now)
                .map_err(|_| ActivationError::InvalidIdToken)?;
            if claims.customer_account_code.as_deref() != Some(account.code.as_str()) {
                return Err(ActivationError::InvalidIdToken);
            }
            if !deps.store.claim_id_token(&claims.jti, claims.exp).await? {
                return Err(ActivationError::InvalidIdToken);
            }
            let user = deps.store.find_user(&claims.sub).await?.ok_or(ActivationError::InvalidIdToken)?;
            if user.customer_account_id != account.id {
                return Err(ActivationError::InvalidIdToken);
            }
            user
        }
    };
    if user.disabled {
        return Err(ActivationError::UserDisabled);
    }
    Ok(user)
}

/// The username/password variant: the one password check of every surface, over the organization's accounts.
async fn password_user(
    deps: &LicenseDeps<'_>,
    caller: &Caller,
    username: &str,
    password: &Secret,
    client_ip: Option<&str>,
    now: i64,
) -> Result<LicenseUser, ActivationError> {
    let attempt =
        Attempt { email: username, password: password.expose(), devices: &[], surface: Surface::LicenseApi, client_ip };
    match password::authenticate(&deps.passwords, Realm::Organization(&caller.organization_id), &attempt, now).await? {
        Outcome::Success(signed_in) => {
            let store = deps.passwords.store;
            store.record_sign_in(&signed_in.owed.record(), None, now).await?;
            let (user, factors) = (signed_in.user, signed_in.factors);
            // A password is one factor: a user who has a second one, or whose account requires MFA, activates
            // through SSO (code or id_token), where the hosted pages ask for it (issue 17). Same answer as a wrong
            // password: the License API contract has no code for "use SSO".
            let account = store.find_customer_account(&user.customer_account_id).await?;
            let first = crate::auth::mfa::FirstFactor::Password;
            match account {
                Some(a)
                    if crate::auth::mfa::requirement(store, &user, &a, first, false, factors).await?
                        == crate::auth::mfa::Requirement::None =>
                {
                    Ok(user)
                }
                _ => Err(ActivationError::InvalidCredentials),
            }
        }
        Outcome::Failed => Err(ActivationError::InvalidCredentials),
        Outcome::Locked { until } => Err(ActivationError::UserLocked { until }),
    }
}

/// The device side of an activation.
struct Device<'a> {
    hardware_id: &'a HardwareId,
    info: Option<&'a str>,
    actor: &'a Actor,
    client_ip: Option<&'a str>,
}

/// Activates the user's license for the product on the device. Among several licenses, one already active on the
/// device wins (idempotent), then the first usable one with a free seat.
async fn activate_for_user(
    store: &Store,
    product: &OAuthClient,
    user: &LicenseUser,
    device: &Device<'_>,
    now: i64,
) -> Result<(License, Activation, Seat), ActivationError> {
    let licenses = store.licenses_on_device(&product.id, user, device.hardware_id).await?;
    if licenses.is_empty() {
        return Err(ActivationError::LicenseNotFound);
    }
    let mut first_problem = None;
    let mut candidates = Vec::new();
    for (l, a) in licenses {
        match l.usability(now) {
            Ok(()) => {
                if let Some(a) = a.as_ref().filter(|a| a.active) {
                    return Ok((l, a.clone(), Seat::AlreadyHeld));
                }
                candidates.push((l, a));
            }
            Err(e) => {
                first_problem.get_or_insert(e);
            }
        }
    }
    if candidates.is_empty() {
        return Err(first_problem.map_or(ActivationError::LicenseNotFound, ActivationError::from));
    }
    for (l, a) in candidates {
        match activate_license(store, l, a, Some(&user.id), device, now).await {
            Err(ActivationError::SeatsFull) => continue,
            done => return done,
        }
    }
    Err(ActivationError::SeatsFull)
}

/// Activates one license on the device (`existing`: its activation row there, if any).
async fn activate_license(
    store: &Store,
    l: License,
    existing: Option<Activation>,
    user_id: Option<&str>,
    device: &Device<'_>,
    now: i64,
) -> Result<(License, Activation, Seat), ActivationError> {
    l.usability(now)?;
    if let Some(a) = existing.filter(|a| a.active) {
        return Ok((l, a, Seat::AlreadyHeld));
    }
    let subject = format!("license {} {}", l.id, device.hardware_id);
    let event = AuditEvent {
        actor: device.actor.as_str(),
        action: "license.activate",
        subject: &subject,
        client_ip: device.client_ip,
        outcome: "success",
    };
    let d = DeviceActivation { license_id: l.id, user_id, hardware_id: device.hardware_id, device_info: device.info };
    match store.activate(d, event, now).await? {
        ActivateOutcome::Activated { license, activation } => Ok((license, activation, Seat::Taken)),
        // A concurrent request activated this very device first: still a success, the seat count unchanged.
        ActivateOutcome::AlreadyActive { activation } => {
            Ok((store.find_license(l.id).await?.unwrap_or(l), activation, Seat::AlreadyHeld))
        }
        ActivateOutcome::SeatsFull => Err(ActivationError::SeatsFull),
    }
}

/// Which license a check or deactivation means.
#[derive(Debug)]
pub enum LicenseSelector {
    Key(String),
    /// The SSO user's e-mail, as the SDKs send it after an SSO activation.
    Username(String),
    Id(i64),
}

#[derive(Debug)]
pub struct DeviceQuery {
    pub product: String,
    pub hardware_id: HardwareId,
    pub selector: LicenseSelector,
    /// The `<id>` the SDK will check `license_signature` with: the request's `username`, else its `license_key`
    /// (the Node SDK's order, licensespring-contract.md), whichever the lookup used.
    pub signature_id: Option<String>,
}

/// The license a check/deactivate request means, with its activation on the device and the user if known.
async fn license_for_device(
    store: &Store,
    caller: &Caller,
    product: &OAuthClient,
    q: &DeviceQuery,
) -> Result<(License, Option<Activation>, Option<LicenseUser>), ActivationError> {
    match &q.selector {
        LicenseSelector::Key(key) => {
            let l = store.find_license_by_key(&product.id, key).await?.ok_or(ActivationError::LicenseNotFound)?;
            let a = store.find_activation(l.id, q.hardware_id.as_str()).await?;
            Ok((l, a, None))
        }
        LicenseSelector::Id(id) => {
            let l = store
                .find_license(*id)
                .await?
                .filter(|l| l.product_id == product.id)
                .ok_or(ActivationError::LicenseNotFound)?;
            let a = store.find_activation(l.id, q.hardware_id.as_str()).await?;
            Ok((l, a, None))
        }
        LicenseSelector::Username(username) => {
            // The license already active on this device wins; otherwise the user's first license for the product.
            let mut first = None;
            for user in store.find_users_by_email_in_org(&caller.organization_id, username).await? {
                for (l, a) in store.licenses_on_device(&product.id, &user, &q.hardware_id).await? {
                    if a.as_ref().is_some_and(|a| a.active) {
                        return Ok((l, a, Some(user)));
                    }
                    if first.is_none() {
                        first = Some((l, a, Some(user.clone())));
                    }
                }
            }
            first.ok_or(ActivationError::LicenseNotFound)
        }
    }
}

/// `check_license`: the license must be usable and active on the device.
pub async fn check(
    deps: &LicenseDeps<'_>,
    caller: &Caller,
    q: &DeviceQuery,
    now: i64,
) -> Result<Activated, ActivationError> {
    let product = product(deps.store, caller, &q.product).await?;
    let (license, activation, user) = license_for_device(deps.store, caller, &product, q).await?;
    license.usability(now)?;
    let activation = activation.filter(|a| a.active).ok_or(ActivationError::LicenseNotActive)?;
    let account = deps
        .store
        .find_customer_account(&license.customer_account_id)
        .await?
        .ok_or(ActivationError::LicenseNotFound)?;
    let user = match (user, &activation.license_user_id) {
        (Some(u), _) => Some(u),
        (None, Some(uid)) => deps.store.find_user(uid).await?,
        (None, None) => None,
    };
    let signature_id = q
        .signature_id
        .clone()
        .or_else(|| user.as_ref().map(|u| u.email.clone()))
        .or_else(|| license.license_key.clone())
        .unwrap_or_default();
    Ok(Activated { license, activation, product, account, user, signature_id })
}

/// `deactivate_license`: frees the device's seat.
pub async fn deactivate(
    deps: &LicenseDeps<'_>,
    caller: &Caller,
    q: &DeviceQuery,
    client_ip: Option<&str>,
    now: i64,
) -> Result<(), ActivationError> {
    let product = product(deps.store, caller, &q.product).await?;
    let (license, _, _) = license_for_device(deps.store, caller, &product, q).await?;
    let actor = Actor::license_api(&caller.principal);
    let subject = format!("license {} {}/{}", license.id, product.short_code, q.hardware_id);
    let event = AuditEvent {
        actor: actor.as_str(),
        action: "license.deactivate",
        subject: &subject,
        client_ip,
        outcome: "success",
    };
    if deps.store.deactivate(license.id, q.hardware_id.as_str(), event.clone(), now).await? {
        Ok(())
    } else {
        audit::record(deps.store, AuditEvent { outcome: "failure: not active", ..event }, now).await;
        Err(ActivationError::LicenseNotActive)
    }
}

/// Who asks for their licenses: the SSO user of a customer account, or (Python SDK 3.5 and 3.8, which cannot send a
/// code there) a user by username and password.
#[derive(Debug)]
pub enum UserProof {
    Sso { customer_account_code: String, credential: SsoCredential },
    Password { username: String, password: Secret },
}

#[derive(Debug)]
pub struct UserLicensesRequest {
    pub product: String,
    pub proof: UserProof,
    pub client_ip: Option<String>,
}

pub struct UserLicenses {
    pub product: Arc<OAuthClient>,
    pub account: Arc<CustomerAccount>,
    pub user: LicenseUser,
    pub licenses: Vec<License>,
}

/// `user_licenses`: the SSO user's licenses for the product.
pub async fn user_licenses(
    deps: &LicenseDeps<'_>,
    caller: &Caller,
    req: &UserLicensesRequest,
    now: i64,
) -> Result<UserLicenses, ActivationError> {
    let product = product(deps.store, caller, &req.product).await?;
    let (account, user) = match &req.proof {
        UserProof::Sso { customer_account_code, credential } => {
            let account = account(deps.store, caller, customer_account_code).await?;
            let user = sso_user(deps, &product, &account, credential, now).await?;
            (account, user)
        }
        UserProof::Password { username, password } => {
            let user = password_user(deps, caller, username, password, req.client_ip.as_deref(), now).await?;
            let account = deps
                .store
                .find_customer_account(&user.customer_account_id)
                .await?
                .ok_or(ActivationError::LicenseNotFound)?;
            (account, user)
        }
    };
    let licenses = deps.store.licenses_for_user(&product.id, &user).await?;
    Ok(UserLicenses { product, account, user, licenses })
}
