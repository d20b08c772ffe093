//! The console's connectors pages.

use super::*;

fn storage_label(supported: bool, enabled: bool) -> &'static str {
    match (supported, enabled) {
        (false, _) => "Token storage not supported",
        (true, true) => "Token storage on",
        (true, false) => "Token storage off",
    }
}

pub async fn connectors(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Query(flash): Query<Flash>,
) -> Page {
    let rows = state
        .connectors
        .list(None)
        .await
        .map_err(|e| internal(&e))?;
    let sso = state
        .connectors
        .list_sso()
        .await
        .map_err(|e| internal(&e))?;
    let social = rows
        .iter()
        .map(|row| {
            let factory = factory(&row.connector_id);
            ConnectorItem {
                href: format!("/console/connectors/{}", segment(row.id.as_str())),
                name: display_name(row),
                kind: factory
                    .as_ref()
                    .and_then(|f| f.name.get("en"))
                    .map_or_else(|| row.connector_id.clone(), |n| (*n).to_owned()),
                detail: format!("target {}", row.target),
                storage: storage_label(
                    factory.is_some_and(|f| f.is_token_storage_supported),
                    row.enable_token_storage,
                ),
            }
        })
        .collect();
    let sso = sso
        .iter()
        .map(|row| ConnectorItem {
            href: format!("/console/sso-connectors/{}", segment(row.id.as_str())),
            name: row.connector_name.clone(),
            kind: "Enterprise SSO (OIDC)".into(),
            detail: if row.domains.is_empty() {
                "no e-mail domains".into()
            } else {
                row.domains.join(", ")
            },
            storage: storage_label(true, row.enable_token_storage),
        })
        .collect();
    let factories = social_factories()
        .into_iter()
        .filter(|f| {
            f.is_standard
                || !rows
                    .iter()
                    .any(|r| factory(&r.connector_id).is_some_and(|g| g.id == f.id))
        })
        .map(|f| FactoryChoice {
            id: f.id,
            name: f.name.get("en").map_or(f.id, |n| *n).to_owned(),
        })
        .collect();
    Ok(view::render(&ConnectorsPage {
        chrome: Chrome::new(&admin, "connectors"),
        social,
        sso,
        factories,
        notice: flash.notice(
            "Saved.",
            "The connector was deleted, and its stored token sets with it.",
        ),
    }))
}

