//! The OpenAPI document served at `GET /api/swagger.json`, generated from the handlers'
//! `#[utoipa::path]` annotations.
//!
//! The router is built from the same annotations: every route is registered with
//! `utoipa_axum::routes!`, which takes the path and the methods from a handler's annotation, so
//! a route cannot be served at a path or with a method its documentation does not name. The
//! test `tests/openapi.rs` checks the other direction, that nothing reaches the router without
//! going through an annotation.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoResponses, Modify, OpenApi};
use utoipa_axum::router::UtoipaMethodRouter;

use crate::AppState;

/// Security scheme of Management API tokens.
pub const MANAGEMENT: &str = "management";
/// Security scheme of user access tokens (Account and Verification APIs).
pub const USER: &str = "user";
/// The security scheme of `GET /metrics`.
pub const METRICS: &str = "metrics";
/// Security scheme of a client's HTTP Basic authentication at the token endpoint.
pub const CLIENT_BASIC: &str = "client_basic";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Strongroom API",
        description = "Strongroom, a self-hosted identity broker wire-compatible with Logto: its OpenID provider, \
                       the Management API, the Account and Verification APIs, and the hosted sign-in pages. \
                       Error bodies are Logto's `{\"code\", \"message\"}` with stable dotted codes; the token \
                       and userinfo endpoints answer RFC 6749 / RFC 6750 errors instead."
    ),
    components(schemas(crate::wire::ErrorBody, crate::wire::OAuthErrorBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "Status", description = "Health check."),
        (name = "OpenAPI", description = "This document."),
        (name = "OIDC", description = "Strongroom's OpenID provider, under `/oidc`."),
        (name = "Sign-in", description = "The hosted sign-in pages and the upstream providers' callbacks (HTML, no JavaScript)."),
        (name = "Applications", description = "Management API: applications that sign users in through Strongroom."),
        (name = "Connector factories", description = "Management API: the social connector types Strongroom implements."),
        (name = "Connectors", description = "Management API: social connectors."),
        (name = "SSO connectors", description = "Management API: enterprise SSO (OIDC) connectors."),
        (name = "Users", description = "Management API: users, their identities and token secrets (as metadata only)."),
        (name = "Secrets", description = "Management API: stored token sets."),
        (name = "Audit events", description = "Management API: the audit trail."),
        (name = "Account center", description = "Management API: Logto's Account Center settings, which govern the Account API."),
        (name = "My account", description = "Account API: the signed-in user's own account and provider tokens. Served under `/api/my-account` and `/my-account`."),
        (name = "Verifications", description = "Verification API: re-authorizing at a social provider. Served under `/api/verifications` and `/api/verification`."),
    )
)]
struct ApiDoc;

/// The document's base: info, tags, shared schemas and the security schemes. Paths come from
/// the routes.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            MANAGEMENT,
            bearer(
                "A Management API access token: `POST /oidc/token` with `grant_type=client_credentials`, \
                 `resource=<endpoint>/api` and `scope=all`, by a machine-to-machine application.",
            ),
        );
        components.add_security_scheme(
            USER,
            bearer(
                "A user's access token from Strongroom's OpenID provider (authorization code flow) with the \
                 `openid` scope; reading or changing identities and provider tokens also takes `identities`.",
            ),
        );
        components.add_security_scheme(
            METRICS,
            bearer("The value of `STRONGROOM_METRICS_TOKEN` (at least 32 characters)."),
        );
        components.add_security_scheme(
            CLIENT_BASIC,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "Client authentication (RFC 6749 2.3.1): the form-urlencoded client id and secret. \
                         Alternatively `client_id` (and `client_secret`) in the form body.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The same handlers served and documented again at another path: `routes` (from `routes!`,
/// documented under `canonical`) registered under `prefix` instead. Logto's and the seed
/// document's spellings of a path (`/api/my-account` and `/my-account`, ...) share handlers;
/// each spelling is a path of its own in the document, with its own operation ids.
pub fn under(
    prefix: &str,
    canonical: &str,
    routes: UtoipaMethodRouter<AppState>,
) -> UtoipaMethodRouter<AppState> {
    if prefix == canonical {
        return routes;
    }
    let (schemas, mut paths, method_router) = routes;
    let slug: String = prefix
        .trim_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    paths.paths = std::mem::take(&mut paths.paths)
        .into_iter()
        .map(|(path, mut item)| {
            let rest = path
                .strip_prefix(canonical)
                .unwrap_or_else(|| panic!("`{path}` is documented outside of `{canonical}`"));
            for (_, operation) in operations_mut(&mut item) {
                operation.operation_id = operation
                    .operation_id
                    .take()
                    .map(|id| format!("{id}_{slug}"));
                let note = format!("The same operation as `{canonical}{rest}`.");
                operation.description = Some(match operation.description.take() {
                    Some(d) => format!("{d}\n\n{note}"),
                    None => note,
                });
            }
            (format!("{prefix}{rest}"), item)
        })
        .collect();
    (schemas, paths, method_router)
}

/// One handler serving several methods (`method(get, post)`) is one operation under each of
/// them; OpenAPI wants an operation id once, so these get the method as a suffix.
pub fn unique_operation_ids(document: &mut utoipa::openapi::OpenApi) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for item in document.paths.paths.values() {
        for (_, operation) in operations(item) {
            if let Some(id) = &operation.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for item in document.paths.paths.values_mut() {
        for (method, operation) in operations_mut(item) {
            if let Some(id) = operation
                .operation_id
                .as_mut()
                .filter(|id| seen.get(id.as_str()).is_some_and(|n| *n > 1))
            {
                id.push('_');
                id.push_str(method);
            }
        }
    }
}

/// Adds to every operation the answers the edge can give before its handler runs (see
/// `crate::edge`): 400 (U+0000 anywhere, an unreadable path or query), and for operations with
/// a body 413 (over 2 MiB) and 415 (another content type). Each in the form the route speaks:
/// an HTML page on the routes a browser navigates to, RFC 6749's error body at `/oidc/token`,
/// `{code, message}` elsewhere.
pub fn edge_responses(document: &mut utoipa::openapi::OpenApi) {
    for (path, item) in document.paths.paths.iter_mut() {
        let page = crate::edge::is_page(path);
        let token = crate::edge::speaks_oauth(path);
        for (_, operation) in operations_mut(item) {
            let has_body = operation.request_body.is_some();
            let mut add = |status: &str, description: &str| {
                let response = if page {
                    ResponseBuilder::new()
                        .description(format!("An HTML error page: {description}"))
                        .content("text/html", ContentBuilder::new().build())
                        .build()
                        .into()
                } else if token {
                    ResponseBuilder::new()
                        .description(format!("`invalid_request`: {description}"))
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("OAuthErrorBody")))
                                .build(),
                        )
                        .build()
                        .into()
                } else {
                    error_response(description)
                };
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert(response);
            };
            add(
                "400",
                "`guard.invalid_input`: U+0000 in the path, query or body, or a path or query \
                 string that cannot be read.",
            );
            if has_body && !token {
                add(
                    "415",
                    "`guard.invalid_input`: the body is not of the documented content type.",
                );
            }
            if has_body {
                add(
                    "413",
                    "`guard.payload_too_large`: the body is larger than 2 MiB.",
                );
            }
        }
    }
}

