//! A short-lived cache of the token sets the Account API reads, so that a hot read costs no
//! query. Entries hold the row as stored (the tokens stay sealed) and live at most
//! [`SECRET_CACHE_TTL`]. Every write through this store that can change or remove a token set
//! (the set itself, an identity, a user, a connector, a rewrap) drops the whole cache at once;
//! a write by another process is seen within the TTL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::{IdentityKey, SecretRow};

/// How long another process's change may go unseen.
pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(2);
const MAX_ENTRIES: usize = 50_000;

/// `(user id, identity)`.
pub(crate) type Key = (String, IdentityKey);

/// A cached answer: the row (or its absence), when it was read, and the generation then.
type Entry = (Option<SecretRow>, Instant, u64);

#[derive(Debug, Default)]
pub(crate) struct SecretCache {
    generation: AtomicU64,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl SecretCache {
    /// The cached answer for `key` (`Some(None)`: cached as absent).
    pub(crate) fn get(&self, key: &Key) -> Option<Option<SecretRow>> {
        let generation = self.generation.load(Ordering::Acquire);
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (row, at, entry_generation) = entries.get(key)?;
        (*entry_generation == generation && at.elapsed() < SECRET_CACHE_TTL).then(|| row.clone())
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
        entries.insert(key, (row, Instant::now(), generation));
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
