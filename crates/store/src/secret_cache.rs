//! A short-lived cache of the token sets the Account API reads, so that a hot read costs no
//! query. Entries hold the row as stored (the tokens stay sealed) and live at most
//! [`SECRET_CACHE_TTL`]. Every write through this store that can change or remove a token set
//! (the set itself, an identity, a user, a connector, a rewrap) drops the whole cache at once;
//! a write by another process is seen within the TTL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::{IdentityKey, SecretRow};

/// How long another process's change may go unseen.
pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(2);
const MAX_ENTRIES: usize = 50_000;

/// `(user id, identity)`.
pub(crate) type Key = (String, IdentityKey);

/// A cached answer: the row (or its absence), when it was read, and the generation then.
type Entry = (Option<SecretRow>, Instant, u64);

/// Where a cache reads the time: the system's monotonic clock, or a test's that it advances
/// (so no test sleeps through a time to live).
pub trait MonotonicClock: std::fmt::Debug + Send + Sync {
    fn now(&self) -> Instant;
}

/// The system's monotonic clock.
#[derive(Debug)]
pub struct SystemMonotonic;

impl MonotonicClock for SystemMonotonic {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A monotonic clock that moves only when told to (tests).
#[derive(Debug)]
pub struct ManualMonotonic {
    start: Instant,
    elapsed_ms: AtomicU64,
}

impl Default for ManualMonotonic {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            elapsed_ms: AtomicU64::new(0),
        }
    }
}

impl ManualMonotonic {
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.elapsed_ms.fetch_add(ms, Ordering::AcqRel);
    }
}

impl MonotonicClock for ManualMonotonic {
    fn now(&self) -> Instant {
        self.start + Duration::from_millis(self.elapsed_ms.load(Ordering::Acquire))
    }
}

#[derive(Debug)]
pub(crate) struct SecretCache {
    generation: AtomicU64,
    entries: Mutex<HashMap<Key, Entry>>,
    clock: Arc<dyn MonotonicClock>,
}

impl Default for SecretCache {
    fn default() -> Self {
        Self::with_clock(Arc::new(SystemMonotonic))
    }
}

impl SecretCache {
    pub(crate) fn with_clock(clock: Arc<dyn MonotonicClock>) -> Self {
        Self {
            generation: AtomicU64::new(0),
            entries: Mutex::default(),
            clock,
        }
    }

    /// The cached answer for `key` (`Some(None)`: cached as absent).
    pub(crate) fn get(&self, key: &Key) -> Option<Option<SecretRow>> {
        let generation = self.generation.load(Ordering::Acquire);
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (row, at, entry_generation) = entries.get(key)?;
        let fresh = self.clock.now().saturating_duration_since(*at) < SECRET_CACHE_TTL;
        (*entry_generation == generation && fresh).then(|| row.clone())
    }

    /// The generation to pass to [`SecretCache::put`]: read it before the query, so a write
    /// that lands during the query is not hidden by the answer read before it.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn put(&self, key: Key, row: Option<SecretRow>, generation: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (row, self.clock.now(), generation));
    }

    /// Forgets everything (after a write that can affect token sets).
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
