//! Typed ids, so a user id cannot be passed where a secret id is expected.

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh random id.
            pub fn generate() -> Self {
                Self(new_id())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    )*};
}

id_type!(
    /// A Strongroom user.
    UserId,
    /// A vault secret (a stored token set).
    SecretId,
    /// A social connector instance.
    ConnectorId,
    /// An enterprise SSO connector.
    SsoConnectorId,
    /// An application registered with Strongroom's OpenID provider.
    ApplicationId,
    /// A console administrator.
    AdminId,
);

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A random 21-character id over `[0-9a-z]` (about 108 bits), like Logto's standard ids.
pub fn new_id() -> String {
    let mut out = String::with_capacity(21);
    let mut buf = [0u8; 32];
    while out.len() < 21 {
        // The system RNG failing is unrecoverable for an id generator.
        #[allow(clippy::expect_used)]
        strongroom_vault::random_bytes(&mut buf).expect("system random number generator");
        for b in buf {
            // 252 = 7 * 36: reject the tail so every character is equally likely.
            if b < 252 && out.len() < 21 {
                out.push(char::from(ALPHABET[usize::from(b % 36)]));
            }
        }
    }
    out
}

/// A 21-character id that sorts by time: the milliseconds in hex, then 10 random characters.
/// Audit events get these, so the trail is listed (and appended) in id order.
pub fn time_ordered_id(now_ms: i64) -> String {
    format!("{:011x}{}", now_ms.max(0), &new_id()[..10])
}
