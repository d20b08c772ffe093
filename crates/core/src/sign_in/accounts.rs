//! The user behind a provider account: found by the identity, joined by a trusted e-mail address
//! (SSO), or created; linked, racing concurrent first sign-ins safely; the token set stored.

use strongroom_store::{ConnectorRow, SecretRelation};

use super::*;

/// The user a provider account is being linked to.
#[derive(Debug)]
enum Owner {
    /// Found by the identity or by a trusted e-mail address.
    Existing(UserId),
    /// Created by this sign-in.
    Created(UserId),
}

impl Owner {
    fn id(&self) -> &UserId {
        match self {
            Self::Existing(id) | Self::Created(id) => id,
        }
    }
}

/// Where a sign-in links the provider account it proved: a social connector (identities keyed
/// by its target) or an SSO connector (keyed by its issuer).
enum Link {
    Social(ConnectorRow),
    Sso {
        row: SsoConnectorRow,
        issuer: String,
    },
}

impl Link {
    /// Who verified an e-mail address this sign-in reports.
    fn verifier(&self) -> EmailVerifier {
        match self {
            Self::Social(row) => EmailVerifier::Social(row.target.clone()),
            Self::Sso { row, .. } => EmailVerifier::Sso(row.id.clone()),
        }
    }

    fn stores_tokens(&self) -> bool {
        match self {
            Self::Social(row) => row.enable_token_storage,
            Self::Sso { row, .. } => row.enable_token_storage,
        }
    }

    /// The audit trail's `target` and `detail` of a stored token set.
    fn audited(&self) -> (String, Value) {
        match self {
            Self::Social(row) => (row.target.clone(), json!({"connectorId": row.id})),
            Self::Sso { row, .. } => (row.id.to_string(), json!({"ssoConnectorId": row.id})),
        }
    }

    /// The user already linked to the provider account `profile_id`, and what its token set
    /// belongs to.
    async fn find(
        &self,
        store: &Store,
        profile_id: &str,
    ) -> Result<Option<(UserId, SecretRelation)>, StoreError> {
        Ok(match self {
            Self::Social(row) => store
                .find_social_identity(&row.target, profile_id)
                .await?
                .map(|i| (i.user_id.clone(), SecretRelation::of_social(&row.id, &i))),
            Self::Sso { row, issuer } => store
                .find_sso_identity(issuer, profile_id)
                .await?
                .map(|i| (i.user_id.clone(), SecretRelation::of_sso(&row.id, &i))),
        })
    }

    /// Links the provider account of `profile` to `user`.
    async fn link(
        &self,
        store: &Store,
        user: &UserId,
        profile: &UserProfile,
        now: i64,
    ) -> Result<(UserId, SecretRelation), StoreError> {
        Ok(match self {
            Self::Social(row) => {
                let i = store
                    .link_social_identity(user, &row.target, &profile.id, &profile.details, now)
                    .await?;
                (i.user_id.clone(), SecretRelation::of_social(&row.id, &i))
            }
            Self::Sso { row, issuer } => {
                let i = store
                    .link_sso_identity(user, &row.id, issuer, &profile.id, &profile.details, now)
                    .await?;
                (i.user_id.clone(), SecretRelation::of_sso(&row.id, &i))
            }
        })
    }
}

impl SignIn {
    /// Signs in with the provider account a callback proves at `at`: the user linked to it,
    /// else (SSO) the user its trusted e-mail address joins, else a new user; the account is
    /// linked, a concurrent first sign-in of the same account settled, and the token set stored
    /// when the connector keeps tokens.
    pub(super) async fn sign_in_at(
        &self,
        at: &ConnectorRef,
        callback: &Callback<'_>,
    ) -> Result<UserId, SignInError> {
        let (link, connector) = match at {
            ConnectorRef::Social(id) => {
                let row = self.connectors.get(id).await?;
                let connector = self.connectors.social(&row)?;
                (Link::Social(row), connector)
            }
            ConnectorRef::Sso(id) => {
                let row = self.connectors.get_sso(id).await?;
                let connector = self.connectors.sso(&row)?;
                let issuer = connector.issuer().to_owned();
                (Link::Sso { row, issuer }, connector.into())
            }
        };
        let (tokens, profile) = self
            .connectors
            .providers()
            .exchange(&connector, callback)
            .await
            .map_err(SignInError::Provider)?;
        let owner = match link.find(&self.store, &profile.id).await? {
            Some((user, _)) => Owner::Existing(user),
            None => match self.user_by_trusted_email(&link, &profile).await? {
                Some(user) => Owner::Existing(user),
                None => Owner::Created(self.create_user(&profile, link.verifier()).await?),
            },
        };
        let linked = link
            .link(&self.store, owner.id(), &profile, self.clock.now_ms())
            .await;
        let (user_id, relation) = match self.settle_race(owner, linked).await? {
            Some(linked) => linked,
            None => link
                .find(&self.store, &profile.id)
                .await?
                .ok_or(SignInError::StateMismatch)?,
        };
        if link.stores_tokens() {
            let outcome = self.token_sets.store(&user_id, relation, tokens).await;
            let (target, detail) = link.audited();
            self.audit_store(&user_id, &target, detail, outcome).await;
        }
        Ok(user_id)
    }

