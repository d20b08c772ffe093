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
    components(schemas(schemas::ErrorBody, schemas::OAuthErrorBody)),
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

/// Schemas of bodies whose Rust types live in `strongroom-core` (which knows nothing of
/// OpenAPI) or are built as JSON values. Each mirrors its type's serde shape; none is ever
/// constructed.
pub mod schemas {
    #![allow(dead_code)]

    use serde_json::Value;
    use utoipa::{IntoParams, ToSchema};

    /// Logto's error body.
    #[derive(ToSchema)]
    pub struct ErrorBody {
        /// A stable dotted code, such as `entity.not_found`.
        pub code: String,
        /// A human-readable message; never a token, a secret, or database or provider text.
        pub message: String,
    }

    /// An OAuth 2.0 error (RFC 6749 5.2, RFC 6750 3.1), with Logto's `code` and `message`.
    #[derive(ToSchema)]
    pub struct OAuthErrorBody {
        /// `oidc.` followed by `error`, as Logto names it.
        pub code: String,
        /// The same text as `error_description`.
        pub message: String,
        /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
        /// `unsupported_grant_type`, `invalid_scope`, `invalid_target`, `invalid_token` or
        /// `server_error`.
        pub error: String,
        pub error_description: String,
    }

    /// A token endpoint answer.
    #[derive(ToSchema)]
    pub struct TokenResponse {
        pub access_token: String,
        /// `Bearer`.
        pub token_type: String,
        /// Seconds.
        pub expires_in: i64,
        pub scope: String,
        /// With the `offline_access` scope, from the authorization code and refresh grants.
        pub refresh_token: Option<String>,
        /// With the `openid` scope, from the authorization code and refresh grants.
        pub id_token: Option<String>,
    }

    /// A provider access token of the signed-in user.
    #[derive(ToSchema)]
    pub struct ProviderAccessToken {
        pub access_token: String,
        pub scope: Option<String>,
        pub token_type: Option<String>,
        /// Seconds until it expires, when the provider said.
        pub expires_in: Option<i64>,
    }

