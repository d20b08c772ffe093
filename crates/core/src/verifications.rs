//! The Verification API: a signed-in user re-authorizes at a social provider (for example to
//! widen the scopes), and the verified record then replaces the stored token set or links a new
//! identity (Account API).
//!
//! Records belong to the user who created them, live ten minutes, check the `state` the
//! application sent back, and hold the new token set sealed. A record is used once.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use strongroom_providers::{AuthorizationRequest, Callback, ProviderError, TokenResponse};
use strongroom_store::{ConnectorId, Store, StoreError, UserId, VerificationRow};
use strongroom_vault::{AssociatedData, Domain, Keyring};

use crate::audit::{Actor, Audit, Entry};
use crate::connectors::{ConnectorError, Connectors};
use crate::crypto::{b64url, random_token};
use crate::limits;
use crate::token_access::AccessToken;
use crate::token_sets::TokenSets;
use crate::users::UserError;
use crate::{Clock, CoreError};

/// How long a verification record lives.
pub const VERIFICATION_TTL_SECS: i64 = 10 * 60;
const DOMAIN: Domain = Domain("verification_records");
const SOCIAL: &str = "Social";

/// Why a verification step was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerificationError {
    #[error("the connector `{0}` does not exist")]
    UnknownConnector(String),
    #[error("state and redirectUri are required")]
    InsufficientInfo,
    #[error("the verification record does not exist, has expired, or is not verified")]
    NotFound,
    #[error("the state does not match the one the verification was created with")]
    StateMismatch,
    #[error("the verification is for `{actual}`, not `{expected}`")]
    InvalidTarget { expected: String, actual: String },
    #[error(
        "Token response not found. Please check that token storage is supported and enabled for the social connector."
    )]
    TokenResponseNotFound,
    #[error("this provider account is not linked to the current user")]
    IdentityNotInCurrentUser,
    #[error(transparent)]
    Provider(ProviderError),
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl From<StoreError> for VerificationError {
    fn from(e: StoreError) -> Self {
        Self::Core(e.into())
    }
}

impl From<UserError> for VerificationError {
    fn from(e: UserError) -> Self {
        Self::Core(e.into())
    }
}

type Result<T, E = VerificationError> = std::result::Result<T, E>;

/// A social verification to start: the connector, and the application's state and page the
/// provider sends the user back to.
#[derive(Debug, Clone)]
pub struct CreateSocial {
    pub connector_id: String,
    pub state: String,
    pub redirect_uri: String,
    pub scope: Option<String>,
}

/// Live verification records one user keeps at most; creating another drops the oldest.
pub const MAX_RECORDS_PER_USER: i64 = 20;

/// What the provider sent back to the application's page. `Debug` prints neither the code nor
/// the state.
#[derive(Clone)]
pub struct ConnectorData {
    pub code: String,
    pub state: Option<String>,
    pub redirect_uri: Option<String>,
    pub iss: Option<String>,
}

impl std::fmt::Debug for ConnectorData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorData")
            .field("code", &"[redacted]")
            .field("state", &self.state.as_ref().map(|_| "[redacted]"))
            .field("redirect_uri", &self.redirect_uri)
            .field("iss", &self.iss)
            .finish()
    }
}

/// A created record: its id, where to send the user, when it expires (ms).
#[derive(Debug, Clone)]
pub struct Created {
    pub id: String,
    pub authorization_uri: String,
    pub expires_at: i64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Pending {
    verifier: String,
    nonce: String,
}

/// The token answer kept in a verified record (sealed).
#[derive(serde::Serialize, serde::Deserialize)]
struct Tokens {
    access_token: String,
    id_token: Option<String>,
    refresh_token: Option<String>,
    expires_at: Option<strongroom_store::UnixSecs>,
    scope: Option<String>,
    token_type: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Sealed {
    pending: Option<Pending>,
    tokens: Option<Tokens>,
}

fn aad(row: &VerificationRow) -> AssociatedData {
    AssociatedData::new("strongroom.verification.v1")
        .field("id", &row.id)
        .field("user", row.user_id.as_str())
        .field("connector", row.connector_id.as_str())
}

/// The verification service.
#[derive(Debug, Clone)]
pub struct Verifications {
    store: Store,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    connectors: Connectors,
    token_sets: TokenSets,
    audit: Audit,
}

impl Verifications {
    pub fn new(
        store: Store,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        connectors: Connectors,
        token_sets: TokenSets,
        audit: Audit,
    ) -> Self {
        Self {
            store,
            keyring,
            clock,
            connectors,
            token_sets,
            audit,
        }
    }

    fn seal(&self, row: &VerificationRow, sealed: &Sealed) -> Result<strongroom_vault::Envelope> {
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(sealed).map_err(|e| CoreError::Internal(e.to_string()))?,
        );
        Ok(self
            .keyring
            .seal(DOMAIN, &row.id, &aad(row), &plain)
            .map_err(CoreError::from)?)
    }

