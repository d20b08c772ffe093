//! Users and their identities (Management API and Account API). Token secrets leave this
//! module as rows whose tokens stay sealed: callers show their metadata only.

use std::collections::HashMap;

use serde_json::{Map, Value};
use strongroom_store::{
    ConsentRow, IdentityKey, NewUser, SecretRow, SocialIdentity, SsoConnectorId, SsoIdentity,
    Store, StoreError, TokenSetMetadata, UserId, UserRow,
};

use crate::audit::Actor;
use crate::limits::{self, Page};
use crate::oidc::Revocations;
use crate::revocation::Revoker;
use crate::{Clock, CoreError, Result};

/// Why a user request was refused. Each maps to one Logto code in the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("the user `{0}` does not exist")]
    NotFound(String),
    #[error("the user has no identity at `{0}`")]
    IdentityNotFound(String),
    #[error("the user has no identity at the SSO connector `{0}`")]
    SsoIdentityNotFound(String),
    #[error("this provider account is already linked to another user")]
    IdentityInUse,
    #[error("the username is already in use")]
    UsernameTaken,
    #[error("the e-mail address is already in use")]
    EmailTaken,
    #[error("the phone number is already in use")]
    PhoneTaken,
    #[error("Strongroom signs users in through providers only: passwords are not supported")]
    PasswordNotSupported,
    #[error("this identity is the user's last way to sign in")]
    LastSignInMethod,
    #[error("the user already has an identity at `{0}`")]
    TargetAlreadyLinked(String),
    #[error("the user has no grant `{0}`")]
    GrantNotFound(String),
}

impl From<UserError> for CoreError {
    fn from(e: UserError) -> Self {
        CoreError::User(e)
    }
}

/// Who verified a primary e-mail address, as stored in `users.primary_email_verified_by`. An
/// address no source verified is stored unverified (`None`); only these sources make it
/// verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailVerifier {
    /// An administrator set it (Management API).
    Admin,
    /// A social provider said `email_verified: true`.
    Social(String),
    /// An enterprise SSO connector said `email_verified: true`.
    Sso(SsoConnectorId),
}

impl EmailVerifier {
    pub fn stored(&self) -> String {
        match self {
            Self::Admin => "admin".to_owned(),
            Self::Social(target) => format!("social:{target}"),
            Self::Sso(id) => format!("sso:{id}"),
        }
    }

    /// Whether this source may vouch for an address when an SSO connector joins a sign-in to
    /// the existing user holding it: an administrator, or that same SSO connector.
    pub fn trusted_for_sso(stored: Option<&str>, connector: &SsoConnectorId) -> bool {
        stored.is_some_and(|s| {
            s == Self::Admin.stored() || s == Self::Sso(connector.clone()).stored()
        })
    }
}

/// What a user is created with.
#[derive(Debug, Clone, Default)]
pub struct CreateUser {
    pub username: Option<String>,
    pub primary_email: Option<String>,
    pub primary_phone: Option<String>,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub custom_data: Option<Map<String, Value>>,
    pub profile: Option<Map<String, Value>>,
    /// Whether the caller sent a password (or a digest of one): refused, users sign in through
    /// providers only. The password itself never reaches this crate.
    pub password_given: bool,
}

/// A social identity to link: the user's id at the provider and the profile it gave.
#[derive(Debug, Clone)]
pub struct IdentityBody {
    pub user_id: String,
    pub details: Option<Map<String, Value>>,
}

/// A user with its social identities.
#[derive(Debug, Clone)]
pub struct UserWithIdentities {
    pub user: UserRow,
    pub identities: Vec<SocialIdentity>,
}

/// An identity and, when asked for and stored, its token set's row (metadata only is shown).
#[derive(Debug, Clone)]
pub struct Linked<I> {
    pub identity: I,
    pub secret: Option<SecretRow>,
}

/// All of a user's identities.
#[derive(Debug, Clone)]
pub struct AllIdentities {
    pub social: Vec<Linked<SocialIdentity>>,
    pub sso: Vec<Linked<SsoIdentity>>,
}

/// Logto's `yes()`: `1`, `true`, `y`, `yes`, `yep`, `yeah`, any case.
pub fn yes(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "1" | "true" | "y" | "yes" | "yep" | "yeah"
        )
    })
}

fn valid_username(u: &str) -> bool {
    let mut chars = u.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && u.len() <= 128
}

fn valid_email(e: &str) -> bool {
    e.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !e.contains(char::is_whitespace)
    }) && e.len() <= 254
}

