//! The user behind a provider account: found by the identity, joined by a trusted e-mail address
//! (SSO), or created; linked, racing concurrent first sign-ins safely; the token set stored.

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

impl SignIn {
    pub(super) async fn social_sign_in(
        &self,
        id: &ConnectorId,
        callback: &Callback<'_>,
    ) -> Result<UserId, SignInError> {
        let row = self.connectors.get(id).await?;
        let connector = self.connectors.social(&row)?;
        let (tokens, profile) = self
            .connectors
            .providers()
            .exchange(&connector, callback)
            .await
            .map_err(SignInError::Provider)?;
        let owner = match self
            .store
            .find_social_identity(&row.target, &profile.id)
            .await?
        {
            Some(identity) => Owner::Existing(identity.user_id),
            None => Owner::Created(
                self.create_user(&profile, EmailVerifier::Social(row.target.clone()))
                    .await?,
            ),
        };
        let linked = self
            .store
            .link_social_identity(
                owner.id(),
                &row.target,
                &profile.id,
                &profile.details,
                self.clock.now_ms(),
            )
            .await;
        let identity = match self.settle_race(owner, linked).await? {
            Some(identity) => identity,
            None => self
                .store
                .find_social_identity(&row.target, &profile.id)
                .await?
                .ok_or(SignInError::StateMismatch)?,
        };
        if row.enable_token_storage {
            let outcome = self
                .token_sets
                .store_social(&row.id, &identity, tokens)
                .await;
            self.audit_store(
                &identity.user_id,
                &row.target,
                json!({"connectorId": row.id}),
                outcome,
            )
            .await;
        }
        Ok(identity.user_id)
    }

    pub(super) async fn sso_sign_in(
        &self,
        id: &SsoConnectorId,
        callback: &Callback<'_>,
    ) -> Result<UserId, SignInError> {
        let row = self.connectors.get_sso(id).await?;
        let connector = self.connectors.sso(&row)?;
        let issuer = connector.issuer().to_owned();
        let (tokens, profile) = self
            .connectors
            .providers()
            .exchange(&connector.clone().into(), callback)
            .await
            .map_err(SignInError::Provider)?;
        let owner = match self.store.find_sso_identity(&issuer, &profile.id).await? {
            Some(identity) => Owner::Existing(identity.user_id),
            None => match self.user_by_trusted_email(&row, &profile).await? {
                Some(user) => Owner::Existing(user),
                None => Owner::Created(
                    self.create_user(&profile, EmailVerifier::Sso(row.id.clone()))
                        .await?,
                ),
            },
        };
        let linked = self
            .store
            .link_sso_identity(
                owner.id(),
                &row.id,
                &issuer,
                &profile.id,
                &profile.details,
                self.clock.now_ms(),
            )
            .await;
        let identity = match self.settle_race(owner, linked).await? {
            Some(identity) => identity,
            None => self
                .store
                .find_sso_identity(&issuer, &profile.id)
                .await?
                .ok_or(SignInError::StateMismatch)?,
        };
        if row.enable_token_storage {
            let outcome = self.token_sets.store_sso(&row.id, &identity, tokens).await;
            self.audit_store(
                &identity.user_id,
                row.id.as_str(),
                json!({"ssoConnectorId": row.id}),
                outcome,
            )
            .await;
        }
        Ok(identity.user_id)
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

    /// The existing user an SSO sign-in joins by e-mail address. Both sides must be verified:
    /// the SSO provider says `email_verified: true` (a missing claim is "not verified") for an
    /// address of the connector's domains, and the existing user's address was verified by a
    /// source trusted for that domain (this connector, or an administrator). An address a
    /// social provider reported, verified or not, never lets an SSO sign-in into that account.
    async fn user_by_trusted_email(
        &self,
        row: &SsoConnectorRow,
        profile: &UserProfile,
    ) -> Result<Option<UserId>, SignInError> {
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
