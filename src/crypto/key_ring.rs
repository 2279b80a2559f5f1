//! The OpenID key ring and its rotation schedule (issue 15 item 2): relying parties cache the JWKS, so a new key is
//! published first and signs only from its `signing_at` (`key_publication_delay` after `keyway keys rotate`, longer
//! than the JWKS `max-age`); the key it replaces is retired then and stays published for `retention` (the longest
//! lifetime of a token it signed), so every token it signed still verifies.
//!
//! States of a key at `now`, per algorithm family, keys ordered by (`signing_at`, id):
//! published (`signing_at` > now) → signing (the last key with `signing_at` ≤ now) → retired (a later key signs; from
//! that key's `signing_at`) → removed (`retention` after retirement; no longer in the JWKS).
use std::sync::Arc;

use super::keys::{KeyError, SigningAlg, SigningKey};

/// One key with its schedule.
#[derive(Debug, Clone)]
pub struct RingEntry {
    /// Database row id (or file name for rings read from `keys_dir`).
    pub id: String,
    pub key: Arc<SigningKey>,
    /// Published in the JWKS from here.
    pub created_at: i64,
    /// Signs from here.
    pub signing_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Published,
    Signing,
    Retired,
    Removed,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Published => "published",
            KeyState::Signing => "signing",
            KeyState::Retired => "retired",
            KeyState::Removed => "removed",
        }
    }
}

/// A key's state and the times of its transitions, for `keyway keys list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    pub id: String,
    pub kid: String,
    pub alg: SigningAlg,
    pub state: KeyState,
    pub published_at: i64,
    pub signing_at: i64,
    pub retired_at: Option<i64>,
    pub removed_at: Option<i64>,
}

/// The OpenID signing keys at one moment, with the JWKS document prepared once.
pub struct KeyRing {
    entries: Arc<[RingEntry]>,
    retention: i64,
    /// Published keys: the RS256 signer first (index 0), then the ES256 signer if any (`ec_signer`), then the rest.
    keys: Vec<Arc<SigningKey>>,
    ec_signer: Option<usize>,
    jwks: bytes::Bytes,
    statuses: Vec<KeyStatus>,
    /// The next scheduled transition (a published key starts signing, a retired key is removed).
    next_change: Option<i64>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("keys", &self.keys).finish_non_exhaustive()
    }
}

impl KeyRing {
    /// The ring at `now`. Needs a signing RS256 key (id_tokens are always RS256).
    pub fn schedule(entries: Vec<RingEntry>, now: i64, retention: i64) -> Result<KeyRing, KeyError> {
        Self::build(entries.into(), now, retention)
    }

    /// The same keys at another moment (the time-driven transitions need no database read).
    pub fn at(&self, now: i64) -> Result<KeyRing, KeyError> {
        Self::build(self.entries.clone(), now, self.retention)
    }

    /// True when a scheduled transition has come: rebuild with `at(now)`.
    pub fn due(&self, now: i64) -> bool {
        self.next_change.is_some_and(|t| t <= now)
    }

