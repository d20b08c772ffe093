//! The console's enterprise SSO connectors pages.

use super::*;

fn sso_items() -> Value {
    json!([
        {"key": "issuer", "label": "Issuer", "type": "Text", "required": true,
         "description": "Everything else is discovered from <issuer>/.well-known/openid-configuration."},
        {"key": "clientId", "label": "Client ID", "type": "Text", "required": true},
        {"key": "clientSecret", "label": "Client Secret", "type": "Text", "required": true},
        {"key": "scope", "label": "Scope", "type": "Text", "required": false,
         "description": "Space-separated; openid is always added. Add offline_access for a refresh token."},
    ])
}

fn sso_form(
    admin: &AdminSession,
    id: Option<&SsoConnectorId>,
    name: &str,
    domains: &str,
    source: &Source<'_>,
    enabled: bool,
) -> ConnectorForm {
    let mut fields = vec![
        text_field(
            "connectorName",
            "Connector name",
            name,
            "Unique; shown to administrators.",
            true,
        ),
        text_field(
            "domains",
            "E-mail domains",
            domains,
            "Comma-separated. A user whose e-mail is at one of them signs in here.",
            false,
        ),
    ];
    fields.extend(form_fields(&sso_items(), "config.", source, id.is_none()));
    ConnectorForm {
        chrome: Chrome::new(admin, "connectors"),
        title: if id.is_some() { name.to_owned() } else { "New enterprise SSO connector".into() },
        subtitle: match id {
            Some(id) => format!("Enterprise SSO (OIDC) connector {id}"),
            None => "An OpenID Connect provider of your organization. Its callback URL is <endpoint>/callback/sso/<connectorId>.".into(),
        },
        action: id.map_or_else(|| "/console/sso-connectors/new".to_owned(), |id| format!("/console/sso-connectors/{}", segment(id.as_str()))),
        fields,
        // Every OIDC enterprise connector can store tokens.
        storage: StorageSwitch { supported: true, enabled, reason: String::new() },
        problem: None,
        notice: None,
        delete_href: id.map(|id| format!("/console/sso-connectors/{}/delete", segment(id.as_str()))),
    }
}

fn submitted_domains(fields: &Fields) -> Vec<String> {
    fields
        .get("domains")
        .unwrap_or_default()
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect()
}

pub async fn new_sso_connector(Admin(admin): Admin) -> Page {
    let empty = json!({});
    let source = Source::Config {
        config: &empty,
        defaults: true,
    };
    Ok(view::render(&sso_form(
        &admin, None, "", "", &source, false,
    )))
}

pub async fn create_sso_connector(
    State(state): State<AppState>,
    Posted { admin, fields }: Posted,
) -> Page {
    let attempt = async {
        let config = submitted_config(&sso_items(), "config.", &fields)
            .map_err(|p| (StatusCode::BAD_REQUEST, p))?;
        let new = NewSsoConnector {
            provider_name: SSO_PROVIDER_OIDC.to_owned(),
            connector_name: fields.get("connectorName").unwrap_or_default().to_owned(),
            config: Some(config),
            domains: Some(submitted_domains(&fields)),
            enable_token_storage: Some(fields.checked("enableTokenStorage")),
            ..Default::default()
        };
        state.connectors.create_sso(new).await.map_err(problem)
    };
    match attempt.await {
        Ok(row) => Ok(see_other(&format!(
            "/console/sso-connectors/{}?created=1",
            segment(row.id.as_str())
        ))),
        Err((status, p)) => {
            let source = Source::Form(&fields);
            let mut form = sso_form(
                &admin,
                None,
                fields.get("connectorName").unwrap_or_default(),
                fields.get("domains").unwrap_or_default(),
                &source,
                fields.checked("enableTokenStorage"),
            );
            form.problem = Some(p);
            Ok(view::render_status(status, &form))
        }
    }
}

pub async fn edit_sso_connector(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Page {
    let row = state
        .connectors
        .get_sso(&SsoConnectorId::from(id))
        .await
        .map_err(|e| failed(&admin, e))?;
    let source = Source::Config {
        config: &row.config,
        defaults: false,
    };
    let mut form = sso_form(
        &admin,
        Some(&row.id),
        &row.connector_name,
        &row.domains.join(", "),
        &source,
        row.enable_token_storage,
    );
    form.notice = flash.notice("Saved.", "");
    Ok(view::render(&form))
}

pub async fn save_sso_connector(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { admin, fields }: Posted,
) -> Page {
    let id = SsoConnectorId::from(id);
    let attempt = async {
        let config = submitted_config(&sso_items(), "config.", &fields)
            .map_err(|p| (StatusCode::BAD_REQUEST, p))?;
        let patch = SsoConnectorPatch {
            connector_name: fields.get("connectorName").map(str::to_owned),
            config: Some(config),
            domains: Some(submitted_domains(&fields)),
            enable_token_storage: Some(fields.checked("enableTokenStorage")),
            ..Default::default()
        };
        state
            .connectors
            .update_sso(
                &id,
                patch,
                &Actor::Admin(admin.admin_id.as_str().to_owned()),
            )
            .await
            .map_err(problem)
    };
    match attempt.await {
        Ok(_) => Ok(see_other(&format!(
            "/console/sso-connectors/{}?saved=1",
            segment(id.as_str())
        ))),
        Err((status, p)) => {
            let source = Source::Form(&fields);
            let mut form = sso_form(
                &admin,
                Some(&id),
                fields.get("connectorName").unwrap_or_default(),
                fields.get("domains").unwrap_or_default(),
                &source,
                fields.checked("enableTokenStorage"),
            );
            form.problem = Some(p);
            Ok(view::render_status(status, &form))
        }
    }
}

pub async fn confirm_delete_sso_connector(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Page {
    let row = state
        .connectors
        .get_sso(&SsoConnectorId::from(id))
        .await
        .map_err(|e| failed(&admin, e))?;
    let href = format!("/console/sso-connectors/{}", segment(row.id.as_str()));
    Ok(confirm(
        &admin,
        "connectors",
        format!("Delete {}?", row.connector_name),
        "Its users can no longer sign in through it. Every token set stored through it is deleted and revoked at the provider where it supports revocation.".into(),
        format!("{href}/delete"),
        href,
        "Delete connector",
    ))
}

pub async fn delete_sso_connector(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { admin, .. }: Posted,
) -> Page {
    match state
        .connectors
        .delete_sso(
            &SsoConnectorId::from(id),
            &Actor::Admin(admin.admin_id.as_str().to_owned()),
        )
        .await
    {
        Ok(()) => Ok(see_other("/console/connectors?deleted=1")),
        Err(e) => Err(failed(&admin, e)),
    }
}