fn valid_phone(p: &str) -> bool {
    let digits = p.strip_prefix('+').unwrap_or(p);
    (5..=20).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
}

/// The token set of one of a user's identities, among the user's secrets.
fn secret_of<'s>(secrets: &'s [SecretRow], identity: &IdentityKey) -> Option<&'s SecretRow> {
    secrets.iter().find(|s| s.relation.key() == *identity)
}

/// The users service.
#[derive(Debug, Clone)]
pub struct Users {
    store: Store,
    clock: std::sync::Arc<dyn Clock>,
    revoker: Revoker,
    revocations: std::sync::Arc<Revocations>,
}

impl Users {
    pub fn new(
        store: Store,
        clock: std::sync::Arc<dyn Clock>,
        revoker: Revoker,
        revocations: std::sync::Arc<Revocations>,
    ) -> Self {
        Self {
            store,
            clock,
            revoker,
            revocations,
        }
    }

    pub async fn get(&self, id: &UserId) -> Result<UserRow> {
        self.store
            .get_user(id)
            .await?
            .ok_or_else(|| UserError::NotFound(id.as_str().to_owned()).into())
    }

    /// A user with its social identities.
    pub async fn with_identities(&self, id: &UserId) -> Result<UserWithIdentities> {
        let user = self.get(id).await?;
        Ok(UserWithIdentities {
            user,
            identities: self.store.list_social_identities(id).await?,
        })
    }

    pub async fn create(&self, req: CreateUser) -> Result<UserRow> {
        if req.password_given {
            return Err(UserError::PasswordNotSupported.into());
        }
        let blank = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let (username, email, phone) = (
            blank(req.username),
            blank(req.primary_email),
            blank(req.primary_phone),
        );
        if let Some(u) = &username {
            if !valid_username(u) {
                return Err(CoreError::Validation(
                    "username may contain letters, digits and _, and not start with a digit".into(),
                ));
            }
            if self.store.find_user_by_username(u).await?.is_some() {
                return Err(UserError::UsernameTaken.into());
            }
        }
        if let Some(e) = &email {
            if !valid_email(e) {
                return Err(CoreError::Validation(
                    "primaryEmail is not an e-mail address".into(),
                ));
            }
            if self.store.find_user_by_email(e).await?.is_some() {
                return Err(UserError::EmailTaken.into());
            }
        }
        limits::check_opt_len("name", req.name.as_deref(), limits::NAME)?;
        if let Some(avatar) = req.avatar.as_deref().filter(|a| !a.is_empty())
            && !limits::is_web_url(avatar, limits::URL)
        {
            return Err(CoreError::Validation(format!(
                "avatar must be an http(s) URL of at most {} characters",
                limits::URL
            )));
        }
        if let Some(p) = &phone {
            if !valid_phone(p) {
                return Err(CoreError::Validation(
                    "primaryPhone must be digits, optionally after +".into(),
                ));
            }
            if self.store.find_user_by_phone(p).await?.is_some() {
                return Err(UserError::PhoneTaken.into());
            }
        }
        let id = UserId::generate();
        let new = NewUser {
            username,
            primary_email_verified_by: email.as_ref().map(|_| EmailVerifier::Admin.stored()),
            primary_email: email,
            primary_phone: phone,
            name: req.name,
            avatar: req.avatar.filter(|a| !a.is_empty()),
            profile: req.profile.map(Value::Object),
            custom_data: req.custom_data.map(Value::Object),
        };
        match self.store.insert_user(&id, &new, self.clock.now_ms()).await {
            Ok(user) => Ok(user),
            // Lost a race for a unique field.
            Err(StoreError::Conflict(what)) if what.contains("email") => {
                Err(UserError::EmailTaken.into())
            }
            Err(StoreError::Conflict(what)) if what.contains("phone") => {
                Err(UserError::PhoneTaken.into())
            }
            Err(StoreError::Conflict(_)) => Err(UserError::UsernameTaken.into()),
            Err(e) => Err(e.into()),
        }
    }

    /// A page of users (1-based `page`) and the total number of matches.
    pub async fn list(
        &self,
        search: Option<&str>,
        page: Page,
    ) -> Result<(Vec<UserWithIdentities>, i64)> {
        let (rows, total) = self.list_rows(search, page).await?;
        let ids: Vec<UserId> = rows.iter().map(|u| u.id.clone()).collect();
        let mut identities: HashMap<UserId, Vec<SocialIdentity>> = HashMap::new();
        for identity in self.store.list_social_identities_of(&ids).await? {
            identities
                .entry(identity.user_id.clone())
                .or_default()
                .push(identity);
        }
        let out = rows
            .into_iter()
            .map(|user| UserWithIdentities {
                identities: identities.remove(&user.id).unwrap_or_default(),
                user,
            })
            .collect();
        Ok((out, total))
    }