/// Where a form's values come from: a stored config (defaults for a new one), or a submission.
pub(super) enum Source<'a> {
    Config { config: &'a Value, defaults: bool },
    Form(&'a Fields),
}

fn json_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(true) => "true".into(),
        Value::Bool(false) => String::new(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// The inputs of Logto-style `formItems`, under `prefix` (e.g. `config.`).
pub(super) fn form_fields(
    items: &Value,
    prefix: &str,
    source: &Source<'_>,
    is_new: bool,
) -> Vec<Field> {
    let Some(items) = items.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let key = item.get("key")?.as_str()?;
            let kind_name = item.get("type").and_then(Value::as_str).unwrap_or("Text");
            let secret = SECRET_CONFIG_KEYS.contains(&key);
            let kind = match kind_name {
                _ if secret => "password",
                "Select" => "select",
                "MultipleSelect" => "multi",
                "Json" => "json",
                "Switch" => "switch",
                _ => "text",
            };
            let name = format!("{prefix}{key}");
            let stored = match source {
                Source::Config { config, defaults } => config
                    .get(key)
                    .cloned()
                    .or_else(|| {
                        defaults
                            .then(|| item.get("defaultValue").cloned())
                            .flatten()
                    })
                    .unwrap_or(Value::Null),
                Source::Form(_) => Value::Null,
            };
            let value = match source {
                _ if secret => String::new(),
                Source::Config { .. } => json_text(&stored),
                Source::Form(form) => form.get(&name).unwrap_or_default().to_owned(),
            };
            let selected: Vec<String> = match source {
                Source::Config { .. } => match &stored {
                    Value::Array(values) => values
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    Value::String(s) => vec![s.clone()],
                    _ => Vec::new(),
                },
                Source::Form(form) => form.all(&name).map(str::to_owned).collect(),
            };
            let choices = item
                .get("selectItems")
                .and_then(Value::as_array)
                .map(|options| {
                    options
                        .iter()
                        .filter_map(|o| {
                            let value = o.get("value")?.as_str()?.to_owned();
                            Some(Choice {
                                title: o
                                    .get("title")
                                    .and_then(Value::as_str)
                                    .unwrap_or(&value)
                                    .to_owned(),
                                selected: selected.contains(&value),
                                value,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut description = item
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if secret && !is_new {
                description = "Stored encrypted. Leave empty to keep the current one.".into();
            }
            Some(Field {
                key: name,
                label: item
                    .get("label")
                    .and_then(Value::as_str)
                    .unwrap_or(key)
                    .to_owned(),
                kind,
                required: item
                    .get("required")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    && (is_new || !secret),
                value,
                description,
                choices,
            })
        })
        .collect()
}

/// The config a submission describes (empty optional fields left out; an empty secret keeps
/// the stored one).
pub(super) fn submitted_config(
    items: &Value,
    prefix: &str,
    form: &Fields,
) -> Result<Value, Problem> {
    let mut config = Map::new();
    for item in items.as_array().into_iter().flatten() {
        let Some(key) = item.get("key").and_then(Value::as_str) else {
            continue;
        };
        let name = format!("{prefix}{key}");
        let label = item.get("label").and_then(Value::as_str).unwrap_or(key);
        let value = match item.get("type").and_then(Value::as_str).unwrap_or("Text") {
            "MultipleSelect" => Some(json!(form.all(&name).collect::<Vec<_>>())),
            "Switch" => Some(json!(form.checked(&name))),
            "Json" => match form.get(&name) {
                Some(text) => Some(serde_json::from_str(text).map_err(|e| Problem {
                    code: "guard.invalid_input".into(),
                    message: format!("{label} is not valid JSON: {e}"),
                })?),
                None => None,
            },
            _ => form.get(&name).map(|v| json!(v)),
        };
        if let Some(value) = value {
            config.insert(key.to_owned(), value);
        }
    }
    Ok(Value::Object(config))
}

fn storage_switch(factory: Option<&FactoryMetadata>, enabled: bool) -> StorageSwitch {
    let supported = factory.is_some_and(|f| f.is_token_storage_supported);
    StorageSwitch {
        supported,
        enabled: supported && enabled,
        reason: if supported {
            String::new()
        } else {
            "This connector cannot store tokens: its provider does not issue tokens Strongroom can keep (isTokenStorageSupported is false).".into()
        },
    }
}

/// A plain text input.
pub(super) fn text_field(
    key: &str,
    label: &str,
    value: &str,
    description: &str,
    required: bool,
) -> Field {
    Field {
        key: key.into(),
        label: label.into(),
        kind: "text",
        required,
        value: value.into(),
        description: description.into(),
        choices: Vec::new(),
    }
}

/// The extra fields of a standard (generic OAuth 2.0 / OIDC) connector: its target and name.
fn standard_fields(target: &str, name: &str, is_new: bool) -> Vec<Field> {
    let mut fields = vec![text_field(
        "metadata.name",
        "Display name",
        name,
        "Shown on the sign-in button.",
        false,
    )];
    if is_new {
        fields.insert(
            0,
            text_field(
                "metadata.target",
                "Target",
                target,
                "The identity key of this provider (e.g. gitlab); it cannot change later.",
                true,
            ),
        );
    }
    fields
}

fn connector_form(
    admin: &AdminSession,
    factory: &FactoryMetadata,
    source: &Source<'_>,
    id: Option<&ConnectorId>,
    metadata: (&str, &str),
    enabled: bool,
) -> ConnectorForm {
    let is_new = id.is_none();
    let mut fields = if factory.is_standard {
        standard_fields(metadata.0, metadata.1, is_new)
    } else {
        Vec::new()
    };
    fields.extend(form_fields(&factory.form_items, "config.", source, is_new));
    let factory_name = factory.name.get("en").copied().unwrap_or(factory.id);
    ConnectorForm {
        chrome: Chrome::new(admin, "connectors"),
        title: match id {
            None => format!("New {factory_name} connector"),
            Some(_) if factory.is_standard && !metadata.1.is_empty() => metadata.1.to_owned(),
            Some(_) => factory_name.to_owned(),
        },
        subtitle: match id {
            None => factory.readme.to_owned(),
            Some(id) => format!("{factory_name} connector {id}, target {}", metadata.0),
        },
        action: id.map_or_else(
            || format!("/console/connectors/new?factory={}", segment(factory.id)),
            |id| format!("/console/connectors/{}", segment(id.as_str())),
        ),
        fields,
        storage: storage_switch(Some(factory), enabled),
        problem: None,
        notice: None,
        delete_href: id.map(|id| format!("/console/connectors/{}/delete", segment(id.as_str()))),
    }
}

#[derive(Debug, Deserialize)]
pub struct FactoryQuery {
    factory: String,
}

pub async fn new_connector(Admin(admin): Admin, Query(q): Query<FactoryQuery>) -> Page {
    let factory = factory(&q.factory).ok_or_else(|| not_found(&admin, "That connector type"))?;
    let empty = json!({});
    let source = Source::Config {
        config: &empty,
        defaults: true,
    };
    Ok(view::render(&connector_form(
        &admin,
        &factory,
        &source,
        None,
        ("", ""),
        false,
    )))
}

fn standard_metadata(fields: &Fields, target: Option<&str>) -> Value {
    let mut metadata = json!({});
    if let Some(target) = target.or_else(|| fields.get("metadata.target")) {
        metadata["target"] = json!(target);
    }
    if let Some(name) = fields.get("metadata.name") {
        metadata["name"] = json!({ "en": name });
    }
    metadata
}

pub async fn create_connector(
    State(state): State<AppState>,
    Query(q): Query<FactoryQuery>,
    Posted { admin, fields }: Posted,
) -> Page {
    let factory = factory(&q.factory).ok_or_else(|| not_found(&admin, "That connector type"))?;
    let attempt = async {
        let config = submitted_config(&factory.form_items, "config.", &fields)
            .map_err(|p| (StatusCode::BAD_REQUEST, p))?;
        let new = NewConnector {
            connector_id: factory.id.to_owned(),
            config: Some(config),
            metadata: factory
                .is_standard
                .then(|| standard_metadata(&fields, None)),
            enable_token_storage: Some(fields.checked("enableTokenStorage")),
            ..Default::default()
        };
        state.connectors.create(new).await.map_err(problem)
    };
    match attempt.await {
        Ok(row) => Ok(see_other(&format!(
            "/console/connectors/{}?created=1",
            segment(row.id.as_str())
        ))),
        Err((status, p)) => {
            let source = Source::Form(&fields);
            let metadata = (
                fields.get("metadata.target").unwrap_or_default(),
                fields.get("metadata.name").unwrap_or_default(),
            );
            let mut form = connector_form(
                &admin,
                &factory,
                &source,
                None,
                metadata,
                fields.checked("enableTokenStorage"),
            );
            form.problem = Some(p);
            Ok(view::render_status(status, &form))
        }
    }
}

pub async fn edit_connector(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Page {
    let id = ConnectorId::from(id);
    let row = state
        .connectors
        .get(&id)
        .await
        .map_err(|e| failed(&admin, e))?;
    let factory =
        factory(&row.connector_id).ok_or_else(|| not_found(&admin, "That connector type"))?;
    let source = Source::Config {
        config: &row.config,
        defaults: false,
    };
    let name = display_name(&row);
    let mut form = connector_form(
        &admin,
        &factory,
        &source,
        Some(&row.id),
        (&row.target, &name),
        row.enable_token_storage,
    );
    form.notice = flash.notice("Saved.", "");
    Ok(view::render(&form))
}

pub async fn save_connector(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { admin, fields }: Posted,
) -> Page {
    let id = ConnectorId::from(id);
    let row = state
        .connectors
        .get(&id)
        .await
        .map_err(|e| failed(&admin, e))?;
    let factory =
        factory(&row.connector_id).ok_or_else(|| not_found(&admin, "That connector type"))?;
    let attempt = async {
        let config = submitted_config(&factory.form_items, "config.", &fields)
            .map_err(|p| (StatusCode::BAD_REQUEST, p))?;
        let patch = ConnectorPatch {
            config: Some(config),
            metadata: factory
                .is_standard
                .then(|| standard_metadata(&fields, Some(&row.target))),
            enable_token_storage: Some(fields.checked("enableTokenStorage")),
            ..Default::default()
        };
        state
            .connectors
            .update(
                &id,
                patch,
                &Actor::Admin(admin.admin_id.as_str().to_owned()),
            )
            .await
            .map_err(problem)
    };
    match attempt.await {
        Ok(_) => Ok(see_other(&format!(
            "/console/connectors/{}?saved=1",
            segment(id.as_str())
        ))),
        Err((status, p)) => {
            let source = Source::Form(&fields);
            let name = fields.get("metadata.name").unwrap_or_default().to_owned();
            let mut form = connector_form(
                &admin,
                &factory,
                &source,
                Some(&id),
                (&row.target, &name),
                fields.checked("enableTokenStorage"),
            );
            form.problem = Some(p);
            Ok(view::render_status(status, &form))
        }
    }
}

pub async fn confirm_delete_connector(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Page {
    let row = state
        .connectors
        .get(&ConnectorId::from(id))
        .await
        .map_err(|e| failed(&admin, e))?;
    let href = format!("/console/connectors/{}", segment(row.id.as_str()));
    Ok(confirm(
        &admin,
        "connectors",
        format!("Delete {}?", display_name(&row)),
        "Users can no longer sign in through it. Every token set stored through it is deleted and revoked at the provider where it supports revocation; the users' identities stay.".into(),
        format!("{href}/delete"),
        href,
        "Delete connector",
    ))
}

pub async fn delete_connector(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { admin, .. }: Posted,
) -> Page {
    match state
        .connectors
        .delete(
            &ConnectorId::from(id),
            &Actor::Admin(admin.admin_id.as_str().to_owned()),
        )
        .await
    {
        Ok(()) => Ok(see_other("/console/connectors?deleted=1")),
        Err(e) => Err(failed(&admin, e)),
    }
}
