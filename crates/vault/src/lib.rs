//! Strongroom's Secret Vault: envelope encryption with no I/O.
//!
//! Every sealed record gets a fresh random 256-bit data key (DEK). The payload is sealed with
//! AES-256-GCM under the DEK; the DEK is sealed ("wrapped") with AES-256-GCM under a
//! key-encryption key (KEK). Associated data binds the payload to the row it belongs to and the
//! wrapped DEK to its record id and KEK id, so a ciphertext copied into another row fails to open.
//!
//! A KEK is identified by a [`KekId`] derived from the key itself (an HMAC of a fixed label), so
//! an operator can see which key a row needs without holding the key.

mod aad;
mod kek;

pub use aad::AssociatedData;
pub use kek::{Kek, KekError, KekId, Keyring};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Version of the envelope layout written by this crate.
pub const FORMAT_VERSION: i64 = 1;
const TAG_LEN: usize = 16;
const DEK_LEN: usize = 32;

/// A sealed record as it is stored: each field is a column of the row.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format_version: i64,
    /// The KEK that wrapped `encrypted_dek`.
    pub kek_id: KekId,
    /// `nonce ‖ AES-256-GCM(KEK, DEK) ‖ tag`.
    pub encrypted_dek: Vec<u8>,
    /// `nonce ‖ AES-256-GCM(DEK, plaintext) ‖ tag`.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("format_version", &self.format_version)
            .field("kek_id", &self.kek_id)
            .field(
                "encrypted_dek",
                &format_args!("[{} bytes]", self.encrypted_dek.len()),
            )
            .field(
                "ciphertext",
                &format_args!("[{} bytes]", self.ciphertext.len()),
            )
            .finish()
    }
}

/// Why a record could not be sealed or opened. Never carries key or plaintext material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("the record was sealed with KEK {0}, which is neither the active nor a previous KEK")]
    UnknownKek(KekId),
    #[error(
        "the record does not open: it was altered, moved to another row, or sealed with another key"
    )]
    Unauthentic,
    #[error("unsupported envelope format version {0}")]
    UnsupportedFormat(i64),
    #[error("the system random number generator failed")]
    Random,
}

/// The domain a record belongs to. It is part of every wrapped key's associated data, so a key
/// wrapped for one table never opens in another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Domain(pub &'static str);

impl Keyring {
    /// Seals `plaintext` for the record `record_id` of `domain`, bound to `aad`.
    pub fn seal(
        &self,
        domain: Domain,
        record_id: &str,
        aad: &AssociatedData,
        plaintext: &[u8],
    ) -> Result<Envelope, VaultError> {
        let dek = random_key()?;
        let ciphertext = seal_with(dek.as_slice(), aad.as_bytes(), plaintext)?;
        let active = self.active();
        let encrypted_dek = seal_with(
            active.key_bytes(),
            &dek_aad(domain, record_id, active.id()),
            dek.as_slice(),
        )?;
        Ok(Envelope {
            format_version: FORMAT_VERSION,
            kek_id: active.id().clone(),
            encrypted_dek,
            ciphertext,
        })
    }

    /// Opens a record sealed by [`Keyring::seal`] with the same domain, record id and `aad`.
    pub fn open(
        &self,
        domain: Domain,
        record_id: &str,
        aad: &AssociatedData,
        envelope: &Envelope,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if envelope.format_version != FORMAT_VERSION {
            return Err(VaultError::UnsupportedFormat(envelope.format_version));
        }
        let dek = self.unwrap_dek(domain, record_id, &envelope.kek_id, &envelope.encrypted_dek)?;
        open_with(&dek, aad.as_bytes(), &envelope.ciphertext)
    }

    /// Re-wraps a record's data key under the active KEK, leaving the payload untouched.
    /// Returns `None` when the key is already wrapped by the active KEK.
    pub fn rewrap(
        &self,
        domain: Domain,
        record_id: &str,
        kek_id: &KekId,
        encrypted_dek: &[u8],
    ) -> Result<Option<(KekId, Vec<u8>)>, VaultError> {
        let active = self.active();
        if kek_id == active.id() {
            return Ok(None);
        }
        let dek = self.unwrap_dek(domain, record_id, kek_id, encrypted_dek)?;
        let wrapped = seal_with(
            active.key_bytes(),
            &dek_aad(domain, record_id, active.id()),
            dek.as_slice(),
        )?;
        Ok(Some((active.id().clone(), wrapped)))
    }

    fn unwrap_dek(
        &self,
        domain: Domain,
        record_id: &str,
        kek_id: &KekId,
        encrypted_dek: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let kek = self
            .find(kek_id)
            .ok_or_else(|| VaultError::UnknownKek(kek_id.clone()))?;
        let dek = open_with(
            kek.key_bytes(),
            &dek_aad(domain, record_id, kek_id),
            encrypted_dek,
        )?;
        if dek.len() != DEK_LEN {
            return Err(VaultError::Unauthentic);
        }
        Ok(dek)
    }
}

/// Associated data of a wrapped DEK: the domain, the record id and the KEK id.
fn dek_aad(domain: Domain, record_id: &str, kek_id: &KekId) -> Vec<u8> {
    AssociatedData::new("strongroom.dek.v1")
        .field("domain", domain.0)
        .field("record", record_id)
        .field("kek", kek_id.as_str())
        .into_bytes()
}

fn random_key() -> Result<Zeroizing<[u8; DEK_LEN]>, VaultError> {
    let mut key = Zeroizing::new([0u8; DEK_LEN]);
    SystemRandom::new()
        .fill(key.as_mut_slice())
        .map_err(|_| VaultError::Random)?;
    Ok(key)
}

/// Fills `out` with bytes from the system CSPRNG.
pub fn random_bytes(out: &mut [u8]) -> Result<(), VaultError> {
    SystemRandom::new()
        .fill(out)
        .map_err(|_| VaultError::Random)
}

/// AES-256-GCM: returns `nonce ‖ ciphertext ‖ tag`.
fn seal_with(key: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
    let key = aead_key(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    random_bytes(&mut nonce)?;
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    let mut body = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut body,
    )
    .map_err(|_| VaultError::Unauthentic)?;
    out.extend_from_slice(&body);
    body.fill(0);
    Ok(out)
}

/// Opens `nonce ‖ ciphertext ‖ tag` sealed by [`seal_with`].
fn open_with(key: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(VaultError::Unauthentic);
    }
    let key = aead_key(key)?;
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Unauthentic)?;
    let mut buf = Zeroizing::new(body.to_vec());
    let len = key
        .open_in_place(nonce, Aad::from(aad), buf.as_mut_slice())
        .map_err(|_| VaultError::Unauthentic)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

fn aead_key(key: &[u8]) -> Result<LessSafeKey, VaultError> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| VaultError::Unauthentic)
}

#[cfg(test)]
mod tests;