    /// A page (1-based) of users matching `search` (Logto's fuzzy match), and the total.
    pub async fn list_rows(&self, search: Option<&str>, page: Page) -> Result<(Vec<UserRow>, i64)> {
        limits::check_opt_len("search", search, limits::SEARCH)?;
        let search = search
            .map(|s| s.trim_matches('%').trim())
            .filter(|s| !s.is_empty());
        Ok(self
            .store
            .list_users(search, page.page_size, page.offset())
            .await?)
    }

    /// The user's grants to applications: the consents the user gave third-party
    /// applications (first-party applications need none). `app_type` is `firstParty`,
    /// `thirdParty` or absent (all).
    pub async fn grants(&self, id: &UserId, app_type: Option<&str>) -> Result<Vec<ConsentRow>> {
        self.get(id).await?;
        let consents = match app_type {
            None | Some("thirdParty") => self.store.list_consents(id, self.clock.now_ms()).await?,
            Some("firstParty") => Vec::new(),
            Some(_) => {
                return Err(CoreError::Validation(
                    "appType must be firstParty or thirdParty".into(),
                ));
            }
        };
        Ok(consents)
    }

    /// Withdraws a consent: the application's codes and tokens of this user are revoked at
    /// once in every process, and its next sign-in asks again.
    pub async fn withdraw_grant(&self, id: &UserId, grant_id: &str) -> Result<()> {
        if !self
            .store
            .withdraw_consent(id, grant_id, self.clock.now_ms())
            .await?
        {
            return Err(UserError::GrantNotFound(grant_id.chars().take(64).collect()).into());
        }
        self.revocations.publish().await;
        Ok(())
    }

    /// Deletes a user: identities, token sets (revoked at the provider), grants and sessions go.
    pub async fn delete(&self, id: &UserId, actor: &Actor) -> Result<()> {
        self.get(id).await?;
        let doomed = self
            .revoker
            .prepare(self.store.list_user_secrets(id).await?)
            .await;
        if !self.store.delete_user(id).await? {
            return Err(UserError::NotFound(id.as_str().to_owned()).into());
        }
        // The user's access tokens went with the user: no process may accept them any more.
        self.revocations.publish().await;
        self.revoker.finish(doomed, actor, "user_deleted").await;
        Ok(())
    }

    /// `GET /api/users/:userId/identities/:target`.
    pub async fn social_identity(
        &self,
        user: &UserId,
        target: &str,
        include_secret: bool,
    ) -> Result<Linked<SocialIdentity>> {
        self.get(user).await?;
        let identity = self
            .store
            .get_social_identity(user, target)
            .await?
            .ok_or_else(|| UserError::IdentityNotFound(target.to_owned()))?;
        let secret = match include_secret {
            true => {
                self.store
                    .find_secret(user, &IdentityKey::Social(target.to_owned()))
                    .await?
            }
            false => None,
        };
        Ok(Linked { identity, secret })
    }

    /// `PUT /api/users/:userId/identities/:target`: links or replaces; replacing the provider
    /// account deletes (and revokes) the old account's token set. Returns whether the identity
    /// was created, and the user's identities.
    pub async fn put_identity(
        &self,
        user: &UserId,
        target: &str,
        body: IdentityBody,
        actor: &Actor,
    ) -> Result<(bool, Vec<SocialIdentity>)> {
        self.get(user).await?;
        if body.user_id.trim().is_empty() {
            return Err(CoreError::Validation("userId must not be empty".into()));
        }
        if self
            .store
            .find_social_identity(target, &body.user_id)
            .await?
            .is_some_and(|i| &i.user_id != user)
        {
            return Err(UserError::IdentityInUse.into());
        }
        let existing = self.store.get_social_identity(user, target).await?;
        let replaced = existing
            .as_ref()
            .is_some_and(|i| i.identity_id != body.user_id);
        let doomed = match replaced {
            true => {
                self.revoker
                    .prepare(
                        self.store
                            .find_secret(user, &IdentityKey::Social(target.to_owned()))
                            .await?
                            .into_iter()
                            .collect(),
                    )
                    .await
            }
            false => Vec::new(),
        };
        let details = Value::Object(body.details.unwrap_or_default());
        match self
            .store
            .link_social_identity(user, target, &body.user_id, &details, self.clock.now_ms())
            .await
        {
            Err(StoreError::Conflict(_)) => return Err(UserError::IdentityInUse.into()),
            other => other?,
        };
        self.revoker
            .finish(doomed, actor, "identity_replaced")
            .await;
        Ok((
            existing.is_none(),
            self.store.list_social_identities(user).await?,
        ))
    }

