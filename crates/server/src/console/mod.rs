//! The administrators' web console at `/console`: server-rendered pages that work without
//! JavaScript, embedded in the binary (templates compiled in by askama, the stylesheet by
//! `include_str!`).
//!
//! Every page but sign-in needs a console session (`sr_console` cookie: HttpOnly,
//! SameSite=Strict, `Path=/console`, Secure on an https endpoint). Every form carries the
//! session's CSRF token and every POST is refused without it, and when its `Origin` is not the
//! endpoint's. Handlers call the same core services as the Management API, so the console
//! shows the API's error codes and messages, and never a token value.

mod pages;
mod view;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use strongroom_core::admins::AdminSession;

use crate::AppState;
use crate::html::cookie;

/// The session cookie.
const SESSION_COOKIE: &str = "sr_console";
/// The sign-in form's double-submit cookie (login CSRF).
const LOGIN_COOKIE: &str = "sr_console_login";

pub fn router() -> Router<AppState> {
    use pages::*;
    Router::new()
        .route("/console", get(home))
        .route("/console/console.css", get(stylesheet))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/connectors", get(connectors))
        .route(
            "/console/connectors/new",
            get(new_connector).post(create_connector),
        )
        .route(
            "/console/connectors/{id}",
            get(edit_connector).post(save_connector),
        )
        .route(
            "/console/connectors/{id}/delete",
            get(confirm_delete_connector).post(delete_connector),
        )
        .route(
            "/console/sso-connectors/new",
            get(new_sso_connector).post(create_sso_connector),
        )
        .route(
            "/console/sso-connectors/{id}",
            get(edit_sso_connector).post(save_sso_connector),
        )
        .route(
            "/console/sso-connectors/{id}/delete",
            get(confirm_delete_sso_connector).post(delete_sso_connector),
        )
        .route("/console/users", get(users))
        .route("/console/users/{id}", get(user))
        .route(
            "/console/users/{id}/connections/{kind}/{key}",
            get(connection),
        )
        .route(
            "/console/users/{id}/connections/{kind}/{key}/delete-tokens",
            get(confirm_delete_tokens).post(delete_tokens),
        )
        .route(
            "/console/applications",
            get(applications).post(create_application),
        )
        .route(
            "/console/applications/{id}",
            get(application).post(save_application),
        )
        .route(
            "/console/applications/{id}/delete",
            get(confirm_delete_application).post(delete_application),
        )
        .route("/console/audit", get(audit))
        .layer(axum::middleware::map_response(security_headers))
}

/// No caching, no framing, no referrer to other sites (a same-origin one keeps the `Origin`
/// header of form posts meaningful: with none, Chromium sends `Origin: null`), and a policy that allows only the console's own
/// stylesheet and forms (no script at all).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// A refusal or failure page with its stable code.
fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    view::render_status(
        status,
        &view::MessagePage {
            chrome: None,
            title: "Request refused",
            message,
            code: Some(code),
        },
    )
}

/// An unexpected failure: logged with an id; the page carries only the id.
fn internal(error: &dyn std::fmt::Display) -> Response {
    let e = crate::ApiError::internal(error);
    refusal(e.status, e.code, &e.message)
}

async fn session_of(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<AdminSession>, Response> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    state
        .console_auth
        .session(token)
        .await
        .map_err(|e| internal(&e))
}

/// A signed-in administrator (pages). Without a session: a redirect to the sign-in page.
pub(crate) struct Admin(pub AdminSession);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match session_of(&parts.headers, state).await? {
            Some(session) => Ok(Self(session)),
            None => Err(Redirect::to("/console/sign-in").into_response()),
        }
    }
}

/// The fields of a submitted form, in order (a key may repeat: multiple selects).
#[derive(Default)]
pub(crate) struct Fields(Vec<(String, String)>);

/// Names only: values include passwords and client secrets.
impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Fields {
    /// The first value of `key`, trimmed; `None` when absent or empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The first value of `key` exactly as sent (passwords).
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn checked(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// A form posted by a signed-in administrator, with a valid CSRF token, from the console's
/// own origin. Anything else is refused (403) before the handler runs.
pub(crate) struct Posted {
    pub admin: AdminSession,
    pub fields: Fields,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let Some(admin) = session_of(req.headers(), state).await? else {
            return Err(refusal(
                StatusCode::FORBIDDEN,
                "console.session_required",
                "Sign in to the console first.",
            ));
        };
        check_origin(req.headers(), &state.endpoint)?;
        let fields = read_fields(req, state).await?;
        if !fields.get("csrf").is_some_and(|t| admin.csrf_matches(t)) {
            return Err(csrf_refusal());
        }
        Ok(Self { admin, fields })
    }
}

fn csrf_refusal() -> Response {
    refusal(
        StatusCode::FORBIDDEN,
        "console.csrf_mismatch",
        "This form is out of date or did not come from the console. Reload the page and try again.",
    )
}

async fn read_fields(req: Request, state: &AppState) -> Result<Fields, Response> {
    // A fixed message: the extractor's text could quote the body.
    let axum::Form(pairs) = axum::Form::<Vec<(String, String)>>::from_request(req, state)
        .await
        .map_err(|_| {
            refusal(
                StatusCode::BAD_REQUEST,
                "guard.invalid_input",
                "The form could not be read (an application/x-www-form-urlencoded body is expected).",
            )
        })?;
    Ok(Fields(pairs))
}

/// A browser names the page's origin on every POST; one that is not the endpoint's is a
/// cross-site request.
#[allow(clippy::result_large_err)] // the refusal is the response, as with axum's rejections
fn check_origin(headers: &HeaderMap, endpoint: &str) -> Result<(), Response> {
    match headers.get(header::ORIGIN).map(HeaderValue::to_str) {
        None => Ok(()),
        Some(Ok(origin)) if endpoint_origin(endpoint) == origin => Ok(()),
        Some(_) => Err(refusal(
            StatusCode::FORBIDDEN,
            "console.cross_origin",
            "Console forms may only be submitted from the console itself.",
        )),
    }
}

/// `scheme://host[:port]` of the endpoint.
fn endpoint_origin(endpoint: &str) -> &str {
    let after_scheme = endpoint.find("://").map_or(0, |i| i + 3);
    match endpoint[after_scheme..].find('/') {
        Some(i) => &endpoint[..after_scheme + i],
        None => endpoint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_origin_drops_the_path() {
        assert_eq!(
            endpoint_origin("https://id.example.com/base"),
            "https://id.example.com"
        );
        assert_eq!(
            endpoint_origin("http://127.0.0.1:3001"),
            "http://127.0.0.1:3001"
        );
    }

    #[test]
    fn fields_trim_and_skip_empty_values() {
        let f = Fields(vec![
            ("a".into(), "  x ".into()),
            ("b".into(), "  ".into()),
            ("m".into(), "1".into()),
            ("m".into(), "2".into()),
        ]);
        assert_eq!(f.get("a"), Some("x"));
        assert_eq!(f.raw("a"), Some("  x "));
        assert_eq!(f.get("b"), None);
        assert!(!f.checked("c"));
        assert_eq!(f.all("m").collect::<Vec<_>>(), ["1", "2"]);
    }

    #[test]
    fn fields_debug_shows_names_not_values() {
        let f = Fields(vec![("password".into(), "hunter2-secret".into())]);
        let text = format!("{f:?}");
        assert!(
            text.contains("password") && !text.contains("hunter2"),
            "{text}"
        );
    }
}
