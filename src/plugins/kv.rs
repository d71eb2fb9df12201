//! A plugin's key-value store: shared by all its instances, bounded in keys and bytes. A
//! reload keeps a plugin's store (by plugin name) and applies the new limits to later writes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits of one store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KvLimits {
    pub(crate) max_keys: usize,
    pub(crate) max_value_bytes: usize,
    pub(crate) max_bytes: usize,
}

struct Inner {
    map: HashMap<String, (Vec<u8>, Option<Instant>)>,
    bytes: usize,
    limits: KvLimits,
}

/// The store.
pub(crate) struct KvStore {
    inner: Mutex<Inner>,
}

impl Inner {
    fn live(&mut self, key: &str) -> Option<&Vec<u8>> {
        let expired = matches!(self.map.get(key), Some((_, Some(t))) if *t <= Instant::now());
        if expired {
            self.remove(key);
        }
        self.map.get(key).map(|(v, _)| v)
    }
    fn remove(&mut self, key: &str) {
        if let Some((v, _)) = self.map.remove(key) {
            self.bytes -= key.len() + v.len();
        }
    }
    fn put(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u32>) -> Result<(), String> {
        let limits = self.limits;
        if value.len() > limits.max_value_bytes {
            return Err(format!("value larger than {} bytes", limits.max_value_bytes));
        }
        self.live(&key);
        let old = self.map.get(&key).map_or(0, |(v, _)| key.len() + v.len());
        if old == 0 && self.map.len() >= limits.max_keys {
            return Err(format!("more than {} keys", limits.max_keys));
        }
        let new_total = self.bytes - old + key.len() + value.len();
        if new_total > limits.max_bytes {
            return Err(format!("store larger than {} bytes", limits.max_bytes));
        }
        self.bytes = new_total;
        let expires = ttl_ms.map(|ms| Instant::now() + Duration::from_millis(u64::from(ms)));
        self.map.insert(key, (value, expires));
        Ok(())
    }
}

impl KvStore {
    pub(crate) fn new(limits: KvLimits) -> Self {
        KvStore { inner: Mutex::new(Inner { map: HashMap::new(), bytes: 0, limits }) }
    }

    /// New limits for later writes (after a reload); what is stored stays.
    pub(crate) fn set_limits(&self, limits: KvLimits) {
        if let Ok(mut g) = self.inner.lock() {
            g.limits = limits;
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.inner.lock().ok()?.live(key).cloned()
    }

    pub(crate) fn set(&self, key: String, value: Vec<u8>, ttl_ms: Option<u32>) -> Result<(), String> {
        let mut g = self.inner.lock().map_err(|_| "store unavailable".to_owned())?;
        g.put(key, value, ttl_ms)
    }

    pub(crate) fn delete(&self, key: &str) {
        if let Ok(mut g) = self.inner.lock() {
            g.remove(key);
        }
    }

    pub(crate) fn cas(&self, key: String, expected: Option<&[u8]>, value: Vec<u8>) -> Result<bool, String> {
        let mut g = self.inner.lock().map_err(|_| "store unavailable".to_owned())?;
        if g.live(&key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        g.put(key, value, None).map(|()| true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> KvStore {
        KvStore::new(KvLimits { max_keys: 2, max_value_bytes: 4, max_bytes: 9 })
    }

    #[test]
    fn limits_hold() {
        let s = store();
        assert!(s.set("a".into(), b"1234".to_vec(), None).is_ok());
        assert!(s.set("b".into(), b"12345".to_vec(), None).is_err(), "value too large");
        assert!(s.set("b".into(), b"12".to_vec(), None).is_ok());
        assert!(s.set("c".into(), b"1".to_vec(), None).is_err(), "too many keys");
        assert!(s.set("b".into(), b"1234".to_vec(), None).is_err(), "too many bytes");
        s.delete("a");
        assert_eq!(s.get("a"), None);
        assert!(s.set("c".into(), b"1".to_vec(), None).is_ok());
    }

    #[test]
    fn cas_and_ttl() {
        let s = store();
        assert_eq!(s.cas("k".into(), None, b"1".to_vec()), Ok(true));
        assert_eq!(s.cas("k".into(), None, b"2".to_vec()), Ok(false));
        assert_eq!(s.cas("k".into(), Some(b"1"), b"2".to_vec()), Ok(true));
        assert!(s.set("t".into(), b"x".to_vec(), Some(0)).is_ok());
        assert_eq!(s.get("t"), None);
    }

    #[test]
    fn new_limits_keep_what_is_stored() {
        let s = store();
        assert!(s.set("a".into(), b"1234".to_vec(), None).is_ok());
        s.set_limits(KvLimits { max_keys: 1, max_value_bytes: 2, max_bytes: 9 });
        assert_eq!(s.get("a").as_deref(), Some(&b"1234"[..]), "kept");
        assert!(s.set("b".into(), b"1".to_vec(), None).is_err(), "too many keys now");
        assert!(s.set("a".into(), b"123".to_vec(), None).is_err(), "value too large now");
        assert!(s.set("a".into(), b"12".to_vec(), None).is_ok());
    }
}