    /// Unlinks a social identity; its token set goes (revoked at the provider). With
    /// `keep_one`, refuses to remove the user's last identity (the Account API).
    pub async fn unlink(
        &self,
        user: &UserId,
        target: &str,
        actor: &Actor,
        keep_one: bool,
    ) -> Result<()> {
        self.get(user).await?;
        if self
            .store
            .get_social_identity(user, target)
            .await?
            .is_none()
        {
            return Err(UserError::IdentityNotFound(target.to_owned()).into());
        }
        if keep_one {
            let others = self.store.list_social_identities(user).await?.len() - 1;
            let sso = self.store.list_sso_identities(user).await?.len();
            if others + sso == 0 {
                return Err(UserError::LastSignInMethod.into());
            }
        }
        let doomed = self
            .revoker
            .prepare(
                self.store
                    .find_secret(user, &IdentityKey::Social(target.to_owned()))
                    .await?
                    .into_iter()
                    .collect(),
            )
            .await;
        if !self.store.unlink_social_identity(user, target).await? {
            return Err(UserError::IdentityNotFound(target.to_owned()).into());
        }
        self.revoker
            .finish(doomed, actor, "identity_unlinked")
            .await;
        Ok(())
    }

    /// `GET /api/users/:userId/sso-identities/:ssoConnectorId`.
    pub async fn sso_identity(
        &self,
        user: &UserId,
        sso: &SsoConnectorId,
        include_secret: bool,
    ) -> Result<Linked<SsoIdentity>> {
        self.get(user).await?;
        let identity = self
            .store
            .get_sso_identity(user, sso)
            .await?
            .ok_or_else(|| UserError::SsoIdentityNotFound(sso.as_str().to_owned()))?;
        let secret = match include_secret {
            true => {
                self.store
                    .find_secret(user, &IdentityKey::Sso(sso.clone()))
                    .await?
            }
            false => None,
        };
        Ok(Linked { identity, secret })
    }

    /// `GET /api/users/:userId/all-identities`.
    pub async fn all_identities(
        &self,
        user: &UserId,
        include_secrets: bool,
    ) -> Result<AllIdentities> {
        self.get(user).await?;
        let secrets = if include_secrets {
            self.store.list_user_secrets(user).await?
        } else {
            Vec::new()
        };
        let social = self
            .store
            .list_social_identities(user)
            .await?
            .into_iter()
            .map(|identity| Linked {
                secret: secret_of(&secrets, &IdentityKey::Social(identity.target.clone())).cloned(),
                identity,
            })
            .collect();
        let sso = self
            .store
            .list_sso_identities(user)
            .await?
            .into_iter()
            .map(|identity| Linked {
                secret: secret_of(
                    &secrets,
                    &IdentityKey::Sso(identity.sso_connector_id.clone()),
                )
                .cloned(),
                identity,
            })
            .collect();
        Ok(AllIdentities { social, sso })
    }
}

/// A connection's token status label, as the console shows it (the seed's four labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// A token set is stored and its access token has not expired.
    Active,
    /// A token set is stored but its access token has expired.
    Expired,
    /// Token storage is on for the connector, but no token set is stored.
    Inactive,
    /// The connector does not store tokens (unsupported, switched off, or gone).
    NotApplicable,
}

impl TokenStatus {
    /// The label shown to administrators.
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Expired => "Expired",
            Self::Inactive => "Inactive",
            Self::NotApplicable => "Not applicable",
        }
    }

    /// `storage_on`: the connector supports token storage and has it switched on.
    pub fn of(storage_on: bool, stored: Option<&TokenSetMetadata>, now_ms: i64) -> Self {
        match stored {
            Some(m) if m.expires_at.is_some_and(|at| at.to_ms() <= now_ms) => Self::Expired,
            Some(_) => Self::Active,
            None if storage_on => Self::Inactive,
            None => Self::NotApplicable,
        }
    }
}

/// One of a user's social or SSO identities with its token set's metadata: what the console's
/// Connections section lists. Never token material.
#[derive(Debug, Clone)]
pub struct Connection {
    pub key: IdentityKey,
    /// The connector's display name (the target or id when the connector is gone).
    pub connector_name: String,
    /// The provider's user id.
    pub identity_id: String,
    pub linked_at: i64,
    pub secret: Option<SecretRow>,
    pub status: TokenStatus,
}