    fn build(entries: Arc<[RingEntry]>, now: i64, retention: i64) -> Result<KeyRing, KeyError> {
        let mut signers: Vec<Arc<SigningKey>> = Vec::new();
        let mut others = Vec::new();
        let mut statuses = Vec::new();
        let mut next_change: Option<i64> = None;
        let mut soonest = |t: i64| next_change = Some(next_change.map_or(t, |n| n.min(t)));
        let mut ec_signs = false;
        for alg in [SigningAlg::RS256, SigningAlg::ES256] {
            let mut family: Vec<&RingEntry> = entries.iter().filter(|e| e.key.alg() == alg).collect();
            family.sort_by(|a, b| a.signing_at.cmp(&b.signing_at).then_with(|| a.id.cmp(&b.id)));
            let signer = family.iter().rposition(|e| e.signing_at <= now);
            match (alg, signer) {
                (SigningAlg::RS256, None) => return Err(KeyError::Missing(alg)),
                (SigningAlg::ES256, Some(_)) => ec_signs = true,
                _ => {}
            }
            for (i, e) in family.iter().enumerate() {
                let (state, retired_at) = match signer {
                    Some(s) if i == s => (KeyState::Signing, None),
                    // Every key after the signer is still waiting for its `signing_at`.
                    Some(s) if i > s => (KeyState::Published, None),
                    None => (KeyState::Published, None),
                    // Before the signer: retired when its successor began signing.
                    Some(_) => (KeyState::Retired, Some(family[i + 1].signing_at)),
                };
                let removed_at = retired_at.map(|r| r + retention);
                let state = match removed_at {
                    Some(t) if t <= now => KeyState::Removed,
                    _ => state,
                };
                match state {
                    KeyState::Published => soonest(e.signing_at),
                    KeyState::Retired => soonest(removed_at.unwrap_or(now)),
                    _ => {}
                }
                match state {
                    KeyState::Signing => signers.push(e.key.clone()),
                    KeyState::Published | KeyState::Retired => others.push(e.key.clone()),
                    KeyState::Removed => {}
                }
                statuses.push(KeyStatus {
                    id: e.id.clone(),
                    kid: e.key.kid().to_string(),
                    alg,
                    state,
                    published_at: e.created_at,
                    signing_at: e.signing_at,
                    retired_at,
                    removed_at,
                });
            }
        }
        let ec_signer = ec_signs.then_some(1);
        let mut keys = signers;
        keys.extend(others);
        let jwks = serde_json::json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() });
        let jwks = bytes::Bytes::from(serde_json::to_vec(&jwks).map_err(|e| KeyError::Generate(e.to_string()))?);
        Ok(KeyRing { entries, retention, keys, ec_signer, jwks, statuses, next_change })
    }

    /// The RS256 signer (id_tokens, minted SSO tokens, RS256 access tokens).
    pub fn signer(&self) -> &Arc<SigningKey> {
        // `build` refuses a ring without a signing RSA key, so index 0 exists.
        &self.keys[0]
    }

    /// The signing key of `alg`; `Missing` when the ring has none.
    pub fn signer_for(&self, alg: SigningAlg) -> Result<&Arc<SigningKey>, KeyError> {
        match alg {
            SigningAlg::RS256 => Ok(self.signer()),
            SigningAlg::ES256 => self.ec_signer.map(|i| &self.keys[i]).ok_or(KeyError::Missing(alg)),
        }
    }

    /// A published key (signing, waiting to sign, or retired but still within its tokens' lifetime).
    pub fn by_kid(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.keys.iter().find(|k| k.kid() == kid)
    }

    /// The JWKS document; cloning is a reference-count increment.
    pub fn jwks_json(&self) -> bytes::Bytes {
        self.jwks.clone()
    }

    /// The kids in the JWKS.
    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.kid().to_string()).collect()
    }

    /// (kid, algorithm, signs now) for every published key.
    pub fn describe(&self) -> Vec<(String, SigningAlg, bool)> {
        self.keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.kid().to_string(), k.alg(), i == 0 || Some(i) == self.ec_signer))
            .collect()
    }

    /// Every key's state and transition times, removed ones included.
    pub fn statuses(&self) -> &[KeyStatus] {
        &self.statuses
    }

    /// The entries the ring was built from.
    pub fn entries(&self) -> &[RingEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa() -> Arc<SigningKey> {
        let pem = crate::crypto::keys::generate_rsa_pem().expect("pem");
        Arc::new(SigningKey::Rsa(crate::crypto::keys::rsa_from_pem(&pem, 0, "test").expect("rsa")))
    }

    fn ec() -> Arc<SigningKey> {
        let pem = crate::crypto::keys::generate_ec_pem().expect("pem");
        Arc::new(SigningKey::Ec(Box::new(crate::crypto::keys::ec_from_pem(&pem, 0, "test").expect("ec"))))
    }

    fn entry(id: &str, key: &Arc<SigningKey>, created_at: i64, signing_at: i64) -> RingEntry {
        RingEntry { id: id.into(), key: key.clone(), created_at, signing_at }
    }

    #[test]
    fn published_then_signing_then_retired_then_removed() {
        let (old, new, p256) = (rsa(), rsa(), ec());
        // `keys rotate` at 1000 with a publication delay of 60 s; tokens live at most 100 s.
        let entries = vec![entry("a", &old, 0, 0), entry("b", &new, 1000, 1060), entry("e", &p256, 0, 0)];
        let before = KeyRing::schedule(entries, 1059, 100).expect("ring");
        assert_eq!(before.signer().kid(), old.kid(), "the new key does not sign before its publication delay");
        assert!(before.by_kid(new.kid()).is_some(), "but it is in the JWKS");
        assert_eq!(before.signer_for(SigningAlg::ES256).expect("ec").kid(), p256.kid());
        assert!(!before.due(1059) && before.due(1060));
        let state = |r: &KeyRing, id: &str| r.statuses().iter().find(|s| s.id == id).map(|s| s.state);
        assert_eq!(state(&before, "b"), Some(KeyState::Published));

        let after = before.at(1060).expect("ring");
        assert_eq!(after.signer().kid(), new.kid(), "signs from signing_at");
        assert_eq!(state(&after, "a"), Some(KeyState::Retired));
        let a = after.statuses().iter().find(|s| s.id == "a").expect("a");
        assert_eq!((a.retired_at, a.removed_at), (Some(1060), Some(1160)));
        assert!(after.by_kid(old.kid()).is_some(), "retired keys stay published while their tokens live");
        assert!(after.due(1160) && !after.due(1159));

        let later = after.at(1160).expect("ring");
        assert_eq!(state(&later, "a"), Some(KeyState::Removed));
        assert!(later.by_kid(old.kid()).is_none());
        assert_eq!(later.kids().len(), 2);
        assert!(!later.due(i64::MAX - 1), "nothing left to happen");
        let jwks: serde_json::Value = serde_json::from_slice(&later.jwks_json()).expect("json");
        assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn ring_needs_a_signing_rsa_key() {
        let k = rsa();
        assert!(matches!(
            KeyRing::schedule(vec![entry("a", &k, 10, 20)], 15, 100),
            Err(KeyError::Missing(SigningAlg::RS256))
        ));
    }
}
