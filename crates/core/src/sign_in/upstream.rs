//! The trip to the provider and back: the authorization request (state, nonce and PKCE
//! verifier sealed on the interaction) and the callback (the state checked once, the code
//! exchanged, a session opened and the application's code issued).

use super::*;

#[derive(serde::Serialize, serde::Deserialize)]
struct UpstreamSecrets {
    verifier: String,
    nonce: String,
}

fn upstream_aad(interaction: &str, upstream: &ConnectorRef, state_hash: &str) -> AssociatedData {
    AssociatedData::new("strongroom.interaction_upstream.v1")
        .field("interaction", interaction)
        .field("kind", upstream.kind())
        .field("connector", upstream.id())
        .field("state", state_hash)
}

impl SignIn {
    /// Records a fresh upstream attempt on the interaction and returns the provider's
    /// authorization URL.
    pub(super) async fn start_upstream(
        &self,
        row: &InteractionRow,
        upstream: &ConnectorRef,
    ) -> Result<String, SignInError> {
        let pending: Pending = serde_json::from_value(row.params.clone())
            .map_err(|_| SignInError::InteractionNotFound)?;
        let state = random_token()?;
        let nonce = random_token()?;
        let verifier = random_token()?;
        let challenge = b64url(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
        );
        let redirect_uri = self.callback_uri(upstream);
        let login_hint = pending.login_hint.as_deref();
        let request = AuthorizationRequest {
            state: &state,
            redirect_uri: &redirect_uri,
            nonce: &nonce,
            code_challenge: &challenge,
            scope: None,
            login_hint,
        };
        let connector = self.connectors.connector(upstream).await?;
        let url = self
            .connectors
            .providers()
            .authorization_url(&connector, &request)
            .await
            .map_err(SignInError::Provider)?;
        let state_hash = token_hash(&state);
        let secrets = zeroize::Zeroizing::new(
            serde_json::to_vec(&UpstreamSecrets { verifier, nonce })
                .map_err(|e| CoreError::Internal(e.to_string()))?,
        );
        let sealed = self
            .keyring
            .seal(
                INTERACTION_DOMAIN,
                &row.id,
                &upstream_aad(&row.id, upstream, &state_hash),
                &secrets,
            )
            .map_err(CoreError::from)?;
        let recorded = self
            .store
            .set_interaction_upstream(
                &row.id,
                &state_hash,
                upstream.kind(),
                upstream.id(),
                &sealed,
                self.clock.now_ms(),
            )
            .await?;
        if !recorded {
            return Err(SignInError::InteractionNotFound);
        }
        Ok(url.into())
    }

    /// A provider's callback: checks the state against this browser's interaction (once),
    /// exchanges the code, finds or creates the user, stores the token set when the connector
    /// has storage on, and sends the browser back to the application with a code.
    pub async fn callback(
        &self,
        upstream: ConnectorRef,
        query: CallbackQuery,
        browser: Option<&str>,
    ) -> Result<Step, SignInError> {
        let state = query
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(SignInError::StateMismatch)?;
        let state_hash = token_hash(state);
        let row = self
            .store
            .find_interaction_by_state(&state_hash)
            .await?
            .ok_or(SignInError::StateMismatch)?;
        let matches = row.upstream_kind.as_deref() == Some(upstream.kind())
            && row.upstream_connector_id.as_deref() == Some(upstream.id())
            && bound_to(&row, browser);
        if !matches
            || !self
                .store
                .consume_interaction(&row.id, self.clock.now_ms())
                .await?
        {
            return Err(SignInError::StateMismatch);
        }
        let pending: Pending = serde_json::from_value(row.params.clone())
            .map_err(|_| SignInError::InteractionNotFound)?;
        if let Some(error) = query.error.as_deref() {
            // The provider refused (the user denied, ...): the application hears access_denied.
            tracing::info!(upstream = upstream.id(), error = %sanitize(error), "the provider ended the sign-in with an error");
            let description = format!("the identity provider answered {}", sanitize(error));
            return Ok(Step::to(self.error_redirect(
                &pending.redirect_uri,
                "access_denied",
                &description,
                pending.state.as_deref(),
            )));
        }
        let code = query
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                SignInError::Provider(ProviderError::InvalidResponse(
                    "the callback carries no code".into(),
                ))
            })?;
        let sealed = row
            .sealed_upstream
            .as_ref()
            .ok_or(SignInError::StateMismatch)?;
        let plain = self
            .keyring
            .open(
                INTERACTION_DOMAIN,
                &row.id,
                &upstream_aad(&row.id, &upstream, &state_hash),
                sealed,
            )
            .map_err(CoreError::from)?;
        let secrets: UpstreamSecrets =
            serde_json::from_slice(&plain).map_err(|_| SignInError::StateMismatch)?;
        let verifier = SecretString::from(secrets.verifier);
        let redirect_uri = self.callback_uri(&upstream);
        let callback = Callback {
            code,
            iss: query.iss.as_deref(),
            redirect_uri: &redirect_uri,
            code_verifier: &verifier,
            nonce: &secrets.nonce,
        };
        let user_id = self.sign_in_at(&upstream, &callback).await?;
        let now = self.clock.now_ms();
        self.store.record_sign_in(&user_id, now).await?;
        let session = random_token()?;
        let auth_time = UnixSecs::from_ms(now);
        self.store
            .insert_session(&SessionRow {
                id_hash: token_hash(&session),
                user_id: user_id.clone(),
                auth_time,
                created_at: now,
                expires_at: now + SESSION_TTL_SECS * 1000,
            })
            .await?;
        let step = self.finish(&pending, &user_id, auth_time, browser).await?;
        Ok(Step {
            set_session: Some(session),
            ..step
        })
    }

    /// Issues the authorization code and builds the redirect back to the application.
    pub(super) async fn complete(
        &self,
        pending: &Pending,
        user_id: &UserId,
        auth_time: UnixSecs,
    ) -> Result<String, SignInError> {
        let code = self
            .oidc
            .issue_code(&CodeRequest {
                application_id: ApplicationId::from(pending.client_id.clone()),
                user_id: user_id.clone(),
                redirect_uri: pending.redirect_uri.clone(),
                scope: pending.scope.clone(),
                resource: None,
                nonce: pending.nonce.clone(),
                code_challenge: pending.code_challenge.clone(),
                code_challenge_method: pending.code_challenge_method.clone(),
                auth_time,
            })
            .await?;
        Ok(with_params(
            &pending.redirect_uri,
            &[
                ("code", Some(&code)),
                ("state", pending.state.as_deref()),
                ("iss", Some(self.oidc.issuer())),
            ],
        ))
    }
}
