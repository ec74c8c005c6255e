//! Things held open per client address or per customer session
//! (connections, live feeds), so that one client cannot hold them all.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open things by holder (a client address by default).
#[derive(Debug)]
pub struct OpenCounts<K = IpAddr>(Arc<Mutex<HashMap<K, usize>>>);

impl<K> Clone for OpenCounts<K> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<K> Default for OpenCounts<K> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

/// One open thing; counted until dropped.
#[derive(Debug)]
pub struct Held<K: Eq + Hash = IpAddr> {
    counts: OpenCounts<K>,
    key: K,
}

impl<K: Eq + Hash + Clone> OpenCounts<K> {
    /// A place for one more held by `key`, unless it already holds `cap`
    /// (0: no cap).
    pub fn take(&self, key: K, cap: usize) -> Option<Held<K>> {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(key.clone()).or_default();
        if cap > 0 && *count >= cap {
            return None;
        }
        *count += 1;
        Some(Held {
            counts: self.clone(),
            key,
        })
    }

    /// How many `key` holds now.
    #[cfg(test)]
    fn open(&self, key: &K) -> usize {
        let counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(key).copied().unwrap_or_default()
    }
}

impl<K: Eq + Hash> Drop for Held<K> {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_per_address_freed_on_drop() {
        let counts = OpenCounts::default();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let first = counts.take(a, 2).unwrap();
        let _second = counts.take(a, 2).unwrap();
        assert!(counts.take(a, 2).is_none(), "the third is refused");
        assert!(counts.take(b, 2).is_some(), "another address is not");
        drop(first);
        assert_eq!(counts.open(&a), 1);
        assert!(counts.take(a, 2).is_some());
        assert!(counts.take(a, 0).is_some(), "0: no cap");
    }
}
