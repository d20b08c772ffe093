//! The console's handlers: each reads its input, calls one core service and renders a page.

use crate::extract::page::{Path, Query};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use strongroom_core::admins::{AdminSession, SignInRefusal};

use crate::net::ClientAddr;
use strongroom_core::applications::{
    APPLICATION_TYPES, ApplicationPatch, ClientMetadata, NewApplication,
};
use strongroom_core::audit::Actor;
use strongroom_core::connectors::{
    ConnectorPatch, NewConnector, NewSsoConnector, SECRET_CONFIG_KEYS, SSO_PROVIDER_OIDC,
    SsoConnectorPatch, display_name, factory,
};
use strongroom_core::crypto::{constant_time_eq, random_token};
use strongroom_core::limits;
use strongroom_core::providers::{FactoryMetadata, social_factories};
use strongroom_core::store::{
    ApplicationId, AuditFilter, ConnectorId, IdentityKey, SsoConnectorId, UserId,
};
use strongroom_core::users::{Connection, TokenStatus};
use strongroom_core::{CoreError, ExposeSecret, SecretString};

use super::view::{self, *};
use super::{
    Admin, Fields, LOGIN_COOKIE, Posted, SESSION_COOKIE, check_origin, csrf_refusal, internal,
    read_fields,
};
use crate::html::{cookie, cookie_header};
use crate::{ApiError, AppState};

type Page = Result<Response, Response>;

const PAGE_SIZE: i64 = 20;
const AUDIT_PAGE_SIZE: i64 = 50;

fn not_found(admin: &AdminSession, what: &str) -> Response {
    view::render_status(
        StatusCode::NOT_FOUND,
        &MessagePage {
            chrome: Some(Chrome::new(admin, "")),
            title: "Not found",
            message: &format!("{what} does not exist (any more)."),
            code: None,
        },
    )
}

/// A service's refusal or failure as a page: the API's status, code and message (an
/// unexpected failure logged with an id that the page shows).
fn failed(admin: &AdminSession, e: CoreError) -> Response {
    let e = ApiError::from(e);
    let title = if e.status == StatusCode::NOT_FOUND {
        "Not found"
    } else {
        "Request failed"
    };
    view::render_status(
        e.status,
        &MessagePage {
            chrome: Some(Chrome::new(admin, "")),
            title,
            message: &e.message,
            code: Some(e.code),
        },
    )
}

/// A core error as a status and the API's code and message.
fn problem(e: CoreError) -> (StatusCode, Problem) {
    let e = ApiError::from(e);
    (e.status, e.into())
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A path segment, percent-encoded.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn secure(state: &AppState) -> bool {
    state.secure_cookies()
}

/// `?saved=1` / `?deleted=1` and the like: what the previous POST did.
#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    saved: Option<String>,
    deleted: Option<String>,
    created: Option<String>,
}

impl Flash {
    /// The notice to show; an empty text means none for that outcome.
    fn notice(&self, saved: &str, deleted: &str) -> Option<String> {
        let text = if self.saved.is_some() || self.created.is_some() {
            saved
        } else if self.deleted.is_some() {
            deleted
        } else {
            ""
        };
        (!text.is_empty()).then(|| text.to_owned())
    }
}

// ----- sign-in -----

pub async fn home(_: Admin) -> Response {
    see_other("/console/users")
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("console.css"),
    )
        .into_response()
}

fn sign_in_form(
    status: StatusCode,
    csrf: String,
    username: String,
    problem: Option<Problem>,
) -> Response {
    view::render_status(
        status,
        &SignInPage {
            csrf,
            username,
            problem,
        },
    )
}

pub async fn sign_in_page(State(state): State<AppState>, headers: HeaderMap) -> Page {
    if super::session_of(&headers, &state).await?.is_some() {
        return Ok(see_other("/console/users"));
    }
    let token = random_token().map_err(|e| internal(&e))?;
    let mut response = sign_in_form(StatusCode::OK, token.clone(), String::new(), None);
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(
            LOGIN_COOKIE,
            &token,
            "/console/sign-in",
            Some(3600),
            secure(&state),
        ),
    );
    Ok(response)
}

pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    req: axum::extract::Request,
) -> Page {
    check_origin(req.headers(), &state.endpoint)?;
    let expected = cookie(req.headers(), LOGIN_COOKIE).map(str::to_owned);
    let fields = read_fields(req, &state).await?;
    let csrf = fields.get("csrf").unwrap_or_default().to_owned();
    if !expected.is_some_and(|e| constant_time_eq(&e, &csrf)) {
        return Err(csrf_refusal());
    }
    let username = fields.get("username").unwrap_or_default().to_owned();
    let password = SecretString::from(fields.raw("password").unwrap_or_default().to_owned());
    let refused = |status, code: &str, message: String| {
        sign_in_form(
            status,
            csrf.clone(),
            username.clone(),
            Some(Problem {
                code: code.into(),
                message,
            }),
        )
    };
    match state
        .console_auth
        .sign_in(&username, &password, client)
        .await
    {
        Ok(Ok(token)) => {
            let mut response = see_other("/console/users");
            let headers = response.headers_mut();
            let max_age = strongroom_core::admins::SESSION_MS / 1000;
            headers.append(
                header::SET_COOKIE,
                cookie_header(
                    SESSION_COOKIE,
                    token.expose_secret(),
                    "/console",
                    Some(max_age),
                    secure(&state),
                ),
            );
            headers.append(
                header::SET_COOKIE,
                cookie_header(
                    LOGIN_COOKIE,
                    "",
                    "/console/sign-in",
                    Some(0),
                    secure(&state),
                ),
            );
            Ok(response)
        }
        Ok(Err(SignInRefusal::InvalidCredentials)) => Ok(refused(
            StatusCode::UNAUTHORIZED,
            "console.invalid_credentials",
            "Wrong username or password.".into(),
        )),
        Ok(Err(SignInRefusal::Locked { until_ms })) => Ok(refused(
            StatusCode::TOO_MANY_REQUESTS,
            "console.too_many_attempts",
            format!(
                "Too many failed sign-ins: this account is locked for your address until {}. \
                 `strongroom admin reset-password` unlocks it.",
                view::time(until_ms)
            ),
        )),
        Ok(Err(SignInRefusal::TooManyRequests)) => Ok(refused(
            StatusCode::TOO_MANY_REQUESTS,
            "console.too_many_requests",
            "Too many sign-in attempts right now. Wait a moment and try again.".into(),
        )),
        Err(e) => Err(internal(&e)),
    }
}

pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap, _: Posted) -> Page {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state
            .console_auth
            .sign_out(token)
            .await
            .map_err(|e| internal(&e))?;
    }
    let mut response = see_other("/console/sign-in");
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(SESSION_COOKIE, "", "/console", Some(0), secure(&state)),
    );
    Ok(response)
}

fn confirm(
    admin: &AdminSession,
    section: &'static str,
    title: String,
    message: String,
    action: String,
    cancel_href: String,
    confirm_label: &'static str,
) -> Response {
    view::render(&ConfirmPage {
        chrome: Chrome::new(admin, section),
        title,
        message,
        action,
        confirm_label,
        cancel_href,
    })
}

// ----- connectors -----

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
enum Source<'a> {
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
fn form_fields(items: &Value, prefix: &str, source: &Source<'_>, is_new: bool) -> Vec<Field> {
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
fn submitted_config(items: &Value, prefix: &str, form: &Fields) -> Result<Value, Problem> {
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
fn text_field(key: &str, label: &str, value: &str, description: &str, required: bool) -> Field {
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
    let id = ConnectorId(id);
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
    let id = ConnectorId(id);
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
            .update(&id, patch, &Actor::Admin(admin.admin_id.0.clone()))
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
        .get(&ConnectorId(id))
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
        .delete(&ConnectorId(id), &Actor::Admin(admin.admin_id.0.clone()))
        .await
    {
        Ok(()) => Ok(see_other("/console/connectors?deleted=1")),
        Err(e) => Err(failed(&admin, e)),
    }
}

// ----- enterprise SSO connectors -----

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
        .get_sso(&SsoConnectorId(id))
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
    let id = SsoConnectorId(id);
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
            .update_sso(&id, patch, &Actor::Admin(admin.admin_id.0.clone()))
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
        .get_sso(&SsoConnectorId(id))
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
        .delete_sso(&SsoConnectorId(id), &Actor::Admin(admin.admin_id.0.clone()))
        .await
    {
        Ok(()) => Ok(see_other("/console/connectors?deleted=1")),
        Err(e) => Err(failed(&admin, e)),
    }
}

// ----- users -----

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    search: Option<String>,
    page: Option<i64>,
    user: Option<String>,
    action: Option<String>,
}

