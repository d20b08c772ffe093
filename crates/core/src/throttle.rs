//! Per-client-address rate limits: a token bucket per address, in memory, bounded in size.
//!
//! Each process keeps its own buckets: behind a load balancer with N processes a client gets at
//! most N times the rate, which is what these limits are for (keeping floods cheap), not exact
//! accounting. Lockouts that must hold across processes live in the database.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Most addresses tracked at once; beyond it, buckets that have refilled are forgotten first,
/// then all (an attacker with that many addresses gets a fresh start, nobody gets locked out).
const MAX_ADDRESSES: usize = 100_000;

/// A token bucket per client address: `burst` requests at once, then `per_minute`.
#[derive(Debug)]
pub struct Throttle {
    burst: f64,
    per_ms: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

impl Throttle {
    pub fn new(burst: u32, per_minute: u32) -> Self {
        Self {
            burst: f64::from(burst),
            per_ms: f64::from(per_minute) / 60_000.0,
            buckets: Mutex::default(),
        }
    }

    /// Takes one token for `addr` at `now_ms`; `false` when the address has none left.
    pub fn allow(&self, addr: IpAddr, now_ms: i64) -> bool {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_ADDRESSES && !buckets.contains_key(&addr) {
            let (burst, per_ms) = (self.burst, self.per_ms);
            buckets.retain(|_, b| refilled(b, now_ms, burst, per_ms) < burst);
            if buckets.len() >= MAX_ADDRESSES {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(addr).or_insert(Bucket {
            tokens: self.burst,
            at_ms: now_ms,
        });
        let tokens = refilled(bucket, now_ms, self.burst, self.per_ms);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at_ms: now_ms,
            };
            true
        } else {
            *bucket = Bucket {
                tokens,
                at_ms: now_ms,
            };
            false
        }
    }
}

fn refilled(bucket: &Bucket, now_ms: i64, burst: f64, per_ms: f64) -> f64 {
    let elapsed = (now_ms - bucket.at_ms).max(0) as f64;
    (bucket.tokens + elapsed * per_ms).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_refill_rate_per_address() {
        let t = Throttle::new(3, 60); // one a second after the burst
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "2001:db8::1".parse().expect("ip");
        assert!((0..3).all(|_| t.allow(a, 0)));
        assert!(!t.allow(a, 0));
        assert!(!t.allow(a, 500));
        // Another address is not affected.
        assert!(t.allow(b, 500));
        assert!(t.allow(a, 1_600));
        assert!(!t.allow(a, 1_700));
        // Never more than the burst, however long the wait.
        assert_eq!((0..10).filter(|_| t.allow(a, 1_000_000)).count(), 3);
    }
}