impl Users {
    /// Every social and SSO identity of a user, with token status.
    pub async fn connections(&self, user: &UserId) -> Result<Vec<Connection>> {
        self.get(user).await?;
        let now = self.clock.now_ms();
        let secrets = self.store.list_user_secrets(user).await?;
        let connectors = self.store.list_connectors().await?;
        let sso_connectors = self.store.list_sso_connectors().await?;
        let mut out = Vec::new();
        for identity in self.store.list_social_identities(user).await? {
            let connector = connectors.iter().find(|c| c.target == identity.target);
            let storage_on = connector.is_some_and(|c| {
                c.enable_token_storage
                    && crate::connectors::factory(&c.connector_id)
                        .is_some_and(|f| f.is_token_storage_supported)
            });
            let secret =
                secret_of(&secrets, &IdentityKey::Social(identity.target.clone())).cloned();
            out.push(Connection {
                status: TokenStatus::of(storage_on, secret.as_ref().map(|s| &s.metadata), now),
                connector_name: connector
                    .map_or_else(|| identity.target.clone(), crate::connectors::display_name),
                key: IdentityKey::Social(identity.target),
                identity_id: identity.identity_id,
                linked_at: identity.created_at,
                secret,
            });
        }
        for identity in self.store.list_sso_identities(user).await? {
            let connector = sso_connectors
                .iter()
                .find(|c| c.id == identity.sso_connector_id);
            let secret = secret_of(
                &secrets,
                &IdentityKey::Sso(identity.sso_connector_id.clone()),
            )
            .cloned();
            out.push(Connection {
                status: TokenStatus::of(
                    connector.is_some_and(|c| c.enable_token_storage),
                    secret.as_ref().map(|s| &s.metadata),
                    now,
                ),
                connector_name: connector.map_or_else(
                    || identity.sso_connector_id.as_str().to_owned(),
                    |c| c.connector_name.clone(),
                ),
                key: IdentityKey::Sso(identity.sso_connector_id),
                identity_id: identity.identity_id,
                linked_at: identity.created_at,
                secret,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_emails_and_phones_follow_logtos_rules() {
        for (name, ok) in [
            ("alice", true),
            ("_a1", true),
            ("a_b_c9", true),
            ("", false),
            ("1alice", false),
            ("al ice", false),
            ("al-ice", false),
            ("älice", false),
        ] {
            assert_eq!(valid_username(name), ok, "{name:?}");
        }
        assert!(valid_username(&"a".repeat(128)) && !valid_username(&"a".repeat(129)));
        for (email, ok) in [
            ("a@example.com", true),
            ("a.b+c@mail.example.org", true),
            ("a@example", false),
            ("@example.com", false),
            ("a@.example.com", false),
            ("a@example.com.", false),
            ("a b@example.com", false),
            ("example.com", false),
        ] {
            assert_eq!(valid_email(email), ok, "{email:?}");
        }
        let long = format!("{}@example.com", "a".repeat(243));
        assert!(!valid_email(&long) && valid_email(&long[1..]));
        for (phone, ok) in [
            ("+4915112345678", true),
            ("12345", true),
            ("1234", false),
            ("+123456789012345678901", false),
            ("+49 151 1234", false),
            ("+49-151", false),
        ] {
            assert_eq!(valid_phone(phone), ok, "{phone:?}");
        }
    }

    #[test]
    fn token_status_labels_follow_the_stored_set_and_the_connector() {
        let now = 1_000_000_000;
        let live = TokenSetMetadata {
            expires_at: Some(strongroom_store::UnixSecs::from_ms(now).plus(60)),
            ..Default::default()
        };
        let expired = TokenSetMetadata {
            expires_at: Some(strongroom_store::UnixSecs::from_ms(now)),
            ..Default::default()
        };
        let no_expiry = TokenSetMetadata::default();
        assert_eq!(TokenStatus::of(true, Some(&live), now), TokenStatus::Active);
        assert_eq!(
            TokenStatus::of(true, Some(&no_expiry), now),
            TokenStatus::Active
        );
        assert_eq!(
            TokenStatus::of(true, Some(&expired), now),
            TokenStatus::Expired
        );
        assert_eq!(TokenStatus::of(true, None, now), TokenStatus::Inactive);
        assert_eq!(
            TokenStatus::of(false, None, now),
            TokenStatus::NotApplicable
        );
        assert_eq!(TokenStatus::NotApplicable.label(), "Not applicable");
    }
}
