//! Multi-factor authentication (issue 17 items 3, 4): when a second factor is needed, the sealed storage of TOTP
//! secrets, and the check of a code (TOTP or recovery code) with replay refusal and lockout.
//!
//! A second factor is needed after keyway's password when the user has one (TOTP or passkey), when the account's
//! policy requires MFA, or when the authorization request asks for it (`acr_values=urn:keyway:mfa`); after a
//! federated sign-in only when the account's policy says so (`after_idp`) or the request asks for it. A user who
//! needs one and has none enrols before anything is issued.
pub mod passkey;
pub mod recovery;
pub mod totp;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use crate::crypto::secrets::hex;
use crate::model::{CustomerAccount, LicenseUser};
use crate::store::mfa::{MfaPolicy, UserFactors};
use crate::store::throttle::{Limits, Reservation};
use crate::store::{Store, StoreError};

/// The `acr` value that asks for (and reports) multi-factor authentication (OIDC Core §2, §3.1.2.1 `acr_values`).
pub const ACR_MFA: &str = "urn:keyway:mfa";
/// The `acr` of a single-factor sign-in.
pub const ACR_SFA: &str = "urn:keyway:sfa";

/// What the `acr` claim says for a session's methods.
pub fn acr_for(amr: &[&str]) -> &'static str {
    if amr.contains(&"mfa") {
        ACR_MFA
    } else {
        ACR_SFA
    }
}

/// How the first factor was passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstFactor {
    Password,
    Federation,
}

/// What must happen before a session is established (or a code issued from one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Nothing more.
    None,
    /// The user's second factor.
    Challenge,
    /// The user has no factor but needs one: enrol now.
    Enrol,
}

/// The user's factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Factors {
    pub totp: bool,
    pub passkeys: usize,
}

impl Factors {
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

pub async fn factors(store: &Store, user_id: &str) -> Result<Factors, StoreError> {
    let totp = store.find_totp(user_id).await?.is_some_and(|t| t.confirmed);
    let passkeys = store.passkeys_of(user_id).await?.len();
    Ok(Factors { totp, passkeys })
}

/// Whether a second factor is needed after `first` (see the module doc). `known`: the user's factors when the
/// caller read them already (a password sign-in reads them with the user), else they are read here.
pub async fn requirement(
    store: &Store,
    user: &LicenseUser,
    account: &CustomerAccount,
    first: FirstFactor,
    requested: bool,
    known: Option<UserFactors>,
) -> Result<Requirement, StoreError> {
    let (policy, f) = match known {
        Some(f) => (store.mfa_policy(&account.id).await?, f),
        None => store.mfa_state(&account.id, &user.id).await?,
    };
    let f = Factors { totp: f.totp, passkeys: usize::try_from(f.passkeys).unwrap_or(0) };
    Ok(decide(policy, f, first, requested))
}

fn decide(policy: MfaPolicy, f: Factors, first: FirstFactor, requested: bool) -> Requirement {
    let needed = match first {
        FirstFactor::Password => f.any() || policy.required || requested,
        FirstFactor::Federation => policy.after_idp || requested,
    };
    match (needed, f.any()) {
        (false, _) => Requirement::None,
        (true, true) => Requirement::Challenge,
        (true, false) => Requirement::Enrol,
    }
}

/// Whether a session authenticated with `amr` may answer for this account and request without a second factor
/// now: false when MFA is requested or the account requires it (its policy may have been switched on after the
/// session began) and the session had none. A backend-vouched session (no `amr`) counts as single-factor.
pub async fn session_satisfies(
    store: &Store,
    account: &CustomerAccount,
    amr: &[String],
    requested: bool,
) -> Result<bool, StoreError> {
    if amr.iter().any(|m| m == "mfa") {
        return Ok(true);
    }
    if requested {
        return Ok(false);
    }
    let policy = store.mfa_policy(&account.id).await?;
    let federated = amr.iter().any(|m| m == "fed");
    Ok(!(policy.required && !federated || federated && policy.after_idp))
}

/// The methods after a second factor: the first factor's, the second's, and `mfa` (RFC 8176 §2).
pub fn combined_amr(first: &[String], second: &[&str]) -> Vec<String> {
    let mut amr: Vec<String> = first.to_vec();
    for m in second.iter().copied().chain(["mfa"]) {
        if !amr.iter().any(|x| x == m) {
            amr.push(m.to_string());
        }
    }
    amr
}

// --- sealing TOTP secrets -------------------------------------------------------------------------------------

/// The key that seals TOTP secrets at rest: HKDF-SHA256 (RFC 5869) from the cookie key, with its own info string so
/// it is independent of the cookie key's other uses. A dedicated KEK replaces this when key management lands.
struct SealKey(LessSafeKey);

const SEAL_INFO: &[u8] = b"keyway mfa totp-secret v1";
const SEAL_PREFIX: &str = "v1:";

impl SealKey {
    fn derive(cookie_key: &[u8]) -> Option<SealKey> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"keyway-mfa").extract(cookie_key);
        let okm = prk.expand(&[SEAL_INFO], &CHACHA20_POLY1305).ok()?;
        let mut bytes = [0u8; 32];
        okm.fill(&mut bytes).ok()?;
        UnboundKey::new(&CHACHA20_POLY1305, &bytes).ok().map(|k| SealKey(LessSafeKey::new(k)))
    }
}

