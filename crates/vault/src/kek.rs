use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::{AssociatedData, VaultError, random_bytes};

/// The public identifier of a KEK: 16 hex characters of an HMAC of a fixed label under the key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KekId(String);

impl KekId {
    /// Wraps an id read back from storage.
    pub fn from_stored(id: String) -> Self {
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for KekId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KekId({})", self.0)
    }
}

impl std::fmt::Display for KekId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a KEK string was rejected. The message never contains the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KekError {
    #[error("is not valid base64")]
    NotBase64,
    #[error("decodes to {0} bytes; a KEK must be base64 of exactly 32 bytes")]
    WrongLength(usize),
}

/// A key-encryption key. The key bytes are zeroized on drop and never printed.
pub struct Kek {
    id: KekId,
    key: Zeroizing<[u8; 32]>,
}

impl Kek {
    /// Parses a KEK given as standard base64 of exactly 32 bytes (surrounding white space is
    /// ignored; a URL-safe alphabet is accepted too, as Logto's decoder does).
    pub fn from_base64(encoded: &str) -> Result<Self, KekError> {
        let trimmed = encoded.trim();
        let decoded = Zeroizing::new(
            STANDARD
                .decode(trimmed)
                .or_else(|_| STANDARD.decode(trimmed.replace('-', "+").replace('_', "/")))
                .map_err(|_| KekError::NotBase64)?,
        );
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| KekError::WrongLength(decoded.len()))?;
        Ok(Self::from_bytes(Zeroizing::new(bytes)))
    }

    /// A fresh random KEK.
    pub fn generate() -> Result<Self, VaultError> {
        let mut key = Zeroizing::new([0u8; 32]);
        random_bytes(key.as_mut_slice())?;
        Ok(Self::from_bytes(key))
    }

    fn from_bytes(key: Zeroizing<[u8; 32]>) -> Self {
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, key.as_slice()),
            b"strongroom kek id v1",
        );
        let id = tag.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self { id: KekId(id), key }
    }

    /// The key in standard base64, for `strongroom kek generate` and the quick-start key file.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.key.as_slice()))
    }

    pub fn id(&self) -> &KekId {
        &self.id
    }

    pub(crate) fn key_bytes(&self) -> &[u8] {
        self.key.as_slice()
    }
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({}, [redacted])", self.id)
    }
}

/// The active KEK, which seals, and the previous KEKs, which still open.
#[derive(Debug)]
pub struct Keyring {
    active: Kek,
    previous: Vec<Kek>,
}

/// The fixed plaintext of a key-check value.
const KEY_CHECK_PLAINTEXT: &[u8] = b"strongroom key check";
const KEY_CHECK_DOMAIN: crate::Domain = crate::Domain("vault_keys");

impl Keyring {
    /// A keyring sealing with `active` and still opening data sealed with any of `previous`.
    /// A previous key equal to the active one is dropped.
    pub fn new(active: Kek, previous: Vec<Kek>) -> Self {
        let mut previous: Vec<Kek> = previous.into_iter().filter(|k| k.id != active.id).collect();
        previous.dedup_by(|a, b| a.id == b.id);
        Self { active, previous }
    }

    pub fn active(&self) -> &Kek {
        &self.active
    }

    /// Every KEK id this keyring can open, the active one first.
    pub fn kek_ids(&self) -> impl Iterator<Item = &KekId> {
        std::iter::once(&self.active.id).chain(self.previous.iter().map(|k| &k.id))
    }

    pub(crate) fn find(&self, id: &KekId) -> Option<&Kek> {
        std::iter::once(&self.active)
            .chain(self.previous.iter())
            .find(|k| &k.id == id)
    }

    /// A key-check value for the active KEK: a fixed plaintext sealed under it. Stored beside the
    /// data, it lets a later start prove that its keys are the ones the data needs.
    pub fn key_check_value(&self) -> Result<crate::Envelope, VaultError> {
        let id = self.active.id.as_str().to_owned();
        self.seal(
            KEY_CHECK_DOMAIN,
            &id,
            &key_check_aad(&id),
            KEY_CHECK_PLAINTEXT,
        )
    }

    /// Proves that this keyring holds the KEK that produced `check`.
    pub fn verify_key_check(&self, check: &crate::Envelope) -> Result<(), VaultError> {
        let id = check.kek_id.as_str().to_owned();
        let plain = self.open(KEY_CHECK_DOMAIN, &id, &key_check_aad(&id), check)?;
        if plain.as_slice() == KEY_CHECK_PLAINTEXT {
            Ok(())
        } else {
            Err(VaultError::Unauthentic)
        }
    }
}

impl Keyring {
    /// A MAC of `message` under a key derived from the active KEK for `purpose` (HMAC-SHA256
    /// with an HMAC-derived subkey, so each purpose has its own key). Every process holding the
    /// same KEK computes the same tag.
    pub fn mac(&self, purpose: &str, message: &[u8]) -> [u8; 32] {
        mac_with(&self.active, purpose, message)
    }

    /// Whether `tag` is the MAC of `message` for `purpose` under the active or a previous KEK
    /// (constant time).
    pub fn verify_mac(&self, purpose: &str, message: &[u8], tag: &[u8]) -> bool {
        std::iter::once(&self.active)
            .chain(self.previous.iter())
            .any(|k| {
                aws_lc_rs::constant_time::verify_slices_are_equal(
                    &mac_with(k, purpose, message),
                    tag,
                )
                .is_ok()
            })
    }
}

fn mac_with(kek: &Kek, purpose: &str, message: &[u8]) -> [u8; 32] {
    let mut label = b"strongroom mac subkey v1\0".to_vec();
    label.extend_from_slice(purpose.as_bytes());
    let mut subkey = Zeroizing::new([0u8; 32]);
    subkey.copy_from_slice(
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, kek.key_bytes()), &label).as_ref(),
    );
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, subkey.as_slice()),
        message,
    );
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

fn key_check_aad(id: &str) -> AssociatedData {
    AssociatedData::new("strongroom.key_check.v1").field("kek", id)
}
