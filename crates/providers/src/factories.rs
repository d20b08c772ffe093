//! Connector factory metadata: what each social connector type is and how it is configured
//! (served by `GET /api/connector-factories`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// One social connector factory.
#[derive(Debug, Clone, PartialEq)]
pub struct FactoryMetadata {
    /// Strongroom's factory id (`github`, `google`, `facebook`, `oauth2`, `oidc`). Logto's ids
    /// are accepted as aliases, see [`canonical_factory_id`].
    pub id: &'static str,
    /// The connector target (the identity "provider" key): same as the id here.
    pub target: &'static str,
    /// Always `"Social"`.
    pub connector_type: &'static str,
    /// `"Universal"`, `"Web"`, or `null`.
    pub platform: Option<&'static str>,
    /// Display name by language (`{"en": ...}`).
    pub name: BTreeMap<&'static str, &'static str>,
    /// Description by language.
    pub description: BTreeMap<&'static str, &'static str>,
    /// Logo (an inline SVG data URL).
    pub logo: &'static str,
    /// Dark-mode logo (`null`: use `logo`).
    pub logo_dark: Option<&'static str>,
    /// Short markdown help.
    pub readme: &'static str,
    /// Standard connectors (generic OAuth 2.0 / OIDC) may be added more than once.
    pub is_standard: bool,
    /// Whether the connector can store the provider's token set (all five can).
    pub is_token_storage_supported: bool,
    /// Example configuration, a JSON text.
    pub config_template: Option<&'static str>,
    /// The configuration fields, Logto's `formItems` shape (`key`, `label`, `type`,
    /// `required`, `defaultValue`, `description`).
    pub form_items: Value,
}

/// Maps a factory id, including Logto's (`github-universal`, `google-universal`,
/// `facebook-universal`, `oauth2`, `oidc`), to Strongroom's canonical id. `None` for unknown
/// ids. Case-insensitive.
pub fn canonical_factory_id(id: &str) -> Option<&'static str> {
    let id = id.trim().to_ascii_lowercase();
    Some(match id.as_str() {
        "github" | "github-universal" => "github",
        "google" | "google-universal" | "google-web" => "google",
        "facebook" | "facebook-universal" | "facebook-web" => "facebook",
        "oauth2" | "oauth" | "oauth2-universal" | "oauth-universal" | "oauth-2" | "oauth2.0" => {
            "oauth2"
        }
        "oidc" | "oidc-universal" | "openid-connect" => "oidc",
        _ => return None,
    })
}

fn item(key: &str, label: &str, kind: &str, required: bool, description: &str) -> Value {
    let mut v = json!({ "key": key, "label": label, "type": kind, "required": required });
    if !description.is_empty() {
        v["description"] = json!(description);
    }
    v
}

fn with_default(mut item: Value, default: Value) -> Value {
    item["defaultValue"] = default;
    item
}

fn client_items() -> Vec<Value> {
    vec![
        item("clientId", "Client ID", "Text", true, ""),
        item("clientSecret", "Client Secret", "Text", true, ""),
    ]
}

fn auth_method_items(default: &str) -> Vec<Value> {
    vec![
        with_default(
            json!({
                "key": "tokenEndpointAuthMethod",
                "label": "Token Endpoint Auth Method",
                "type": "Select",
                "required": false,
                "selectItems": [
                    {"title": "client_secret_basic", "value": "client_secret_basic"},
                    {"title": "client_secret_post", "value": "client_secret_post"},
                    {"title": "client_secret_jwt", "value": "client_secret_jwt"}
                ],
                "description": "How the client authenticates at the token endpoint."
            }),
            json!(default),
        ),
        with_default(
            item(
                "clientSecretJwtSigningAlgorithm",
                "Client Secret JWT Signing Algorithm",
                "Text",
                false,
                "HS256, HS384 or HS512 (client_secret_jwt only).",
            ),
            json!("HS256"),
        ),
    ]
}

/// A letter on a coloured rounded square, as an SVG data URL.
macro_rules! badge {
    ($letter:literal, $color:literal) => {
        concat!(
            "data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'>",
            "<rect width='32' height='32' rx='6' fill='%23", $color, "'/>",
            "<text x='16' y='22' font-size='18' font-family='sans-serif' text-anchor='middle' fill='white'>",
            $letter, "</text></svg>"
        )
    };
}

fn en(text: &'static str) -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([("en", text)])
}

