//! A small read-through cache for rarely changing rows on hot paths (the client registry). Entries live
//! `TTL`; only hits are cached (unknown keys may be attacker-chosen), and the map is bounded. Replicas each keep
//! their own, so a change made elsewhere is seen within `TTL`.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub const TTL: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub struct TtlCache<V> {
    map: Arc<RwLock<HashMap<String, (Instant, V)>>>,
}

impl<V> Clone for TtlCache<V> {
    fn clone(&self) -> Self {
        TtlCache { map: self.map.clone() }
    }
}

impl<V: Clone> Default for TtlCache<V> {
    fn default() -> Self {
        TtlCache { map: Arc::new(RwLock::new(HashMap::new())) }
    }
}

impl<V: Clone> TtlCache<V> {
    pub fn get(&self, key: &str) -> Option<V> {
        let map = self.map.read().ok()?;
        let (at, v) = map.get(key)?;
        (at.elapsed() < TTL).then(|| v.clone())
    }

    /// Read-through: a fresh hit, or `load` (whose hit is then cached).
    pub async fn get_or_load<E, F>(&self, key: &str, load: F) -> Result<Option<V>, E>
    where
        F: std::future::Future<Output = Result<Option<V>, E>>,
    {
        if let Some(v) = self.get(key) {
            return Ok(Some(v));
        }
        let found = load.await?;
        if let Some(v) = &found {
            self.put(key, v.clone());
        }
        Ok(found)
    }

    pub fn put(&self, key: &str, value: V) {
        if let Ok(mut map) = self.map.write() {
            if map.len() >= MAX_ENTRIES {
                map.retain(|_, (at, _)| at.elapsed() < TTL);
                if map.len() >= MAX_ENTRIES {
                    map.clear();
                }
            }
            map.insert(key.to_string(), (Instant::now(), value));
        }
    }

    /// Forgets everything (after a write through this process).
    pub fn clear(&self) {
        if let Ok(mut map) = self.map.write() {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn read_through_caches_hits_only() {
        let cache: TtlCache<u32> = TtlCache::default();
        let loads = AtomicU32::new(0);
        let load = |v: Option<u32>| {
            let loads = &loads;
            async move {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(v)
            }
        };
        assert_eq!(cache.get_or_load("a", load(Some(1))).await, Ok(Some(1)));
        assert_eq!(cache.get_or_load("a", load(Some(2))).await, Ok(Some(1)), "a fresh hit is served from the cache");
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.get_or_load("b", load(None)).await, Ok(None));
        assert_eq!(cache.get_or_load("b", load(Some(3))).await, Ok(Some(3)), "a miss is not cached");
        assert_eq!(loads.load(Ordering::SeqCst), 3);
        cache.clear();
        assert_eq!(cache.get_or_load("a", load(Some(4))).await, Ok(Some(4)));
    }
}
