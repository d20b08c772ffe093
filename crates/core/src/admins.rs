//! Console administrators: the first one is created at first start; `strongroom admin`
//! creates more and resets passwords; [`ConsoleAuth`] signs them in and out.

use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use secrecy::{ExposeSecret, SecretString};
use std::net::IpAddr;
use strongroom_store::{
    AdminId, ConsoleAdmin, ConsoleSession, GuardKeys, Reservation, Store, StoreError,
};

use crate::crypto::{constant_time_eq, random_token, token_hash};
use crate::throttle::Throttle;
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
        created_at: now,
        updated_at: now,
    };
    store.insert_console_admin(&admin).await?;
    Ok(generated)
}

/// Sets a new password (generated when `None`, and returned), lifts every sign-in lockout of
/// the username and ends its sessions.
pub async fn reset_password(
    store: &Store,
    username: &str,
    password: Option<SecretString>,
    clock: &dyn Clock,
) -> Result<Option<SecretString>> {
    let admin = store.find_console_admin(username).await?.ok_or_else(|| {
        CoreError::Validation(format!("no console administrator is named `{username}`"))
    })?;
    let (password, generated) = with_generated(password)?;
    store
        .set_console_admin_password(
            &admin.id,
            &hash_password(&password)?,
            &guard_key(&[username]),
            clock.now_ms(),
        )
        .await?;
    Ok(generated)
}

/// Shortest password an administrator may choose.
pub const MIN_PASSWORD_LEN: usize = 8;

/// The password to set and, when it was generated, the same to show once.
fn with_generated(password: Option<SecretString>) -> Result<(SecretString, Option<SecretString>)> {
    match password {
        Some(p) if p.expose_secret().chars().count() < MIN_PASSWORD_LEN => {
            Err(CoreError::Validation(format!(
                "a console password is at least {MIN_PASSWORD_LEN} characters long"
            )))
        }
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
        Err(CoreError::Validation(
            "a username is 1 to 64 characters: letters, digits, _ - . @".into(),
        ))
    }
}

/// Failed sign-ins in a row from one client address that lock that address out of a username.
pub const MAX_FAILED_SIGN_INS: i64 = 5;
/// How long a lockout lasts.
pub const LOCKOUT_MS: i64 = 15 * 60 * 1000;
/// How long a console session lasts.
pub const SESSION_MS: i64 = 8 * 60 * 60 * 1000;
/// How long an attempt holds its username busy at most (a process that dies mid-check frees
/// it after this).
const ATTEMPT_MS: i64 = 30 * 1000;
/// How long an idle guard row is kept.
const GUARD_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// Sign-in attempts per client address: a burst, then a steady rate per minute.
const ATTEMPTS_BURST: u32 = 10;
const ATTEMPTS_PER_MINUTE: u32 = 10;
/// How long a refused attempt (too many requests) waits before its answer: a flood's
/// connections then cost the server idle waits instead of CPU.
const REFUSAL_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a console sign-in was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefusal {
    /// Unknown username or wrong password (the same answer for both).
    InvalidCredentials,
    /// Too many failures from this address for this username: locked until this time (ms).
    /// Unknown usernames lock the same way.
    Locked { until_ms: i64 },
    /// Too many attempts: from this address, for this username at once, or in all (every
    /// password check slot is taken). Try again shortly.
    TooManyRequests,
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

/// Console sign-in, sessions and sign-out. Passwords are checked against argon2id hashes,
/// at most one check per core at a time (each takes about 19 MiB and tens of milliseconds), so
/// a flood of sign-ins costs bounded memory and CPU: beyond that, and beyond a rate per client
/// address, attempts are refused before any hashing. Failures are counted in the database
/// before the check, per username and client address, so the lockout holds across server
/// processes and concurrent guesses; an attacker elsewhere cannot lock an administrator out.
#[derive(Debug, Clone)]
pub struct ConsoleAuth {
    store: Store,
    clock: Arc<dyn Clock>,
    hash_slots: Arc<tokio::sync::Semaphore>,
    per_address: Arc<Throttle>,
    workspaces: Arc<Workspaces>,
}

/// Argon2's working memory (19 MiB with the default parameters), one buffer per hashing slot,
/// kept and reused: a check never allocates it, so memory stays bounded by the number of slots
/// (the allocator would otherwise keep a released buffer per thread that ever hashed).
#[derive(Default)]
struct Workspaces(std::sync::Mutex<Vec<Vec<argon2::Block>>>);

impl std::fmt::Debug for Workspaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Workspaces")
    }
}

impl Workspaces {
    fn take(&self) -> Vec<argon2::Block> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }

    fn give_back(&self, memory: Vec<argon2::Block>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(memory);
    }
}

/// A guard row key: the SHA-256 of the lowercased username (and the address).
fn guard_key(parts: &[&str]) -> String {
    token_hash(&format!("strongroom console guard\0{}", parts.join("\0")).to_lowercase())
}

