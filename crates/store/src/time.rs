//! Time. A bare `i64` time in Strongroom is milliseconds since the Unix epoch (rows'
//! `created_at`, `expires_at`, [`crate`]'s clocks). The few times kept in whole seconds, as
//! OAuth and OpenID Connect count them (a token set's `expiresAt`, a sign-in's `auth_time`),
//! are [`UnixSecs`], so mixing the two units is a type error rather than a bug.

/// Whole seconds since the Unix epoch. Serialized as the bare number.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct UnixSecs(i64);

impl UnixSecs {
    pub const fn new(secs: i64) -> Self {
        Self(secs)
    }

    /// The whole second a time in milliseconds falls in.
    pub const fn from_ms(ms: i64) -> Self {
        Self(ms.div_euclid(1000))
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    /// The same time in milliseconds.
    pub const fn to_ms(self) -> i64 {
        self.0.saturating_mul(1000)
    }

    /// This time `secs` seconds later (earlier when negative).
    pub const fn plus(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// Seconds from `earlier` to this time (negative when `earlier` is later).
    pub const fn since(self, earlier: Self) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

#[cfg(test)]
mod tests {
    use super::UnixSecs;

    #[test]
    fn seconds_and_milliseconds_convert_by_whole_seconds() {
        assert_eq!(UnixSecs::from_ms(1_999), UnixSecs::new(1));
        assert_eq!(
            UnixSecs::from_ms(-1),
            UnixSecs::new(-1),
            "floor, not toward zero"
        );
        assert_eq!(UnixSecs::new(7).to_ms(), 7_000);
        assert_eq!(UnixSecs::new(10).plus(5).since(UnixSecs::new(12)), 3);
        assert_eq!(
            serde_json::to_string(&UnixSecs::new(42)).expect("json"),
            "42"
        );
    }
}