    /// A created social verification record.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct SocialVerificationCreated {
        pub verification_record_id: String,
        /// Where to send the user: the provider's authorization URL with the caller's `state`.
        pub authorization_uri: String,
        /// ISO 8601, ten minutes after creation.
        #[schema(format = DateTime)]
        pub expires_at: String,
    }

    /// A verified social verification record.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct SocialVerificationVerified {
        pub verification_record_id: String,
    }

    /// Logto's application types.
    #[derive(ToSchema)]
    pub enum ApplicationType {
        Traditional,
        #[allow(clippy::upper_case_acronyms)]
        SPA,
        Native,
        MachineToMachine,
    }

    // Mirrors `strongroom_core::applications::ClientMetadata`.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ClientMetadata {
        /// Absolute URIs without a fragment.
        #[serde(default)]
        pub redirect_uris: Vec<String>,
        #[serde(default)]
        pub post_logout_redirect_uris: Vec<String>,
        pub backchannel_logout_uri: Option<String>,
        pub backchannel_logout_session_required: Option<bool>,
        /// An http(s) URL.
        pub logo_uri: Option<String>,
    }

    // Mirrors `strongroom_core::applications::NewApplication`.
    /// A new application. Confidential types (`Traditional`, `MachineToMachine`) get a client
    /// secret, returned this once.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct NewApplication {
        /// 1 to 256 characters.
        #[schema(min_length = 1, max_length = 256)]
        pub name: String,
        #[serde(rename = "type")]
        pub app_type: ApplicationType,
        #[schema(max_length = 2048)]
        pub description: Option<String>,
        pub oidc_client_metadata: Option<ClientMetadata>,
        #[schema(value_type = Option<Object>)]
        pub custom_client_metadata: Option<Value>,
        #[schema(value_type = Option<Object>)]
        pub custom_data: Option<Value>,
        /// A third-party application asks the user's consent and receives no provider tokens
        /// unless `allowProviderTokens`.
        pub is_third_party: Option<bool>,
        /// Protected apps are not served: only `null`.
        #[schema(value_type = Option<Object>)]
        pub protected_app_metadata: Option<Value>,
        /// Strongroom: whether a third-party application may receive users' provider tokens
        /// (the `identities` scope). Off by default; switching it off revokes the
        /// application's tokens.
        pub allow_provider_tokens: Option<bool>,
    }

    // Mirrors `strongroom_core::applications::ApplicationPatch`.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct ApplicationPatch {
        #[schema(min_length = 1, max_length = 256)]
        pub name: Option<String>,
        #[schema(max_length = 2048)]
        pub description: Option<String>,
        pub oidc_client_metadata: Option<ClientMetadata>,
        #[schema(value_type = Option<Object>)]
        pub custom_client_metadata: Option<Value>,
        #[schema(value_type = Option<Object>)]
        pub custom_data: Option<Value>,
        pub allow_provider_tokens: Option<bool>,
    }

    // Mirrors `strongroom_core::connectors::NewConnector`.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct NewConnector {
        /// Letters, digits, `-` and `_`, 128 at most; generated when absent.
        pub id: Option<String>,
        /// The factory id (see `/api/connector-factories`).
        pub connector_id: String,
        /// The provider configuration; `clientSecret` is sealed and never returned.
        #[schema(value_type = Option<Object>)]
        pub config: Option<Value>,
        /// Standard connectors (oauth2, oidc) only: `target`, `name`, `logo`, ...
        #[schema(value_type = Option<Object>)]
        pub metadata: Option<Value>,
        pub sync_profile: Option<bool>,
        pub enable_token_storage: Option<bool>,
    }

    // Mirrors `strongroom_core::connectors::ConnectorPatch`.
    /// A partial update. A `config` without `clientSecret` keeps the stored one;
    /// `enableTokenStorage: false` deletes (and revokes) the stored token sets.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ConnectorPatch {
        #[schema(value_type = Option<Object>)]
        pub config: Option<Value>,
        #[schema(value_type = Option<Object>)]
        pub metadata: Option<Value>,
        pub sync_profile: Option<bool>,
        pub enable_token_storage: Option<bool>,
    }

    // Mirrors `strongroom_core::connectors::NewSsoConnector`.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct NewSsoConnector {
        /// `OIDC`.
        pub provider_name: String,
        pub connector_name: String,
        /// `issuer`, `clientId`, `clientSecret` (sealed), `scope`, ...
        #[schema(value_type = Option<Object>)]
        pub config: Option<Value>,
        /// E-mail domains routed to this connector.
        pub domains: Option<Vec<String>>,
        #[schema(value_type = Option<Object>)]
        pub branding: Option<Value>,
        pub sync_profile: Option<bool>,
        pub enable_token_storage: Option<bool>,
    }

    // Mirrors `strongroom_core::connectors::SsoConnectorPatch`.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct SsoConnectorPatch {
        pub connector_name: Option<String>,
        #[schema(value_type = Option<Object>)]
        pub config: Option<Value>,
        pub domains: Option<Vec<String>>,
        #[schema(value_type = Option<Object>)]
        pub branding: Option<Value>,
        pub sync_profile: Option<bool>,
        pub enable_token_storage: Option<bool>,
    }

    // Mirrors `strongroom_core::users::CreateUser`.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct CreateUser {
        /// Letters, digits and `_`, not starting with a digit.
        pub username: Option<String>,
        pub primary_email: Option<String>,
        /// Digits, optionally after `+`.
        pub primary_phone: Option<String>,
        pub name: Option<String>,
        pub avatar: Option<String>,
        #[schema(value_type = Option<Object>)]
        pub custom_data: Option<Value>,
        #[schema(value_type = Option<Object>)]
        pub profile: Option<Value>,
        /// Refused (`user.password_not_supported`): users sign in through providers only.
        pub password: Option<String>,
        /// Refused (`user.password_not_supported`).
        pub password_digest: Option<String>,
    }

    // Mirrors `strongroom_core::users::IdentityBody`.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct IdentityBody {
        /// The user's id at the provider.
        pub user_id: String,
        #[schema(value_type = Option<Object>)]
        pub details: Option<Value>,
    }

    // Mirrors `strongroom_core::verifications::CreateSocial`.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct CreateSocial {
        /// A social connector's id.
        pub connector_id: String,
        /// The application's state, sent back to its `redirectUri`.
        pub state: String,
        pub redirect_uri: String,
        /// Custom scopes to ask the provider for.
        pub scope: Option<String>,
    }

    // Mirrors `strongroom_core::verifications::ConnectorData`.
    /// What the provider sent back to the application's redirect URI.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ConnectorData {
        pub code: String,
        pub state: Option<String>,
        pub redirect_uri: Option<String>,
        /// RFC 9207's `iss`, when the provider sent one.
        pub iss: Option<String>,
    }

    // Mirrors `strongroom_core::sign_in::AuthRequest`.
    /// An OpenID Connect authentication request.
    #[derive(ToSchema, IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct AuthRequest {
        pub client_id: Option<String>,
        /// Registered for the application.
        pub redirect_uri: Option<String>,
        /// `code`.
        pub response_type: Option<String>,
        /// `query`.
        pub response_mode: Option<String>,
        /// Must include `openid`.
        pub scope: Option<String>,
        pub state: Option<String>,
        pub nonce: Option<String>,
        /// Required for public clients.
        pub code_challenge: Option<String>,
        /// `S256`.
        pub code_challenge_method: Option<String>,
        /// `login` (sign in again) or `none` (answer without sign-in).
        pub prompt: Option<String>,
        pub login_hint: Option<String>,
        /// Refused for user sign-ins (`invalid_target`).
        pub resource: Option<String>,
        /// `social:<target>` or `sso:<ssoConnectorId>`: straight to that provider.
        pub direct_sign_in: Option<String>,
        /// Refused (`request_not_supported`).
        pub request: Option<String>,
        /// Refused (`request_not_supported`).
        pub request_uri: Option<String>,
    }

    // Mirrors `strongroom_core::sign_in::CallbackQuery`.
    /// A provider's answer.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct CallbackQuery {
        pub code: Option<String>,
        pub state: Option<String>,
        pub iss: Option<String>,
        pub error: Option<String>,
        pub error_description: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use serde::de::{DeserializeOwned, Deserializer, Error as _, Visitor};
    use utoipa::openapi::{RefOr, Schema};
    use utoipa::{IntoParams, PartialSchema};

    use super::schemas;

    /// Reads the field names a struct's `Deserialize` implementation expects (after serde's
    /// renames), without any input.
    struct FieldNames(&'static [&'static str]);

    impl<'de> Deserializer<'de> for &mut FieldNames {
        type Error = serde::de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = fields;
            Err(Self::Error::custom("names recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    fn serde_fields<T: DeserializeOwned>() -> Vec<String> {
        let mut names = FieldNames(&[]);
        let _ = T::deserialize(&mut names);
        let mut out: Vec<String> = names.0.iter().map(|s| (*s).to_owned()).collect();
        out.sort();
        out
    }

    fn schema_fields<T: PartialSchema>() -> Vec<String> {
        match T::schema() {
            RefOr::T(Schema::Object(object)) => object.properties.keys().cloned().collect(),
            _ => panic!("not an object schema"),
        }
    }

    fn param_fields<T: IntoParams>() -> Vec<String> {
        let mut out: Vec<String> = T::into_params(|| None)
            .into_iter()
            .map(|p| p.name)
            .collect();
        out.sort();
        out
    }

    /// The mirrors of `strongroom-core`'s request types name exactly the fields those types read.
    #[test]
    fn mirrored_schemas_match_the_core_types() {
        use strongroom_core::{applications, connectors, sign_in, users, verifications};
        assert_eq!(
            schema_fields::<schemas::ClientMetadata>(),
            serde_fields::<applications::ClientMetadata>()
        );
        assert_eq!(
            schema_fields::<schemas::NewApplication>(),
            serde_fields::<applications::NewApplication>()
        );
        assert_eq!(
            schema_fields::<schemas::ApplicationPatch>(),
            serde_fields::<applications::ApplicationPatch>()
        );
        assert_eq!(
            schema_fields::<schemas::NewConnector>(),
            serde_fields::<connectors::NewConnector>()
        );
        assert_eq!(
            schema_fields::<schemas::ConnectorPatch>(),
            serde_fields::<connectors::ConnectorPatch>()
        );
        assert_eq!(
            schema_fields::<schemas::NewSsoConnector>(),
            serde_fields::<connectors::NewSsoConnector>()
        );
        assert_eq!(
            schema_fields::<schemas::SsoConnectorPatch>(),
            serde_fields::<connectors::SsoConnectorPatch>()
        );
        assert_eq!(
            schema_fields::<schemas::CreateUser>(),
            serde_fields::<users::CreateUser>()
        );
        assert_eq!(
            schema_fields::<schemas::IdentityBody>(),
            serde_fields::<users::IdentityBody>()
        );
        assert_eq!(
            schema_fields::<schemas::CreateSocial>(),
            serde_fields::<verifications::CreateSocial>()
        );
        assert_eq!(
            schema_fields::<schemas::ConnectorData>(),
            serde_fields::<verifications::ConnectorData>()
        );
        assert_eq!(
            schema_fields::<schemas::AuthRequest>(),
            serde_fields::<sign_in::AuthRequest>()
        );
        assert_eq!(
            param_fields::<schemas::AuthRequest>(),
            serde_fields::<sign_in::AuthRequest>()
        );
        assert_eq!(
            param_fields::<schemas::CallbackQuery>(),
            serde_fields::<sign_in::CallbackQuery>()
        );
    }
}