    fn open(&self, row: &VerificationRow) -> Result<Sealed> {
        let Some(envelope) = &row.sealed else {
            return Ok(Sealed::default());
        };
        let plain = self
            .keyring
            .open(DOMAIN, &row.id, &aad(row), envelope)
            .map_err(CoreError::from)?;
        serde_json::from_slice(&plain).map_err(|_| VerificationError::NotFound)
    }

    /// The caller's live social record.
    async fn own(&self, user: &UserId, id: &str) -> Result<VerificationRow> {
        self.store
            .get_verification(id, self.clock.now_ms())
            .await?
            .filter(|r| &r.user_id == user && r.record_type == SOCIAL)
            .ok_or(VerificationError::NotFound)
    }

    /// Creates a record and the provider authorization URI (with the caller's `state`, PKCE and
    /// nonce, and the custom `scope`, if any).
    pub async fn create_social(&self, user: &UserId, req: CreateSocial) -> Result<Created> {
        if req.state.is_empty() || req.redirect_uri.is_empty() {
            return Err(VerificationError::InsufficientInfo);
        }
        limits::check_len("state", &req.state, limits::STATE)?;
        limits::check_opt_len("scope", req.scope.as_deref(), limits::SCOPE)?;
        if !limits::is_redirect_uri(&req.redirect_uri) {
            return Err(CoreError::Validation(format!(
                "redirectUri must be an absolute URI of at most {} characters, without a fragment",
                limits::URL
            ))
            .into());
        }
        let connector_row = match self
            .connectors
            .get(&ConnectorId::from(req.connector_id.clone()))
            .await
        {
            Ok(row) => row,
            Err(CoreError::Connector(ConnectorError::NotFound(id))) => {
                return Err(VerificationError::UnknownConnector(id));
            }
            Err(e) => return Err(e.into()),
        };
        let connector = self.connectors.social(&connector_row)?;
        let pending = Pending {
            verifier: random_token()?,
            nonce: random_token()?,
        };
        let challenge = b64url(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pending.verifier.as_bytes())
                .as_ref(),
        );
        let scope = req.scope.as_deref().filter(|s| !s.trim().is_empty());
        let request = AuthorizationRequest {
            state: &req.state,
            redirect_uri: &req.redirect_uri,
            nonce: &pending.nonce,
            code_challenge: &challenge,
            scope,
            login_hint: None,
        };
        let uri = self
            .connectors
            .providers()
            .authorization_url(&connector, &request)
            .await
            .map_err(VerificationError::Provider)?;
        let now = self.clock.now_ms();
        let mut row = VerificationRow {
            id: strongroom_store::new_id(),
            user_id: user.clone(),
            record_type: SOCIAL.into(),
            connector_id: connector_row.id,
            data: json!({ "state": req.state, "redirectUri": req.redirect_uri, "scope": scope, "verified": false }),
            sealed: None,
            created_at: now,
            updated_at: now,
            expires_at: now + VERIFICATION_TTL_SECS * 1000,
        };
        row.sealed = Some(self.seal(
            &row,
            &Sealed {
                pending: Some(pending),
                tokens: None,
            },
        )?);
        self.store.insert_verification(&row).await?;
        // A user's live records are capped: the oldest beyond the cap go.
        self.store
            .trim_verifications(user, MAX_RECORDS_PER_USER)
            .await?;
        Ok(Created {
            id: row.id,
            authorization_uri: uri.into(),
            expires_at: row.expires_at,
        })
    }

