//! argon2id password hashing (SPEC §2). Verification on the server runs on [`HashPool`]: a fixed set of threads,
//! one per core, each reusing one argon2 memory block, so a login burst neither queues on the async workers nor
//! allocates a fresh block (19 MiB at the default settings) per attempt.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

#[derive(Clone)]
pub struct PasswordHasherConfig {
    params: Params,
    /// A hash of a random password with the configured parameters: verifying against it when the e-mail is unknown
    /// takes as long as a real check, so timing does not tell which e-mails exist.
    dummy_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2 parameters: {0}")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
}

impl PasswordHasherConfig {
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, PasswordError> {
        let params =
            Params::new(memory_kib, iterations, parallelism, None).map_err(|e| PasswordError::Params(e.to_string()))?;
        let mut cfg = PasswordHasherConfig { params, dummy_hash: String::new() };
        cfg.dummy_hash = cfg.hash(&crate::crypto::secrets::random_token())?;
        Ok(cfg)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no stored hash, so both paths
    /// cost the same. Returns true only for a real match.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        self.verify_with_memory(password, stored, &mut Vec::new())
    }

    /// [`Self::verify`] with argon2 memory owned by the caller and reused between calls. A stored hash with a larger
    /// memory cost than configured grows it for that call only.
    pub fn verify_with_memory(&self, password: &str, stored: Option<&str>, memory: &mut Vec<Block>) -> bool {
        let (hash, real) = match stored {
            Some(h) => (h, true),
            None => (self.dummy_hash.as_str(), false),
        };
        let ok = verify_into(password.as_bytes(), hash, memory);
        let configured = self.params.block_count();
        if memory.len() > configured {
            memory.truncate(configured);
            memory.shrink_to_fit();
        }
        ok && real
    }
}

/// Recomputes a PHC-format argon2 hash into `memory` and compares in constant time. The algorithm, version and
/// parameters come from the stored string, so hashes made with older settings still verify.
fn verify_into(password: &[u8], hash: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else { return false };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else { return false };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let Some(m) = memory.get_mut(..blocks) else { return false };
    argon2.hash_password_into_with_memory(password, salt, out, m).is_ok() && bool::from(out.ct_eq(expected.as_bytes()))
}

/// The largest argon2 work (memory KiB × passes) verified on the calling thread: ~0.1 ms here, less than the
/// thread hand-offs of the pool. The defaults (19 MiB × 2) are ~600 times that.
pub const INLINE_MAX_KIB_PASSES: u64 = 64;

/// Memory KiB × passes of a PHC-format argon2 hash; None when it does not parse (verified on the pool, where it
/// fails).
fn cost_kib_passes(hash: &str) -> Option<u64> {
    let parsed = PasswordHash::new(hash).ok()?;
    let params = Params::try_from(&parsed).ok()?;
    Some(u64::from(params.m_cost()) * u64::from(params.t_cost()))
}

struct Job {
    password: String,
    stored: Option<String>,
    reply: tokio::sync::oneshot::Sender<bool>,
}

/// Password verification threads. Each keeps its argon2 memory between jobs and gives it back after
/// [`HashPool::IDLE_RELEASE`] without work, so resident memory is bounded by threads × one block under load and
/// returns to the baseline when logins stop. The threads end when the pool is dropped.
pub struct HashPool {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl HashPool {
    pub const IDLE_RELEASE: Duration = Duration::from_secs(30);

    pub fn start(hasher: PasswordHasherConfig, threads: usize) -> std::io::Result<HashPool> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let (rx, hasher) = (rx.clone(), hasher.clone());
            std::thread::Builder::new().name(format!("keyway-argon2-{i}")).spawn(move || {
                let mut memory: Vec<Block> = Vec::new();
                loop {
                    // One idle thread waits on the channel while holding the lock; the others wait for the lock.
                    let next = match rx.lock() {
                        Ok(r) => r.recv_timeout(Self::IDLE_RELEASE),
                        Err(_) => return,
                    };
                    match next {
                        Ok(job) => {
                            let ok = hasher.verify_with_memory(&job.password, job.stored.as_deref(), &mut memory);
                            let _ = job.reply.send(ok);
                        }
                        Err(RecvTimeoutError::Timeout) => memory = Vec::new(),
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })?;
        }
        Ok(HashPool { jobs: Mutex::new(tx) })
    }

    /// Verifies on a pool thread (see [`PasswordHasherConfig::verify`]); false if the pool is gone.
    pub async fn verify(&self, password: &str, stored: Option<String>) -> bool {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job { password: password.to_string(), stored, reply };
        let sent = match self.jobs.lock() {
            Ok(tx) => tx.send(job).is_ok(),
            Err(_) => false,
        };
        sent && answer.await.unwrap_or(false)
    }
}

/// Hashing and verification for the server: the configured parameters and the verification threads.
pub struct Passwords {
    hasher: PasswordHasherConfig,
    pool: HashPool,
    /// argon2 verifications run (real and dummy alike): `/metrics`, and the tests that prove an unknown e-mail costs
    /// the same work as a wrong password and that a burst never gets more guesses checked than the lockout allows.
    verifications: AtomicU64,
}

impl Passwords {
    pub fn start(hasher: PasswordHasherConfig, threads: usize) -> std::io::Result<Passwords> {
        Ok(Passwords { pool: HashPool::start(hasher.clone(), threads)?, hasher, verifications: AtomicU64::new(0) })
    }

