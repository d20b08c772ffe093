//! Console administrators: the first one is created at first start; `strongroom admin`
//! creates more and resets passwords; [`ConsoleAuth`] signs them in and out.

use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use secrecy::{ExposeSecret, SecretString};
use strongroom_store::{AdminId, ConsoleAdmin, ConsoleSession, Store, StoreError};

use crate::crypto::{constant_time_eq, random_token, token_hash};
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
    match create_admin(store, FIRST_ADMIN, configured_password.cloned(), clock).await {
        Ok(Some(generated)) => Ok(FirstAdmin::CreatedWithGeneratedPassword(generated)),
        Ok(None) => Ok(FirstAdmin::CreatedWithConfiguredPassword),
        // Another process created it first.
        Err(CoreError::Store(StoreError::Conflict(_))) => Ok(FirstAdmin::AlreadyPresent),
        Err(e) => Err(e),
    }
}

/// Creates an administrator; `None` as password generates one, returned to be shown once. An
/// existing username is `CoreError::Store(StoreError::Conflict)`.
pub async fn create_admin(
    store: &Store,
    username: &str,
    password: Option<SecretString>,
    clock: &dyn Clock,
) -> Result<Option<SecretString>> {
    let username = valid_username(username)?;
    let (password, generated) = with_generated(password)?;
    let now = clock.now_ms();
    let admin = ConsoleAdmin {
        id: AdminId::generate(),
        username: username.to_owned(),
        password_hash: hash_password(&password)?,
        failed_sign_ins: 0,
        locked_until: None,
        created_at: now,
        updated_at: now,
    };
    store.insert_console_admin(&admin).await?;
    Ok(generated)
}

/// Sets a new password (generated when `None`, and returned), unlocks the account and ends
/// its sessions.
pub async fn reset_password(
    store: &Store,
    username: &str,
    password: Option<SecretString>,
    clock: &dyn Clock,
) -> Result<Option<SecretString>> {
    let admin = store.find_console_admin(username).await?.ok_or_else(|| {
        CoreError::Invalid(format!("no console administrator is named `{username}`"))
    })?;
    let (password, generated) = with_generated(password)?;
    store
        .set_console_admin_password(&admin.id, &hash_password(&password)?, clock.now_ms())
        .await?;
    Ok(generated)
}

/// Shortest password an administrator may choose.
pub const MIN_PASSWORD_LEN: usize = 8;

/// The password to set and, when it was generated, the same to show once.
fn with_generated(password: Option<SecretString>) -> Result<(SecretString, Option<SecretString>)> {
    match password {
        Some(p) if p.expose_secret().chars().count() < MIN_PASSWORD_LEN => Err(CoreError::Invalid(
            format!("a console password is at least {MIN_PASSWORD_LEN} characters long"),
        )),
        Some(p) => Ok((p, None)),
        None => {
            let p = generate_password();
            Ok((p.clone(), Some(p)))
        }
    }
}

fn valid_username(username: &str) -> Result<&str> {
    let ok = (1..=64).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(username)
    } else {
        Err(CoreError::Invalid(
            "a username is 1 to 64 characters: letters, digits, _ - . @".into(),
        ))
    }
}

/// Failed sign-ins in a row that lock an account.
pub const MAX_FAILED_SIGN_INS: i64 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT_MS: i64 = 15 * 60 * 1000;
/// How long a console session lasts.
pub const SESSION_MS: i64 = 8 * 60 * 60 * 1000;

/// Why a console sign-in was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefusal {
    /// Unknown username or wrong password (the same answer for both).
    InvalidCredentials,
    /// Too many failures: locked until this time (ms).
    Locked { until_ms: i64 },
}

/// A signed-in administrator, as a request sees it. `Debug` leaves out the CSRF token.
#[derive(Clone)]
pub struct AdminSession {
    pub admin_id: AdminId,
    pub username: String,
    /// The token every form of this session must carry.
    pub csrf_token: String,
    /// Its SHA-256, as stored with the session.
    csrf_token_hash: String,
}

impl std::fmt::Debug for AdminSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSession")
            .field("admin_id", &self.admin_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl AdminSession {
    /// Whether `token` is this session's CSRF token (checked against the stored hash).
    pub fn csrf_matches(&self, token: &str) -> bool {
        constant_time_eq(&token_hash(token), &self.csrf_token_hash)
    }
}

/// The CSRF token of a session: derived from the session token (which only the browser holds,
/// in an HttpOnly cookie), so it needs no storage of its own in plaintext.
fn csrf_token_for(session_token: &str) -> String {
    token_hash(&format!("strongroom console csrf\0{session_token}"))
}

/// Console sign-in, sessions and sign-out. Passwords are checked against argon2id hashes;
/// failures are counted in the database, so the lockout holds across server processes.
#[derive(Debug, Clone)]
pub struct ConsoleAuth {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl ConsoleAuth {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Checks the credentials; on success starts a session and returns its token (for the
    /// cookie). The argon2 check runs for unknown usernames too, so timing tells nothing.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<Result<String, SignInRefusal>> {
        let now = self.clock.now_ms();
        let admin = self.store.find_console_admin(username.trim()).await?;
        if let Some(until) = admin
            .as_ref()
            .and_then(|a| a.locked_until)
            .filter(|u| *u > now)
        {
            return Ok(Err(SignInRefusal::Locked { until_ms: until }));
        }
        let hash = admin
            .as_ref()
            .map_or_else(|| dummy_hash().to_owned(), |a| a.password_hash.clone());
        let password = password.clone();
        let verified = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
            .await
            .unwrap_or(false);
        let Some(admin) = admin else {
            return Ok(Err(SignInRefusal::InvalidCredentials));
        };
        if !verified {
            let until = now + LOCKOUT_MS;
            let locked = self
                .store
                .record_console_sign_in_failure(&admin.id, MAX_FAILED_SIGN_INS, until, now)
                .await?;
            return Ok(Err(if locked {
                SignInRefusal::Locked { until_ms: until }
            } else {
                SignInRefusal::InvalidCredentials
            }));
        }
        let token = random_token()?;
        self.store
            .start_console_session(
                &admin.id,
                &token_hash(&token),
                &token_hash(&csrf_token_for(&token)),
                now,
                now + SESSION_MS,
            )
            .await?;
        Ok(Ok(token))
    }

    /// The live session of a session token.
    pub async fn session(&self, token: &str) -> Result<Option<AdminSession>> {
        let found = self
            .store
            .find_console_session(&token_hash(token), self.clock.now_ms())
            .await?;
        Ok(found.map(
            |ConsoleSession {
                 admin_id,
                 username,
                 csrf_token_hash,
                 ..
             }| AdminSession {
                admin_id,
                username,
                csrf_token: csrf_token_for(token),
                csrf_token_hash,
            },
        ))
    }

    pub async fn sign_out(&self, token: &str) -> Result<()> {
        Ok(self.store.end_console_session(&token_hash(token)).await?)
    }
}

fn verify_password(hash: &str, password: &SecretString) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash of a random password, checked against when the username is unknown.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(&generate_password()).unwrap_or_default())
}