/// Paging links that keep the other query parameters.
fn paging(base: &str, query: &[(&str, &str)], page: i64, size: i64, total: i64) -> Paging {
    let pages = ((total + size - 1) / size).max(1);
    let link = |p: i64| {
        let mut href = format!("{base}?page={p}");
        for (k, v) in query.iter().filter(|(_, v)| !v.is_empty()) {
            href.push_str(&format!("&{k}={}", segment(v)));
        }
        href
    };
    Paging {
        page,
        pages,
        total,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
    }
}

fn or_dash(value: Option<&str>) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or("—").to_owned()
}

pub async fn users(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Page {
    let page = q.page.unwrap_or(1).clamp(1, limits::PAGE);
    let search: String = q
        .search
        .unwrap_or_default()
        .chars()
        .take(limits::SEARCH)
        .collect();
    let (rows, total) = state
        .users
        .list_rows(
            Some(search.as_str()),
            limits::Page::new(page, PAGE_SIZE).map_err(|e| internal(&e))?,
        )
        .await
        .map_err(|e| internal(&e))?;
    let rows = rows
        .into_iter()
        .map(|u| UserItem {
            href: format!("/console/users/{}", segment(u.id.as_str())),
            name: u
                .name
                .clone()
                .or_else(|| u.username.clone())
                .or_else(|| u.primary_email.clone())
                .unwrap_or_else(|| u.id.0.clone()),
            username: or_dash(u.username.as_deref()),
            email: or_dash(u.primary_email.as_deref()),
            created: view::time(u.created_at),
        })
        .collect();
    Ok(view::render(&UsersPage {
        chrome: Chrome::new(&admin, "users"),
        paging: paging(
            "/console/users",
            &[("search", search.as_str())],
            page,
            PAGE_SIZE,
            total,
        ),
        search,
        rows,
    }))
}

fn status_class(status: TokenStatus) -> &'static str {
    match status {
        TokenStatus::Active => "active",
        TokenStatus::Expired => "expired",
        TokenStatus::Inactive => "inactive",
        TokenStatus::NotApplicable => "na",
    }
}

fn connection_path(user: &UserId, key: &IdentityKey) -> String {
    let (kind, key) = match key {
        IdentityKey::Social(target) => ("social", target.as_str()),
        IdentityKey::Sso(id) => ("sso", id.as_str()),
    };
    format!(
        "/console/users/{}/connections/{kind}/{}",
        segment(user.as_str()),
        segment(key)
    )
}

fn connection_item(user: &UserId, c: &Connection) -> ConnectionItem {
    ConnectionItem {
        href: connection_path(user, &c.key),
        connector_name: c.connector_name.clone(),
        kind: match &c.key {
            IdentityKey::Social(target) => format!("Social · {target}"),
            IdentityKey::Sso(_) => "Enterprise SSO".into(),
        },
        identity_id: c.identity_id.clone(),
        linked: view::time(c.linked_at),
        status: c.status.label(),
        status_class: status_class(c.status),
    }
}