fn operations(item: &PathItem) -> impl Iterator<Item = (&'static str, &Operation)> {
    [
        ("get", &item.get),
        ("put", &item.put),
        ("post", &item.post),
        ("delete", &item.delete),
        ("options", &item.options),
        ("head", &item.head),
        ("patch", &item.patch),
        ("trace", &item.trace),
        ("query", &item.query),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_ref().map(|o| (method, o)))
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
        ("query", &mut item.query),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|o| (method, o)))
}

/// The document, generated once from the router's routes.
fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        // `to_json` fails only for maps with non-string keys; the document has none.
        crate::openapi()
            .to_json()
            .unwrap_or_else(|e| panic!("cannot serialize the OpenAPI document: {e}"))
    })
}

/// `GET /api/swagger.json`.
#[utoipa::path(
    get,
    path = "/api/swagger.json",
    tag = "OpenAPI",
    summary = "The OpenAPI document",
    description = "This OpenAPI 3.1 document of every route Strongroom serves, generated from the code. No authentication.",
    responses((status = 200, description = "The OpenAPI document.", body = Object, content_type = "application/json"))
)]
pub async fn swagger_json() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        document(),
    )
        .into_response()
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

const UNAUTHORIZED: &str = "`auth.authorization_header_missing`: no `Authorization` header. \
    `auth.authorization_token_type_not_supported`: not a `Bearer` token. \
    `auth.unauthorized`: the token is unknown, expired or revoked";

/// 401 and 403 of a Management API route ([`crate::extract::ManagementPrincipal`]).
pub struct ManagementAuth;

impl IntoResponses for ManagementAuth {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        BTreeMap::from([
            (
                "401".to_owned(),
                error_response(&format!("{UNAUTHORIZED}.")),
            ),
            (
                "403".to_owned(),
                error_response(
                    "`auth.forbidden`: the token is not a Management API token (a client-credentials token for \
                     the resource `<endpoint>/api` with the scope `all`).",
                ),
            ),
        ])
    }
}

/// 401 and 403 of an Account or Verification API route ([`crate::extract::UserPrincipal`]).
pub struct UserAuth;

impl IntoResponses for UserAuth {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        BTreeMap::from([
            (
                "401".to_owned(),
                error_response(&format!("{UNAUTHORIZED}, or it is not a user's token.")),
            ),
            (
                "403".to_owned(),
                error_response("`auth.forbidden`: the token lacks the `openid` scope."),
            ),
        ])
    }
}

/// 500 of any route that reads the database.
pub struct Internal;

impl IntoResponses for Internal {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        BTreeMap::from([(
            "500".to_owned(),
            error_response(
                "`unexpected_error`: an internal failure; the message carries the id it is logged under.",
            ),
        )])
    }
}