/// Seals a secret for the database: `v1:` + hex(nonce ‖ ciphertext ‖ tag), the user id as associated data so a
/// sealed secret moved to another user's row does not open.
pub fn seal(cookie_key: &[u8], user_id: &str, secret: &[u8]) -> Option<String> {
    let key = SealKey::derive(cookie_key)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).ok()?;
    let mut buf = secret.to_vec();
    key.0
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(user_id.as_bytes()), &mut buf)
        .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Some(format!("{SEAL_PREFIX}{}", hex(&out)))
}

pub fn open(cookie_key: &[u8], user_id: &str, sealed: &str) -> Option<Vec<u8>> {
    let raw = unhex(sealed.strip_prefix(SEAL_PREFIX)?)?;
    if raw.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    let key = SealKey::derive(cookie_key)?;
    let mut buf = ct.to_vec();
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let plain = key.0.open_in_place(nonce, Aad::from(user_id.as_bytes()), &mut buf).ok()?;
    Some(plain.to_vec())
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

// --- checking a code ----------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeOutcome {
    /// Accepted; the RFC 8176 method it adds (`otp`).
    Accepted(&'static str),
    /// Wrong, replayed or used already: one answer for all.
    Refused,
    /// Too many wrong codes: not checked.
    Locked { until: i64 },
}

/// The throttle key of a user's second factor: its own counter, so wrong codes lock the second factor (and a
/// password alone never unlocks it).
pub fn throttle_key(user_id: &str) -> String {
    hex(&Sha256::digest(format!("mfa\0{user_id}").as_bytes()))
}

/// Reserves one second-factor attempt of the user (counted before anything is checked, as for passwords): the
/// attempt number, or the end of the lock.
pub async fn reserve(store: &Store, limits: Limits, user_id: &str, now: i64) -> Result<Result<i32, i64>, StoreError> {
    Ok(match store.reserve_login_attempt(&throttle_key(user_id), limits, now).await? {
        Reservation::Granted { attempt } => Ok(attempt),
        Reservation::Locked { until } => Err(until),
    })
}

/// Settles a reserved attempt: success starts the count over, failure counts (and may lock).
pub async fn settle(
    store: &Store,
    limits: Limits,
    user_id: &str,
    attempt: i32,
    ok: bool,
    now: i64,
) -> Result<(), StoreError> {
    let key = throttle_key(user_id);
    if ok {
        store.login_attempt_succeeded(&key, now).await
    } else {
        store.login_attempt_failed(&key, attempt, limits, now).await.map(|_| ())
    }
}

/// Checks a TOTP code or, failing that, a recovery code, counting the attempt toward the second factor's lockout.
pub async fn check_code(
    store: &Store,
    cookie_key: &[u8],
    limits: Limits,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<CodeOutcome, StoreError> {
    let attempt = match reserve(store, limits, user_id, now).await? {
        Ok(a) => a,
        Err(until) => return Ok(CodeOutcome::Locked { until }),
    };
    let ok = totp::verify(store, cookie_key, user_id, code, now).await?
        || recovery::redeem(store, user_id, code, now).await?;
    settle(store, limits, user_id, attempt, ok, now).await?;
    Ok(if ok { CodeOutcome::Accepted("otp") } else { CodeOutcome::Refused })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_bound_to_user() {
        let key = [7u8; 32];
        let s = seal(&key, "u1", b"0123456789abcdefghij").unwrap();
        assert_eq!(open(&key, "u1", &s).unwrap(), b"0123456789abcdefghij");
        assert!(open(&key, "u2", &s).is_none(), "another user's row does not open");
        assert!(open(&[8u8; 32], "u1", &s).is_none(), "another key does not open");
    }

    #[test]
    fn decisions() {
        let none = Factors::default();
        let some = Factors { totp: true, passkeys: 0 };
        let req = MfaPolicy { required: true, after_idp: false };
        let idp = MfaPolicy { required: false, after_idp: true };
        assert_eq!(decide(MfaPolicy::default(), none, FirstFactor::Password, false), Requirement::None);
        assert_eq!(decide(MfaPolicy::default(), some, FirstFactor::Password, false), Requirement::Challenge);
        assert_eq!(decide(req, none, FirstFactor::Password, false), Requirement::Enrol);
        assert_eq!(decide(MfaPolicy::default(), none, FirstFactor::Password, true), Requirement::Enrol);
        assert_eq!(decide(req, some, FirstFactor::Federation, false), Requirement::None, "IdP is enough by default");
        assert_eq!(decide(idp, some, FirstFactor::Federation, false), Requirement::Challenge);
        assert_eq!(acr_for(&["pwd", "otp", "mfa"]), ACR_MFA);
        assert_eq!(acr_for(&["pwd"]), ACR_SFA);
        assert_eq!(combined_amr(&["pwd".into()], &["otp"]), vec!["pwd", "otp", "mfa"]);
    }
}
