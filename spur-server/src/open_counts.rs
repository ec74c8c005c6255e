//! Things held open per client address (connections, live feeds), so
//! that one address cannot hold them all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Default)]
pub struct OpenCounts(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One open thing; counted until dropped.
#[derive(Debug)]
pub struct Held {
    counts: OpenCounts,
    ip: IpAddr,
}

impl OpenCounts {
    /// A place for one more from `ip`, unless it already holds `cap`
    /// (0: no cap).
    pub fn take(&self, ip: IpAddr, cap: usize) -> Option<Held> {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(ip).or_default();
        if cap > 0 && *count >= cap {
            return None;
        }
        *count += 1;
        Some(Held {
            counts: self.clone(),
            ip,
        })
    }

    /// How many `ip` holds now.
    #[cfg(test)]
    fn open(&self, ip: IpAddr) -> usize {
        let counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(&ip).copied().unwrap_or_default()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
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
        assert_eq!(counts.open(a), 1);
        assert!(counts.take(a, 2).is_some());
        assert!(counts.take(a, 0).is_some(), "0: no cap");
    }
}