    /// The outcome of linking a provider account to `owner`. A conflict means a concurrent first
    /// sign-in of the same provider account linked it first: the user this attempt created, if
    /// any, is deleted again unless the winner linked the account to that very user (it joined
    /// it by e-mail); an existing user is never deleted. `None` tells the caller to use the
    /// winner's identity.
    async fn settle_race<T>(
        &self,
        owner: Owner,
        linked: Result<T, StoreError>,
    ) -> Result<Option<T>, SignInError> {
        match linked {
            Ok(identity) => Ok(Some(identity)),
            // A conflict: the account was linked first by a concurrent sign-in. A missing
            // reference: the user this attempt joined by e-mail was taken back by the attempt
            // that created it, which lost the race to link it.
            Err(StoreError::Conflict(_) | StoreError::MissingReference(_)) => {
                if let Owner::Created(user) = owner
                    && let Err(e) = self.store.delete_user_if_unlinked(&user).await
                {
                    tracing::warn!(user = %user, error = %e, "cannot delete the user of a sign-in that lost a race");
                }
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The existing user an SSO sign-in joins by e-mail address (a social sign-in joins none).
    /// Both sides must be verified:
    /// the SSO provider says `email_verified: true` (a missing claim is "not verified") for an
    /// address of the connector's domains, and the existing user's address was verified by a
    /// source trusted for that domain (this connector, or an administrator). An address a
    /// social provider reported, verified or not, never lets an SSO sign-in into that account.
    async fn user_by_trusted_email(
        &self,
        link: &Link,
        profile: &UserProfile,
    ) -> Result<Option<UserId>, SignInError> {
        let Link::Sso { row, .. } = link else {
            return Ok(None);
        };
        let Some(email) = profile
            .email
            .as_deref()
            .filter(|_| profile.email_verified == Some(true))
        else {
            return Ok(None);
        };
        let in_domain = email
            .rsplit_once('@')
            .is_some_and(|(_, d)| row.domains.contains(&d.to_ascii_lowercase()));
        if !in_domain {
            return Ok(None);
        }
        Ok(self
            .store
            .find_user_by_email(email)
            .await?
            .filter(|u| {
                EmailVerifier::trusted_for_sso(u.primary_email_verified_by.as_deref(), &row.id)
            })
            .map(|u| u.id))
    }

    /// A new user from a provider profile. The e-mail address becomes the primary one only when
    /// the provider says it verified it (`email_verified: true`) and no other user has it; it is
    /// then stored as verified by `verifier`. An unverified address stays in the identity's
    /// details only. The name and avatar are taken when they are plausible (a name of at most
    /// 128 characters, an http(s) avatar URL of at most 2,048).
    async fn create_user(
        &self,
        profile: &UserProfile,
        verifier: EmailVerifier,
    ) -> Result<UserId, SignInError> {
        let id = UserId::generate();
        let email = match profile.email.as_deref() {
            Some(e)
                if profile.email_verified == Some(true)
                    && self.store.find_user_by_email(e).await?.is_none() =>
            {
                Some(e.to_owned())
            }
            _ => None,
        };
        let new = NewUser {
            primary_email_verified_by: email.as_ref().map(|_| verifier.stored()),
            primary_email: email,
            name: profile
                .name
                .as_deref()
                .map(|n| n.chars().take(crate::limits::NAME).collect()),
            avatar: profile
                .avatar
                .clone()
                .filter(|a| crate::limits::is_web_url(a, crate::limits::URL)),
            ..NewUser::default()
        };
        match self.store.insert_user(&id, &new, self.clock.now_ms()).await {
            Ok(_) => {}
            // The address was taken in the meantime: create the user without it.
            Err(StoreError::Conflict(_)) => {
                self.store
                    .insert_user(
                        &id,
                        &NewUser {
                            primary_email: None,
                            primary_email_verified_by: None,
                            ..new
                        },
                        self.clock.now_ms(),
                    )
                    .await?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(id)
    }

    /// A failure to store tokens never breaks the sign-in: it is logged and audited.
    async fn audit_store(
        &self,
        user_id: &UserId,
        target: &str,
        detail: Value,
        outcome: crate::Result<strongroom_store::SecretRow>,
    ) {
        let mut entry = Entry::new(
            Actor::User(user_id.as_str().to_owned()),
            "token.store",
            "success",
        );
        entry.user_id = Some(user_id.as_str().to_owned());
        entry.target = Some(target.to_owned());
        entry.detail = detail;
        match outcome {
            Ok(secret) => entry.secret_id = Some(secret.id.to_string()),
            Err(e) => {
                tracing::warn!(user = %user_id, target, error = %e, "storing the provider's token set failed; the sign-in goes on");
                entry.outcome = "store_failed".into();
            }
        }
        self.audit.record(entry).await;
    }
}
