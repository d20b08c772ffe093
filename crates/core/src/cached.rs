//! A value a process keeps for a while instead of reading it again: dropped when this process
//! changes it, and trusted for at most its time to live otherwise (another process's change is
//! seen within that time).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Clock;

/// One cached value with a time to live, measured on the service's [`Clock`] (so a test
/// advances a manual clock past it instead of sleeping).
#[derive(Debug)]
pub struct Cached<T> {
    ttl_ms: i64,
    clock: Arc<dyn Clock>,
    slot: Mutex<Option<(i64, Arc<T>)>>,
}

impl<T> Cached<T> {
    pub fn new(ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            clock,
            slot: Mutex::new(None),
        }
    }

    /// The value, unless it is older than the time to live (or was dropped). A clock that went
    /// back past the time the value was kept expires it too.
    pub fn get(&self) -> Option<Arc<T>> {
        let now = self.clock.now_ms();
        self.lock()
            .as_ref()
            .filter(|(at, _)| (0..self.ttl_ms).contains(&(now - at)))
            .map(|(_, value)| value.clone())
    }

    /// Keeps `value` (and returns it).
    pub fn put(&self, value: T) -> Arc<T> {
        let value = Arc::new(value);
        *self.lock() = Some((self.clock.now_ms(), value.clone()));
        value
    }

    /// Drops the value: the next [`Cached::get`] reads again.
    pub fn clear(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(i64, Arc<T>)>> {
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    #[test]
    fn a_value_lives_for_its_ttl_on_the_injected_clock() {
        let clock = ManualClock::new(1_000_000);
        let cached = Cached::new(Duration::from_secs(5), Arc::new(clock.clone()));
        assert!(cached.get().is_none());
        cached.put(7);
        clock.advance_ms(4_999);
        assert_eq!(cached.get().as_deref(), Some(&7));
        clock.advance_ms(1);
        assert!(cached.get().is_none(), "expired at the TTL");
        cached.put(8);
        clock.advance_ms(-1);
        assert!(
            cached.get().is_none(),
            "a clock that went back expires the value"
        );
        clock.advance_ms(1);
        cached.clear();
        assert!(cached.get().is_none(), "dropped");
    }
}