/// The social connector factories: `github`, `google`, `facebook`, `oauth2`, `oidc`.
pub fn social_factories() -> Vec<FactoryMetadata> {
    let (github_logo, google_logo, facebook_logo, oauth2_logo, oidc_logo) = (
        badge!("G", "181717"),
        badge!("G", "4285F4"),
        badge!("f", "1877F2"),
        badge!("O", "5D6B82"),
        badge!("O", "F78C40"),
    );
    let mut github_items = client_items();
    github_items.extend([
        with_default(
            item("scope", "Scope", "Text", false, "Space-separated scopes."),
            json!(crate::github::DEFAULT_SCOPE),
        ),
        with_default(
            item(
                "baseUrl",
                "Base URL",
                "Text",
                false,
                "GitHub's web URL (GitHub Enterprise Server: https://ghe.example.com).",
            ),
            json!(crate::github::DEFAULT_BASE_URL),
        ),
        with_default(
            item(
                "apiBaseUrl",
                "API Base URL",
                "Text",
                false,
                "GitHub's REST API URL (GitHub Enterprise Server: https://ghe.example.com/api/v3).",
            ),
            json!(crate::github::DEFAULT_API_BASE_URL),
        ),
    ]);
    let mut google_items = client_items();
    google_items.extend([
        with_default(item("scope", "Scope", "Text", false, "Space-separated scopes."), json!(crate::google::DEFAULT_SCOPE)),
        with_default(json!({
            "key": "prompts", "label": "Prompts", "type": "MultipleSelect", "required": false,
            "selectItems": [{"value": "none"}, {"value": "login"}, {"value": "consent"}, {"value": "select_account"}],
            "description": "OIDC prompt values. Default: consent (needed for Google to issue a refresh token again)."
        }), json!(["consent"])),
        with_default(item("offlineAccess", "Offline Access", "Switch", false,
            "Send access_type=offline so Google issues a refresh token."), json!(true)),
        with_default(item("authorizationEndpoint", "Authorization Endpoint", "Text", false, ""), json!(crate::google::AUTHORIZATION_ENDPOINT)),
        with_default(item("tokenEndpoint", "Token Endpoint", "Text", false, ""), json!(crate::google::TOKEN_ENDPOINT)),
        with_default(item("userInfoEndpoint", "Userinfo Endpoint", "Text", false, ""), json!(crate::google::USERINFO_ENDPOINT)),
        with_default(item("revocationEndpoint", "Revocation Endpoint", "Text", false, ""), json!(crate::google::REVOCATION_ENDPOINT)),
        with_default(item("issuer", "Issuer", "Text", false, "Checked against the callback's iss and the ID token."), json!(crate::google::ISSUER)),
    ]);
    google_items.extend(auth_method_items("client_secret_basic"));
    let mut facebook_items = client_items();
    facebook_items.extend([
        with_default(
            item(
                "scope",
                "Scope",
                "Text",
                false,
                "Comma- or space-separated permissions.",
            ),
            json!(crate::facebook::DEFAULT_SCOPE),
        ),
        with_default(
            item(
                "graphApiBaseUrl",
                "Graph API Base URL",
                "Text",
                false,
                "Including the API version.",
            ),
            json!(crate::facebook::DEFAULT_GRAPH_API_BASE_URL),
        ),
        with_default(
            item(
                "dialogBaseUrl",
                "Dialog Base URL",
                "Text",
                false,
                "Including the API version.",
            ),
            json!(crate::facebook::DEFAULT_DIALOG_BASE_URL),
        ),
    ]);
    let mut oauth2_items = vec![
        item(
            "authorizationEndpoint",
            "Authorization Endpoint",
            "Text",
            true,
            "",
        ),
        item("tokenEndpoint", "Token Endpoint", "Text", true, ""),
        item("userInfoEndpoint", "User Info Endpoint", "Text", true, ""),
    ];
    oauth2_items.extend(client_items());
    oauth2_items.extend(auth_method_items("client_secret_post"));
    oauth2_items.extend([
        with_default(json!({
            "key": "tokenEndpointResponseType", "label": "Token Endpoint Response Type", "type": "Select", "required": false,
            "selectItems": [{"title": "query-string", "value": "query-string"}, {"title": "json", "value": "json"}]
        }), json!("query-string")),
        item("scope", "Scope", "Text", false, "Space-separated scopes."),
        with_default(item("profileMap", "Profile Map", "Json", false,
            "Which userinfo keys hold id, email, name and avatar (dots reach into nested objects)."),
            json!({"id": "id", "email": "email", "name": "name", "avatar": "avatar"})),
        with_default(item("customConfig", "Custom Config", "Json", false,
            "Extra string parameters for the authorization and token requests."), json!({})),
        item("revocationEndpoint", "Revocation Endpoint", "Text", false, "RFC 7009 endpoint; without it tokens are not revoked."),
        item("issuer", "Issuer", "Text", false, "When set, a callback iss parameter must equal it (RFC 9207)."),
    ]);
    let mut oidc_items = client_items();
    oidc_items.extend([
        item("issuer", "Issuer", "Text", true, "Everything not set below is discovered from <issuer>/.well-known/openid-configuration."),
        with_default(item("scope", "Scope", "Text", false, "Space-separated; openid is always added."), json!(crate::oidc::DEFAULT_SCOPE)),
        item("authorizationEndpoint", "Authorization Endpoint", "Text", false, ""),
        item("tokenEndpoint", "Token Endpoint", "Text", false, ""),
        item("userInfoEndpoint", "Userinfo Endpoint", "Text", false, ""),
        item("jwksUri", "JWKS URI", "Text", false, ""),
        item("revocationEndpoint", "Revocation Endpoint", "Text", false, ""),
        item("idTokenVerificationConfig", "ID Token Verification Config", "Json", false,
            "Logto's {jwksUri, issuer, algorithms}; the top-level fields win."),
        item("authRequestOptionalConfig", "Authentication Request Optional Config", "Json", false,
            "responseMode, display, prompt, maxAge, uiLocales, idTokenHint, loginHint, acrValues."),
        with_default(item("customConfig", "Custom Config", "Json", false,
            "Extra string parameters for the authorization and token requests."), json!({})),
    ]);
    oidc_items.extend(auth_method_items("client_secret_basic"));

    vec![
        FactoryMetadata {
            id: "github",
            target: "github",
            connector_type: "Social",
            platform: Some("Universal"),
            name: en("GitHub"),
            description: en(
                "GitHub is an online community for software development and version control.",
            ),
            logo: github_logo,
            logo_dark: None,
            readme: "Create an OAuth app or a GitHub app; its callback URL is <endpoint>/callback/<connectorId>.",
            is_standard: false,
            is_token_storage_supported: true,
            config_template: Some(
                r#"{"clientId": "<client-id>", "clientSecret": "<client-secret>", "scope": "read:user user:email"}"#,
            ),
            form_items: Value::Array(github_items),
        },
        FactoryMetadata {
            id: "google",
            target: "google",
            connector_type: "Social",
            platform: Some("Universal"),
            name: en("Google"),
            description: en("Google is a worldwide search engine and e-mail service provider."),
            logo: google_logo,
            logo_dark: None,
            readme: "Create an OAuth client (web application) in the Google Cloud console; its redirect URI is <endpoint>/callback/<connectorId>.",
            is_standard: false,
            is_token_storage_supported: true,
            config_template: Some(
                r#"{"clientId": "<client-id>", "clientSecret": "<client-secret>", "scope": "openid profile email", "prompts": ["consent"]}"#,
            ),
            form_items: Value::Array(google_items),
        },
        FactoryMetadata {
            id: "facebook",
            target: "facebook",
            connector_type: "Social",
            platform: Some("Universal"),
            name: en("Facebook"),
            description: en("Facebook is a worldwide social media platform."),
            logo: facebook_logo,
            logo_dark: None,
            readme: "Create a Facebook app with Facebook Login; its valid OAuth redirect URI is <endpoint>/callback/<connectorId>. Facebook issues long-lived tokens and no refresh tokens.",
            is_standard: false,
            is_token_storage_supported: true,
            config_template: Some(
                r#"{"clientId": "<app-id>", "clientSecret": "<app-secret>", "scope": "email,public_profile"}"#,
            ),
            form_items: Value::Array(facebook_items),
        },
        FactoryMetadata {
            id: "oauth2",
            target: "oauth2",
            connector_type: "Social",
            platform: Some("Universal"),
            name: en("OAuth 2.0"),
            description: en(
                "The OAuth 2.0 authorization framework enables a third-party application to obtain limited access to an HTTP service.",
            ),
            logo: oauth2_logo,
            logo_dark: None,
            readme: "Any OAuth 2.0 provider with a userinfo endpoint.",
            is_standard: true,
            is_token_storage_supported: true,
            config_template: Some(
                r#"{"authorizationEndpoint": "<authorization-endpoint>", "tokenEndpoint": "<token-endpoint>", "userInfoEndpoint": "<userinfo-endpoint>", "clientId": "<client-id>", "clientSecret": "<client-secret>", "tokenEndpointResponseType": "json", "profileMap": {"id": "id", "email": "email", "name": "name", "avatar": "avatar"}}"#,
            ),
            form_items: Value::Array(oauth2_items),
        },
        FactoryMetadata {
            id: "oidc",
            target: "oidc",
            connector_type: "Social",
            platform: Some("Universal"),
            name: en("OIDC"),
            description: en(
                "OpenID Connect 1.0 is a simple identity layer on top of the OAuth 2.0 protocol.",
            ),
            logo: oidc_logo,
            logo_dark: None,
            readme: "Any OpenID provider: set issuer, clientId and clientSecret; the rest is discovered.",
            is_standard: true,
            is_token_storage_supported: true,
            config_template: Some(
                r#"{"issuer": "<issuer>", "clientId": "<client-id>", "clientSecret": "<client-secret>", "scope": "openid profile email offline_access"}"#,
            ),
            form_items: Value::Array(oidc_items),
        },
    ]
}