pub async fn user(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Page {
    let id = UserId(id);
    let user = state.users.get(&id).await.map_err(|e| failed(&admin, e))?;
    let connections = state
        .users
        .connections(&id)
        .await
        .map_err(|e| internal(&e))?;
    Ok(view::render(&UserPage {
        chrome: Chrome::new(&admin, "users"),
        audit_href: format!("/console/audit?user={}", segment(id.as_str())),
        connections: connections
            .iter()
            .map(|c| connection_item(&id, c))
            .collect(),
        user: UserView {
            name: user
                .name
                .clone()
                .or_else(|| user.username.clone())
                .unwrap_or_else(|| user.id.0.clone()),
            id: user.id.0.clone(),
            username: or_dash(user.username.as_deref()),
            email: or_dash(user.primary_email.as_deref()),
            phone: or_dash(user.primary_phone.as_deref()),
            created: view::time(user.created_at),
            last_sign_in: user.last_sign_in_at.map_or_else(|| "—".into(), view::time),
        },
    }))
}

/// The user's connection named by a console path, with the user's display name.
async fn find_connection(
    state: &AppState,
    admin: &AdminSession,
    id: &UserId,
    kind: &str,
    key: &str,
) -> Result<(String, Connection), Response> {
    let user = state.users.get(id).await.map_err(|e| failed(admin, e))?;
    let wanted = match kind {
        "social" => IdentityKey::Social(key.to_owned()),
        "sso" => IdentityKey::Sso(SsoConnectorId(key.to_owned())),
        _ => return Err(not_found(admin, "That connection")),
    };
    let connection = state
        .users
        .connections(id)
        .await
        .map_err(|e| internal(&e))?
        .into_iter()
        .find(|c| c.key == wanted)
        .ok_or_else(|| not_found(admin, "That connection"))?;
    let name = user
        .name
        .or(user.username)
        .unwrap_or_else(|| user.id.0.clone());
    Ok((name, connection))
}

fn status_note(c: &Connection) -> String {
    let has_refresh = c
        .secret
        .as_ref()
        .is_some_and(|s| s.metadata.has_refresh_token);
    match c.status {
        TokenStatus::Active => "A token set is stored and its access token is valid. The user's applications can retrieve it through the Account API.".into(),
        TokenStatus::Expired if has_refresh => "The access token has expired. A refresh token is stored: Strongroom refreshes the access token the next time it is retrieved.".into(),
        TokenStatus::Expired => "The access token has expired and no refresh token is stored: the user must sign in through this connector again (or re-authorize through the verification API).".into(),
        TokenStatus::Inactive => "Token storage is on for this connector, but no token set is stored: the user has not signed in through it since storage was switched on, or the tokens were deleted.".into(),
        TokenStatus::NotApplicable => "This connector does not store tokens: token storage is switched off for it, it does not support token storage, or it was deleted.".into(),
    }
}

pub async fn connection(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Path((id, kind, key)): Path<(String, String, String)>,
    Query(flash): Query<Flash>,
) -> Page {
    let id = UserId(id);
    let (user_name, c) = find_connection(&state, &admin, &id, &kind, &key).await?;
    let now = state.clock.now_ms();
    let token = c.secret.as_ref().map(|s| {
        let m = &s.metadata;
        TokenView {
            created: view::time(s.created_at),
            updated: view::time(s.updated_at),
            refresh_token: if m.has_refresh_token {
                "Available".into()
            } else {
                "Not available: the provider issued none".into()
            },
            expires: m.expires_at.map_or_else(
                || "Not given by the provider".into(),
                |at| {
                    format!(
                        "{} ({})",
                        view::time(at * 1000),
                        view::relative(at * 1000, now)
                    )
                },
            ),
            scope: or_dash(m.scope.as_deref()),
            token_type: or_dash(m.token_type.as_deref()),
            last_refresh: m
                .last_refreshed_at
                .map_or_else(|| "Never".into(), |at| view::time(at * 1000)),
            refresh_error: m.refresh_error.as_deref().map_or_else(
                || "None".into(),
                |e| format!("{e}: the user must re-authorize"),
            ),
        }
    });
    let item = connection_item(&id, &c);
    Ok(view::render(&ConnectionPage {
        chrome: Chrome::new(&admin, "users"),
        user_href: format!("/console/users/{}", segment(id.as_str())),
        user_name,
        delete_href: c
            .secret
            .as_ref()
            .map(|_| format!("{}/delete-tokens", item.href)),
        status_note: status_note(&c),
        item,
        token,
        notice: flash.notice(
            "",
            "The tokens were deleted and revoked at the provider where it supports revocation.",
        ),
    }))
}

pub async fn confirm_delete_tokens(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Path((id, kind, key)): Path<(String, String, String)>,
) -> Page {
    let id = UserId(id);
    let (user_name, c) = find_connection(&state, &admin, &id, &kind, &key).await?;
    let href = connection_path(&id, &c.key);
    if c.secret.is_none() {
        return Ok(see_other(&href));
    }
    Ok(confirm(
        &admin,
        "users",
        format!("Delete the {} tokens of {user_name}?", c.connector_name),
        "The stored access and refresh tokens are deleted and revoked at the provider where it supports revocation. The user's applications lose access to the provider's API until the user signs in through this connector again.".into(),
        format!("{href}/delete-tokens"),
        href,
        "Delete tokens",
    ))
}

pub async fn delete_tokens(
    State(state): State<AppState>,
    Path((id, kind, key)): Path<(String, String, String)>,
    Posted { admin, .. }: Posted,
) -> Page {
    let id = UserId(id);
    let (_, c) = find_connection(&state, &admin, &id, &kind, &key).await?;
    let href = connection_path(&id, &c.key);
    if let Some(secret) = c.secret {
        state
            .token_access
            .delete_secret(&secret.id, &Actor::Admin(admin.admin_id.0.clone()))
            .await
            .map_err(|e| internal(&e))?;
    }
    Ok(see_other(&format!("{href}?deleted=1")))
}

// ----- applications -----

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
                id: a.id.0.clone(),
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
        id: row.id.0.clone(),
        name: row.name.clone(),
        app_type: row.app_type.clone(),
        description: row.description.clone().unwrap_or_default(),
        redirect_uris: strongroom_core::applications::redirect_uris(row).join("\n"),
        post_logout_redirect_uris: post_logout,
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
        .get(&ApplicationId(id))
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
    let id = ApplicationId(id);
    let patch = ApplicationPatch {
        name: Some(fields.get("name").unwrap_or_default().to_owned()),
        description: Some(fields.get("description").unwrap_or_default().to_owned()),
        oidc_client_metadata: Some(ClientMetadata {
            redirect_uris: split_lines(fields.get("redirectUris")),
            post_logout_redirect_uris: split_lines(fields.get("postLogoutRedirectUris")),
            ..Default::default()
        }),
        ..Default::default()
    };
    match state.applications.update(&id, patch).await {
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
        .get(&ApplicationId(id))
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
    match state.applications.delete(&ApplicationId(id)).await {
        Ok(true) => Ok(see_other("/console/applications?deleted=1")),
        Ok(false) => Err(not_found(&admin, "That application")),
        Err(e) => Err(internal(&e)),
    }
}

// ----- audit trail -----

const AUDIT_ACTIONS: &[&str] = &[
    "token.read",
    "token.refresh",
    "token.store",
    "token.replace",
    "token.delete",
    "token.revoke",
];

pub async fn audit(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Page {
    let page = q.page.unwrap_or(1).clamp(1, limits::PAGE);
    let user = q.user.unwrap_or_default().trim().to_owned();
    let action = q.action.unwrap_or_default().trim().to_owned();
    let filter = AuditFilter {
        user_id: Some(user.clone()).filter(|u| !u.is_empty()),
        action: Some(action.clone()).filter(|a| !a.is_empty()),
        ..Default::default()
    };
    let (events, total) = state
        .audit
        .list(
            &filter,
            limits::Page::new(page, AUDIT_PAGE_SIZE).map_err(|e| internal(&e))?,
        )
        .await
        .map_err(|e| internal(&e))?;
    let rows = events
        .into_iter()
        .map(|e| AuditItem {
            at: view::time(e.occurred_at),
            actor: match &e.actor_id {
                Some(id) => format!("{} {id}", e.actor_type),
                None => e.actor_type.clone(),
            },
            count: e.detail.get("count").and_then(Value::as_i64).unwrap_or(1),
            user_href: e
                .user_id
                .as_deref()
                .map(|u| format!("/console/users/{}", segment(u))),
            user_id: or_dash(e.user_id.as_deref()),
            target: or_dash(e.target.as_deref()),
            action: e.action,
            outcome: e.outcome,
        })
        .collect();
    let mut actions: Vec<Choice> = vec![Choice {
        value: String::new(),
        title: "All actions".into(),
        selected: action.is_empty(),
    }];
    actions.extend(AUDIT_ACTIONS.iter().map(|a| Choice {
        value: (*a).to_owned(),
        title: (*a).to_owned(),
        selected: *a == action,
    }));
    Ok(view::render(&AuditPage {
        chrome: Chrome::new(&admin, "audit"),
        paging: paging(
            "/console/audit",
            &[("user", user.as_str()), ("action", action.as_str())],
            page,
            AUDIT_PAGE_SIZE,
            total,
        ),
        user,
        actions,
        rows,
    }))
}
