//! Console administrators: the first one is created at first start.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use secrecy::{ExposeSecret, SecretString};
use strongroom_store::{AdminId, ConsoleAdmin, Store};

use crate::{Clock, CoreError, Result};

/// The username of the administrator created at first start.
pub const FIRST_ADMIN: &str = "admin";

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &SecretString) -> Result<String> {
    let mut salt_bytes = [0u8; 16];
    strongroom_vault::random_bytes(&mut salt_bytes)?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|_| CoreError::PasswordHash)?;
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| CoreError::PasswordHash)
}

/// A random password of 20 characters from an unambiguous alphabet (about 110 bits).
pub fn generate_password() -> SecretString {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(20);
    let mut buf = [0u8; 64];
    while out.len() < 20 {
        #[allow(clippy::expect_used)]
        strongroom_vault::random_bytes(&mut buf).expect("system random number generator");
        for b in buf {
            let limit = 256 - 256 % ALPHABET.len();
            if usize::from(b) < limit && out.len() < 20 {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    SecretString::from(out)
}

/// What [`ensure_first_admin`] did.
#[derive(Debug)]
pub enum FirstAdmin {
    /// An administrator already existed; nothing was created.
    AlreadyPresent,
    /// `admin` was created with the configured password.
    CreatedWithConfiguredPassword,
    /// `admin` was created with this random password, to be shown once.
    CreatedWithGeneratedPassword(SecretString),
}

/// Creates the console administrator `admin` when there is none yet.
pub async fn ensure_first_admin(
    store: &Store,
    configured_password: Option<&SecretString>,
    clock: &dyn Clock,
) -> Result<FirstAdmin> {
    if store.count_console_admins().await? > 0 {
        return Ok(FirstAdmin::AlreadyPresent);
    }
    let (password, outcome) = match configured_password {
        Some(p) => (p.clone(), None),
        None => {
            let p = generate_password();
            (p.clone(), Some(p))
        }
    };
    let now = clock.now_ms();
    let admin = ConsoleAdmin {
        id: AdminId::generate(),
        username: FIRST_ADMIN.to_owned(),
        password_hash: hash_password(&password)?,
        failed_sign_ins: 0,
        locked_until: None,
        created_at: now,
        updated_at: now,
    };
    match store.insert_console_admin(&admin).await {
        Ok(()) => Ok(match outcome {
            Some(p) => FirstAdmin::CreatedWithGeneratedPassword(p),
            None => FirstAdmin::CreatedWithConfiguredPassword,
        }),
        // Another process created it first.
        Err(strongroom_store::StoreError::Conflict(_)) => Ok(FirstAdmin::AlreadyPresent),
        Err(e) => Err(e.into()),
    }
}