    /// Verifies on the password threads; `stored` None burns the same time against the dummy hash. A hash so cheap
    /// that handing it to a pool thread and back (a futex wake, a task switch each way) costs more than computing it
    /// (at most [`INLINE_MAX_KIB_PASSES`], e.g. the 8 KiB × 1 pass of a benchmark setting) is verified in place.
    pub async fn verify(&self, password: &str, stored: Option<String>) -> bool {
        let cheap = cost_kib_passes(stored.as_deref().unwrap_or(&self.hasher.dummy_hash))
            .is_some_and(|c| c <= INLINE_MAX_KIB_PASSES);
        let ok = if cheap {
            self.hasher.verify(password, stored.as_deref())
        } else {
            self.pool.verify(password, stored).await
        };
        self.verifications.fetch_add(1, Ordering::Relaxed);
        ok
    }

    /// How many verifications have run since start.
    pub fn verification_count(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// A new argon2id hash, computed on the blocking pool.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let (hasher, password) = (self.hasher.clone(), password.to_string());
        tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await
            .map_err(|e| PasswordError::Hash(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = PasswordHasherConfig::new(8, 1, 1).expect("params");
        let stored = h.hash("correct horse").expect("hash");
        assert!(stored.starts_with("$argon2id$"));
        assert!(h.verify("correct horse", Some(&stored)));
        assert!(!h.verify("wrong", Some(&stored)));
        assert!(!h.verify("anything", None));
        assert!(!h.verify("anything", Some("not a hash")));
    }

    #[test]
    fn reused_memory_verifies_hashes_of_other_parameters() {
        let h = PasswordHasherConfig::new(8, 1, 1).expect("params");
        let bigger = PasswordHasherConfig::new(64, 2, 1).expect("params");
        let stored_small = h.hash("pw-small").expect("hash");
        let stored_big = bigger.hash("pw-big").expect("hash");
        let mut memory = Vec::new();
        assert!(h.verify_with_memory("pw-small", Some(&stored_small), &mut memory));
        assert!(h.verify_with_memory("pw-big", Some(&stored_big), &mut memory), "older/larger parameters still verify");
        assert_eq!(memory.len(), 8, "grown memory is given back to the configured size");
        assert!(!h.verify_with_memory("pw-big", Some(&stored_small), &mut memory));
        assert!(!h.verify_with_memory("pw-small", None, &mut memory), "the dummy hash never matches");
    }

    #[test]
    fn only_cheap_hashes_count_as_cheap() {
        let fast = PasswordHasherConfig::new(8, 1, 1).expect("params");
        let slow = PasswordHasherConfig::new(1024, 2, 1).expect("params");
        assert_eq!(cost_kib_passes(&fast.hash("pw").expect("hash")), Some(8));
        assert_eq!(cost_kib_passes(&slow.hash("pw").expect("hash")), Some(2048));
        assert_eq!(cost_kib_passes("not a hash"), None);
    }

    #[tokio::test]
    async fn inline_and_pooled_verification_agree() {
        for (m, t) in [(8, 1), (1024, 1)] {
            let h = PasswordHasherConfig::new(m, t, 1).expect("params");
            let stored = h.hash("pw-1").expect("hash");
            let p = Passwords::start(h, 1).expect("pool");
            assert!(p.verify("pw-1", Some(stored.clone())).await);
            assert!(!p.verify("pw-2", Some(stored)).await);
            assert!(!p.verify("pw-1", None).await, "the dummy hash never matches");
            assert_eq!(p.verification_count(), 3);
        }
    }

    #[tokio::test]
    async fn pool_verifies_concurrently() {
        let h = PasswordHasherConfig::new(8, 1, 1).expect("params");
        let stored = h.hash("secret-1").expect("hash");
        let pool = std::sync::Arc::new(HashPool::start(h, 2).expect("pool"));
        let checks = (0..20).map(|i| {
            let (pool, stored) = (pool.clone(), stored.clone());
            tokio::spawn(async move { pool.verify(if i % 2 == 0 { "secret-1" } else { "wrong" }, Some(stored)).await })
        });
        let results: Vec<bool> =
            futures_util::future::join_all(checks).await.into_iter().map(|r| r.expect("task")).collect();
        assert_eq!(results.iter().filter(|ok| **ok).count(), 10);
        assert!(results.iter().step_by(2).all(|ok| *ok));
    }
}