    /// Exchanges the code the application received, checks the state, and keeps the provider
    /// profile (and, when the connector stores tokens, the token set) in the record.
    pub async fn verify_social(
        &self,
        user: &UserId,
        id: &str,
        data: ConnectorData,
    ) -> Result<String> {
        let row = self.own(user, id).await?;
        if row.data["verified"] == json!(true) {
            return Err(VerificationError::NotFound);
        }
        if data.state.as_deref() != row.data["state"].as_str() {
            return Err(VerificationError::StateMismatch);
        }
        let redirect_uri = row.data["redirectUri"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let Some(pending) = self.open(&row)?.pending else {
            return Err(VerificationError::NotFound);
        };
        let connector_row = self.connectors.get(&row.connector_id).await?;
        let connector = self.connectors.social(&connector_row)?;
        let verifier = SecretString::from(pending.verifier);
        let callback = Callback {
            code: &data.code,
            iss: data.iss.as_deref(),
            redirect_uri: &redirect_uri,
            code_verifier: &verifier,
            nonce: &pending.nonce,
        };
        let (tokens, profile) = self
            .connectors
            .providers()
            .exchange(&connector, &callback)
            .await
            .map_err(VerificationError::Provider)?;
        let now_secs = self.clock.now_secs();
        let keep = connector_row.enable_token_storage.then(|| Tokens {
            access_token: tokens.access_token.expose_secret().to_owned(),
            id_token: tokens
                .id_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            refresh_token: tokens
                .refresh_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            expires_at: tokens
                .expires_in
                .filter(|s| *s > 0)
                .map(|s| now_secs.plus(s)),
            scope: tokens.scope.clone(),
            token_type: tokens.token_type.clone(),
        });
        let mut data = row.data.clone();
        data["verified"] = json!(true);
        data["target"] = json!(connector_row.target);
        data["profile"] = json!({ "id": profile.id, "email": profile.email, "name": profile.name, "avatar": profile.avatar, "details": profile.details });
        let sealed = self.seal(
            &row,
            &Sealed {
                pending: None,
                tokens: keep,
            },
        )?;
        if !self
            .store
            .update_verification(&row.id, row.updated_at, &data, &sealed, self.clock.now_ms())
            .await?
        {
            return Err(VerificationError::NotFound);
        }
        Ok(row.id)
    }

    /// A verified record of the caller: its connector, target, provider user id and details,
    /// and the token answer if one was kept.
    async fn verified(
        &self,
        user: &UserId,
        id: &str,
    ) -> Result<(
        VerificationRow,
        String,
        String,
        Value,
        Option<TokenResponse>,
    )> {
        let row = self.own(user, id).await?;
        if row.data["verified"] != json!(true) {
            return Err(VerificationError::NotFound);
        }
        let target = row.data["target"].as_str().unwrap_or_default().to_owned();
        let provider_id = row.data["profile"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let details = row.data["profile"]["details"].clone();
        let now = self.clock.now_secs();
        let tokens = self.open(&row)?.tokens.map(|t| TokenResponse {
            access_token: SecretString::from(t.access_token),
            id_token: t.id_token.map(SecretString::from),
            refresh_token: t.refresh_token.map(SecretString::from),
            expires_in: t.expires_at.map(|at| at.since(now)),
            scope: t.scope,
            token_type: t.token_type,
        });
        Ok((row, target, provider_id, details, tokens))
    }

    /// `PUT`/`PATCH .../identities/:target/access-token`: the verified record's token set
    /// replaces the stored one (merged: a missing refresh token keeps the stored one); returns
    /// the new access token. The record is used up.
    pub async fn replace_tokens(
        &self,
        user: &UserId,
        target: &str,
        id: &str,
    ) -> Result<AccessToken> {
        let (row, actual, provider_id, _, tokens) = self.verified(user, id).await?;
        if actual != target {
            return Err(VerificationError::InvalidTarget {
                expected: target.to_owned(),
                actual,
            });
        }
        let identity = self
            .store
            .find_social_identity(target, &provider_id)
            .await?
            .filter(|i| &i.user_id == user)
            .ok_or(VerificationError::IdentityNotInCurrentUser)?;
        let tokens = tokens.ok_or(VerificationError::TokenResponseNotFound)?;
        if !self.store.delete_verification(&row.id).await? {
            return Err(VerificationError::NotFound);
        }
        let secret = self
            .token_sets
            .store_social(&row.connector_id, &identity, tokens)
            .await?;
        let mut entry = Entry::new(
            Actor::User(user.as_str().to_owned()),
            "token.replace",
            "success",
        );
        entry.user_id = Some(user.as_str().to_owned());
        entry.secret_id = Some(secret.id.as_str().to_owned());
        entry.target = Some(target.to_owned());
        entry.detail = json!({ "verificationRecordId": row.id });
        self.audit.record(entry).await;
        let set = self.token_sets.open(&secret)?;
        Ok(AccessToken::from(
            set.access_token,
            &secret.metadata,
            self.clock.now_secs(),
        ))
    }

    /// `POST /api/my-account/identities`: links the verified record's provider account to the
    /// caller and stores its token set, if any. The record is used up.
    pub async fn link(&self, user: &UserId, id: &str) -> Result<()> {
        let (row, target, provider_id, details, tokens) = self.verified(user, id).await?;
        if let Some(owner) = self
            .store
            .find_social_identity(&target, &provider_id)
            .await?
        {
            return Err(if &owner.user_id == user {
                UserError::TargetAlreadyLinked(target)
            } else {
                UserError::IdentityInUse
            }
            .into());
        }
        if self
            .store
            .get_social_identity(user, &target)
            .await?
            .is_some()
        {
            return Err(UserError::TargetAlreadyLinked(target).into());
        }
        if !self.store.delete_verification(&row.id).await? {
            return Err(VerificationError::NotFound);
        }
        let identity = match self
            .store
            .link_social_identity(user, &target, &provider_id, &details, self.clock.now_ms())
            .await
        {
            Err(StoreError::Conflict(_)) => return Err(UserError::IdentityInUse.into()),
            other => other?,
        };
        if let Some(tokens) = tokens {
            let outcome = self
                .token_sets
                .store_social(&row.connector_id, &identity, tokens)
                .await;
            let mut entry = Entry::new(
                Actor::User(user.as_str().to_owned()),
                "token.store",
                "success",
            );
            entry.user_id = Some(user.as_str().to_owned());
            entry.target = Some(target.clone());
            match outcome {
                Ok(secret) => entry.secret_id = Some(secret.id.to_string()),
                Err(e) => {
                    tracing::warn!(error = %e, "storing the linked identity's token set failed; the link stands");
                    entry.outcome = "store_failed".into();
                }
            }
            self.audit.record(entry).await;
        }
        Ok(())
    }
}