impl ConsoleAuth {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            store,
            clock,
            hash_slots: Arc::new(tokio::sync::Semaphore::new(cores)),
            per_address: Arc::new(Throttle::new(ATTEMPTS_BURST, ATTEMPTS_PER_MINUTE)),
            workspaces: Arc::default(),
        }
    }

    /// A refusal for too many requests, answered after [`REFUSAL_DELAY`].
    async fn too_many(&self) -> Result<Result<SecretString, SignInRefusal>> {
        tokio::time::sleep(REFUSAL_DELAY).await;
        Ok(Err(SignInRefusal::TooManyRequests))
    }

    /// Checks the credentials of a sign-in from `client`; on success starts a session and
    /// returns its token (for the cookie). Unknown and existing usernames get the same
    /// answers, with the same argon2 work.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &SecretString,
        client: IpAddr,
    ) -> Result<Result<SecretString, SignInRefusal>> {
        let now = self.clock.now_ms();
        if !self.per_address.allow(client, now) {
            return self.too_many().await;
        }
        let Ok(slot) = self.hash_slots.clone().try_acquire_owned() else {
            return self.too_many().await;
        };
        let username = username.trim();
        let (account, address) = (
            guard_key(&[username]),
            guard_key(&[username, &client.to_string()]),
        );
        let keys = GuardKeys {
            account: &account,
            address: &address,
        };
        match self
            .store
            .reserve_console_attempt(&keys, now, now + ATTEMPT_MS, now + GUARD_TTL_MS)
            .await?
        {
            Reservation::Reserved => {}
            Reservation::Busy => return self.too_many().await,
            Reservation::Locked { until } => {
                return Ok(Err(SignInRefusal::Locked { until_ms: until }));
            }
        }
        let checked = self.check_password(username, password, slot).await;
        let admin = match checked {
            Ok(admin) => admin,
            Err(e) => {
                // The attempt stays counted; the username is freed.
                let _ = self
                    .store
                    .finish_console_attempt(&keys, false, MAX_FAILED_SIGN_INS, now + LOCKOUT_MS)
                    .await;
                return Err(e);
            }
        };
        let locked = self
            .store
            .finish_console_attempt(
                &keys,
                admin.is_some(),
                MAX_FAILED_SIGN_INS,
                now + LOCKOUT_MS,
            )
            .await?;
        let Some(admin) = admin else {
            return Ok(Err(if locked {
                SignInRefusal::Locked {
                    until_ms: now + LOCKOUT_MS,
                }
            } else {
                SignInRefusal::InvalidCredentials
            }));
        };
        let token = random_token()?;
        self.store
            .start_console_session(
                &admin,
                &token_hash(&token),
                &token_hash(&csrf_token_for(&token)),
                now,
                now + SESSION_MS,
            )
            .await?;
        Ok(Ok(SecretString::from(token)))
    }

    /// The administrator whose password this is, checked in a hashing slot; an unknown
    /// username is checked against a dummy hash, so timing tells nothing.
    async fn check_password(
        &self,
        username: &str,
        password: &SecretString,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<Option<AdminId>> {
        let admin = self.store.find_console_admin(username).await?;
        let hash = admin.as_ref().map(|a| a.password_hash.clone());
        let password = password.clone();
        let workspaces = self.workspaces.clone();
        let verified = tokio::task::spawn_blocking(move || {
            let hash = match &hash {
                Some(hash) => hash.as_str(),
                None => dummy_hash(),
            };
            let mut memory = workspaces.take();
            let verified = verify_password_in(hash, &password, &mut memory);
            workspaces.give_back(memory);
            drop(slot);
            verified
        })
        .await
        .unwrap_or(false);
        Ok(admin.filter(|_| verified).map(|a| a.id))
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

/// Checks `password` against an argon2 PHC string, computing in `memory` (grown to the hash's
/// memory cost once, then reused).
fn verify_password_in(
    hash: &str,
    password: &SecretString,
    memory: &mut Vec<argon2::Block>,
) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        argon2::Algorithm::try_from(parsed.algorithm),
        parsed
            .version
            .map_or(Ok(argon2::Version::default()), argon2::Version::try_from),
        argon2::Params::try_from(&parsed),
    ) else {
        return false;
    };
    let mut salt_bytes = [0u8; argon2::password_hash::Salt::MAX_LENGTH];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    memory.resize(params.block_count(), argon2::Block::default());
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            salt,
            &mut out,
            memory.as_mut_slice(),
        )
        .is_ok()
        && aws_lc_rs::constant_time::verify_slices_are_equal(&out, expected.as_bytes()).is_ok()
}

/// A hash of a random password, checked against when the username is unknown.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(&generate_password()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_in_reused_memory() {
        let password = SecretString::from("Correct-Horse-42".to_owned());
        let hash = hash_password(&password).expect("hash");
        let mut memory = Vec::new();
        assert!(verify_password_in(&hash, &password, &mut memory));
        let blocks = memory.len();
        assert!(blocks > 0, "the working memory was grown once");
        let wrong = SecretString::from("Wrong-Horse-42".to_owned());
        assert!(!verify_password_in(&hash, &wrong, &mut memory));
        assert!(verify_password_in(&hash, &password, &mut memory));
        assert_eq!(memory.len(), blocks, "and reused");
        assert!(!verify_password_in(
            "not a phc string",
            &password,
            &mut memory
        ));
        assert!(!verify_password_in(
            dummy_hash(),
            &generate_password(),
            &mut memory
        ));
    }
}
