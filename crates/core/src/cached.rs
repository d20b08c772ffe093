//! A value a process keeps for a while instead of reading it again: dropped when this process
//! changes it, and trusted for at most its time to live otherwise (another process's change is
//! seen within that time).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One cached value with a time to live.
#[derive(Debug)]
pub struct Cached<T> {
    ttl: Duration,
    slot: Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> Cached<T> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slot: Mutex::new(None),
        }
    }

    /// The value, unless it is older than the time to live (or was dropped).
    pub fn get(&self) -> Option<Arc<T>> {
        self.lock()
            .as_ref()
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, value)| value.clone())
    }

    /// Keeps `value` (and returns it).
    pub fn put(&self, value: T) -> Arc<T> {
        let value = Arc::new(value);
        *self.lock() = Some((Instant::now(), value.clone()));
        value
    }

    /// Drops the value: the next [`Cached::get`] reads again.
    pub fn clear(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Arc<T>)>> {
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
