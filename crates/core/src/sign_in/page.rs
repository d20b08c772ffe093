//! The hosted sign-in page: what it shows, and the user's choice of a social connector or of
//! an enterprise SSO connector by e-mail address.

use super::*;

impl SignIn {
    /// The hosted sign-in page of an interaction.
    pub async fn page(&self, id: &str, browser: Option<&str>) -> Result<SignInPage, SignInError> {
        let row = self.pending(id, browser).await?;
        let pending: Pending = serde_json::from_value(row.params.clone())
            .map_err(|_| SignInError::InteractionNotFound)?;
        let app = self
            .store
            .get_application(&row.application_id)
            .await?
            .ok_or(SignInError::UnknownClient)?;
        let connectors = self
            .connectors
            .list(None)
            .await?
            .into_iter()
            .filter(|c| self.connectors.social(c).is_ok())
            .map(|c| PageConnector {
                name: crate::connectors::display_name(&c),
                logo: crate::connectors::logo(&c),
                target: c.target,
                id: c.id,
            })
            .collect();
        Ok(SignInPage {
            interaction_id: row.id,
            application_name: app.name,
            connectors,
            sso_available: !self.connectors.list_sso().await?.is_empty(),
            login_hint: pending.login_hint,
        })
    }

    /// The sign-in page's social button: off to the provider.
    pub async fn choose_social(
        &self,
        id: &str,
        browser: Option<&str>,
        connector: &ConnectorId,
    ) -> Result<String, SignInError> {
        let row = self.pending(id, browser).await?;
        self.start_upstream(&row, &ConnectorRef::Social(connector.clone()))
            .await
    }

    /// The sign-in page's e-mail field: off to the SSO connector of the address's domain.
    pub async fn choose_sso_by_email(
        &self,
        id: &str,
        browser: Option<&str>,
        email: &str,
    ) -> Result<String, SignInError> {
        let row = self.pending(id, browser).await?;
        let connector = self
            .connectors
            .sso_for_email(email)
            .await?
            .ok_or_else(|| SignInError::NoSsoForEmail(email.chars().take(200).collect()))?;
        self.start_upstream(&row, &ConnectorRef::Sso(connector.id))
            .await
    }
}
