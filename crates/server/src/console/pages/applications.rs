//! The console's applications pages.

use super::*;

fn split_lines(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .split(['\n', ' ', ','])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn type_choices(selected: &str) -> Vec<Choice> {
    APPLICATION_TYPES
        .iter()
        .map(|t| Choice {
            value: (*t).to_owned(),
            title: (*t).to_owned(),
            selected: *t == selected,
        })
        .collect()
}

fn applications_page(
    admin: &AdminSession,
    rows: Vec<strongroom_core::store::ApplicationRow>,
) -> ApplicationsPage {
    ApplicationsPage {
        chrome: Chrome::new(admin, "applications"),
        rows: rows
            .iter()
            .map(|a| ApplicationItem {
                href: format!("/console/applications/{}", segment(a.id.as_str())),
                name: a.name.clone(),
                app_type: a.app_type.clone(),
                id: a.id.as_str().to_owned(),
                redirect_uris: strongroom_core::applications::redirect_uris(a).join(", "),
            })
            .collect(),
        types: type_choices("Traditional"),
        name: String::new(),
        redirect_uris: String::new(),
        problem: None,
        notice: None,
    }
}

pub async fn applications(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Query(flash): Query<Flash>,
) -> Page {
    let rows = state.applications.list().await.map_err(|e| internal(&e))?;
    let mut page = applications_page(&admin, rows);
    page.notice = flash.notice("", "The application was deleted.");
    Ok(view::render(&page))
}

fn application_page(
    admin: &AdminSession,
    row: &strongroom_core::store::ApplicationRow,
) -> ApplicationPage {
    let post_logout = row
        .oidc_client_metadata
        .get("postLogoutRedirectUris")
        .and_then(Value::as_array)
        .map(|uris| {
            uris.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    ApplicationPage {
        chrome: Chrome::new(admin, "applications"),
        id: row.id.as_str().to_owned(),
        name: row.name.clone(),
        app_type: row.app_type.clone(),
        description: row.description.clone().unwrap_or_default(),
        redirect_uris: strongroom_core::applications::redirect_uris(row).join("\n"),
        post_logout_redirect_uris: post_logout,
        exchange_enabled: row.token_exchange.enabled,
        exchange_connectors: row.token_exchange.connectors.join("\n"),
        exchange_act_for: row.token_exchange.act_for.join("\n"),
        worker: row.token_exchange.worker,
        jwks: row
            .token_exchange
            .jwks
            .as_ref()
            .and_then(|j| serde_json::to_string_pretty(j).ok())
            .unwrap_or_default(),
        secret_once: None,
        problem: None,
        notice: None,
    }
}

pub async fn create_application(
    State(state): State<AppState>,
    Posted { admin, fields }: Posted,
) -> Page {
    let app_type = fields.get("type").unwrap_or_default().to_owned();
    let new = NewApplication {
        name: fields.get("name").unwrap_or_default().to_owned(),
        app_type: app_type.clone(),
        oidc_client_metadata: Some(ClientMetadata {
            redirect_uris: split_lines(fields.get("redirectUris")),
            post_logout_redirect_uris: Vec::new(),
            ..Default::default()
        }),
        ..Default::default()
    };
    match state.applications.create(new).await {
        Ok((row, secret)) => {
            let mut page = application_page(&admin, &row);
            page.secret_once = secret.map(|s| s.expose_secret().to_owned());
            page.notice = Some("The application was created.".into());
            Ok(view::render_status(StatusCode::CREATED, &page))
        }
        Err(e) => {
            let (status, p) = problem(e);
            let rows = state.applications.list().await.map_err(|e| internal(&e))?;
            let mut page = applications_page(&admin, rows);
            page.types = type_choices(&app_type);
            page.name = fields.get("name").unwrap_or_default().to_owned();
            page.redirect_uris = fields.get("redirectUris").unwrap_or_default().to_owned();
            page.problem = Some(p);
            Ok(view::render_status(status, &page))
        }
    }
}

pub async fn application(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Page {
    let row = state
        .applications
        .get(&ApplicationId::from(id))
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| not_found(&admin, "That application"))?;
    let mut page = application_page(&admin, &row);
    page.notice = flash.notice("Saved.", "");
    Ok(view::render(&page))
}

pub async fn save_application(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { admin, fields }: Posted,
) -> Page {
    let id = ApplicationId::from(id);
    let jwks = fields.get("jwks").unwrap_or_default().trim();
    let jwks = if jwks.is_empty() {
        Ok(None)
    } else {
        serde_json::from_str(jwks).map(Some).map_err(|_| {
            CoreError::Validation("the public keys are not JSON: paste a JWK set".into())
        })
    };
    let patch = jwks.map(|jwks| ApplicationPatch {
        name: Some(fields.get("name").unwrap_or_default().to_owned()),
        description: Some(fields.get("description").unwrap_or_default().to_owned()),
        oidc_client_metadata: Some(ClientMetadata {
            redirect_uris: split_lines(fields.get("redirectUris")),
            post_logout_redirect_uris: split_lines(fields.get("postLogoutRedirectUris")),
            ..Default::default()
        }),
        token_exchange: Some(TokenExchangeSettings {
            enabled: fields.get("exchangeEnabled") == Some("on"),
            connectors: split_lines(fields.get("exchangeConnectors")),
            act_for: split_lines(fields.get("exchangeActFor")),
            worker: fields.get("worker") == Some("on"),
            jwks,
        }),
        ..Default::default()
    });
    let saved = match patch {
        Ok(patch) => state.applications.update(&id, patch).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(Some(_)) => Ok(see_other(&format!(
            "/console/applications/{}?saved=1",
            segment(id.as_str())
        ))),
        Ok(None) => Err(not_found(&admin, "That application")),
        Err(e) => {
            let (status, p) = problem(e);
            let row = state
                .applications
                .get(&id)
                .await
                .map_err(|e| internal(&e))?
                .ok_or_else(|| not_found(&admin, "That application"))?;
            let mut page = application_page(&admin, &row);
            page.name = fields.get("name").unwrap_or_default().to_owned();
            page.description = fields.get("description").unwrap_or_default().to_owned();
            page.redirect_uris = fields.get("redirectUris").unwrap_or_default().to_owned();
            page.post_logout_redirect_uris = fields
                .get("postLogoutRedirectUris")
                .unwrap_or_default()
                .to_owned();
            page.exchange_enabled = fields.get("exchangeEnabled") == Some("on");
            page.exchange_connectors = fields
                .get("exchangeConnectors")
                .unwrap_or_default()
                .to_owned();
            page.exchange_act_for = fields.get("exchangeActFor").unwrap_or_default().to_owned();
            page.worker = fields.get("worker") == Some("on");
            page.jwks = fields.get("jwks").unwrap_or_default().to_owned();
            page.problem = Some(p);
            Ok(view::render_status(status, &page))
        }
    }
}

pub async fn confirm_delete_application(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Page {
    let row = state
        .applications
        .get(&ApplicationId::from(id))
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| not_found(&admin, "That application"))?;
    let href = format!("/console/applications/{}", segment(row.id.as_str()));
    Ok(confirm(
        &admin,
        "applications",
        format!("Delete {}?", row.name),
        "Its users can no longer sign in through it, and the tokens Strongroom issued to it stop working.".into(),
        format!("{href}/delete"),
        href,
        "Delete application",
    ))
}

pub async fn delete_application(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { admin, .. }: Posted,
) -> Page {
    match state.applications.delete(&ApplicationId::from(id)).await {
        Ok(true) => Ok(see_other("/console/applications?deleted=1")),
        Ok(false) => Err(not_found(&admin, "That application")),
        Err(e) => Err(internal(&e)),
    }
}
