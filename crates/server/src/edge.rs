//! What every request goes through before a handler: a request id and a log span, the refusal
//! of U+0000 anywhere in the path, query or body (PostgreSQL cannot store it, and no identifier,
//! name or token contains it), the body size limit, and the security headers of every answer.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;

use crate::error::ApiError;

/// The largest request body read (axum's default limit, which the extractors apply too).
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Gives the request an id (answered as `X-Request-Id`) and runs it in an INFO span carrying
/// the method, the path (never the query: it holds codes and states) and the id, so every log
/// line of the request, at the default level, says which request it belongs to.
pub async fn request_context(request: Request, next: Next) -> Response {
    let id = strongroom_core::store::new_id();
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %id,
    );
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Refuses U+0000 in the path, the query, a form or a JSON body with 400 `guard.invalid_input`
/// (at the token endpoint, RFC 6749 `invalid_request`), and a body over [`MAX_BODY`] with 413.
pub async fn guard(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let raw = request.uri().path_and_query().map_or("", |pq| pq.as_str());
    if raw.contains("%00") {
        return refuse(&path, ApiError::invalid_input(NUL_MESSAGE));
    }
    let kind = body_kind(&request);
    if kind == BodyKind::Other {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match read_body(body).await {
        Ok(bytes) => bytes,
        Err(e) => return refuse(&path, e),
    };
    let has_nul = match kind {
        BodyKind::Form => bytes.contains(&0) || contains_ascii(&bytes, b"%00"),
        BodyKind::Json => json_has_nul(&bytes),
        BodyKind::Other => false,
    };
    if has_nul {
        return refuse(&path, ApiError::invalid_input(NUL_MESSAGE));
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

const NUL_MESSAGE: &str = "The request contains a NUL character (U+0000), which no field accepts.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Form,
    Json,
    Other,
}

fn body_kind(request: &Request) -> BodyKind {
    let essence = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if essence == "application/x-www-form-urlencoded" {
        BodyKind::Form
    } else if essence == "application/json" || essence.ends_with("+json") {
        BodyKind::Json
    } else {
        BodyKind::Other
    }
}

/// The whole body, at most [`MAX_BODY`] bytes: 413 beyond, 408 when it does not arrive in time.
async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        let text = std::error::Error::source(&e)
            .map(ToString::to_string)
            .unwrap_or_else(|| e.to_string());
        if text.contains("length limit") {
            ApiError::too_large()
        } else if text.to_ascii_lowercase().contains("timed out") || text.contains("deadline") {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "guard.request_timeout",
                "The request body did not arrive in time.",
            )
        } else {
            ApiError::invalid_input("The request body cannot be read.")
        }
    })
}

fn contains_ascii(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Any path no route serves: 404 `route.not_found` as `{code, message}` (an HTML page on the
/// browser's paths), instead of an empty body.
pub async fn not_found(request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let e = ApiError::not_found(
        "route.not_found",
        format!(
            "No route serves {} {}.",
            request.method(),
            path.chars().take(200).collect::<String>()
        ),
    );
    refuse(&path, e)
}

/// Whether a JSON text holds U+0000: a raw NUL byte, or a `\u0000` escape (a backslash in JSON
/// only appears inside strings, and `\\` escapes the next character, so escapes are read in
/// pairs).
fn json_has_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0 => return true,
            b'\\' => {
                if bytes.get(i + 1) == Some(&b'u')
                    && bytes.get(i + 2..i + 6) == Some(b"0000".as_slice())
                {
                    return true;
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    false
}

/// Whether the path is one a browser navigates to (answered with HTML pages). Takes request
/// paths and the document's path templates alike.
pub fn is_page(path: &str) -> bool {
    path == "/oidc/auth"
        || path.starts_with("/oidc/session/")
        || path.starts_with("/sign-in/")
        || path.starts_with("/callback/")
        || path.starts_with("/consent/")
        || path == "/console"
        || path.starts_with("/console/")
}

/// Whether a path answers errors in RFC 6749's form (the token, revocation and introspection
/// endpoints).
pub fn speaks_oauth(path: &str) -> bool {
    path == "/oidc/token" || path.starts_with("/oidc/token/")
}

/// The refusal in the form the route speaks.
fn refuse(path: &str, e: ApiError) -> Response {
    if speaks_oauth(path) {
        let mut response = (
            if e.status == StatusCode::BAD_REQUEST {
                StatusCode::BAD_REQUEST
            } else {
                e.status
            },
            crate::oidc::oauth_body("invalid_request", &e.message),
        )
            .into_response();
        crate::html::no_store(&mut response);
        response
    } else if is_page(path) {
        crate::html::problem_page(e.status, e.code, &e.message)
    } else {
        e.into_response()
    }
}

/// Whether a path is one of the APIs browser applications (SPA) call with a bearer token or
/// PKCE: discovery, JWKS, token, revocation, userinfo, the Account and Verification APIs.
fn is_browser_api(path: &str) -> bool {
    path.starts_with("/oidc/.well-known/")
        || path.starts_with("/.well-known/")
        || matches!(
            path,
            "/oidc/jwks" | "/oidc/token" | "/oidc/token/revocation" | "/oidc/me"
        )
        || path == "/api/my-account"
        || path.starts_with("/api/my-account/")
        || path == "/my-account"
        || path.starts_with("/my-account/")
        || path.starts_with("/api/verification")
}

/// CORS for the browser APIs: only the origins of applications' redirect URIs and their
/// `customClientMetadata.corsAllowedOrigins` (as Logto), never credentials (no cookie is sent
/// or needed). Other paths and origins get no CORS headers.
pub fn cors(state: crate::AppState) -> tower_http::cors::CorsLayer {
    use axum::http::Method;
    let allow = tower_http::cors::AllowOrigin::async_predicate(
        move |origin: HeaderValue, parts: &axum::http::request::Parts| {
            let (state, path) = (state.clone(), parts.uri.path().to_owned());
            async move {
                let Ok(origin) = origin.to_str() else {
                    return false;
                };
                is_browser_api(&path)
                    && state
                        .applications
                        .allows_origin(origin)
                        .await
                        .unwrap_or_else(|e| {
                            tracing::warn!(error = %e, "cannot read the applications' origins");
                            false
                        })
            }
        },
    );
    tower_http::cors::CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static(crate::extract::PURPOSE_HEADER),
        ])
        .expose_headers([header::WWW_AUTHENTICATE])
        .max_age(std::time::Duration::from_secs(600))
}

/// The content security policy of Strongroom's own HTML pages (sign-in, errors, consent,
/// logout): nothing but their inline stylesheet (by hash), images over https (connector logos),
/// no script, no framing. Forms may post to the provider a sign-in redirects to, so
/// `form-action` is left open.
fn page_policy() -> &'static str {
    static POLICY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    POLICY.get_or_init(|| {
        format!(
            "default-src 'none'; style-src '{}'; img-src https: data:; frame-ancestors 'none'; base-uri 'none'",
            crate::html::style_hash()
        )
    })
}

/// `X-Content-Type-Options: nosniff` on every answer; on HTML answers that set no policy of
/// their own (the console sets its own), the page policy, `X-Frame-Options: DENY` and
/// `Referrer-Policy: no-referrer`.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        if let Ok(policy) = HeaderValue::from_str(page_policy()) {
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers
            .entry(header::REFERRER_POLICY)
            .or_insert(HeaderValue::from_static("no-referrer"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_in_json_is_found_however_it_is_written() {
        assert!(json_has_nul(br#"{"name":"a\u0000b"}"#));
        assert!(json_has_nul(b"{\"name\":\"a\0b\"}"));
        assert!(json_has_nul(br#"{"a\u0000":1}"#));
        // An escaped backslash followed by the text u0000 is no NUL.
        assert!(!json_has_nul(br#"{"name":"a\\u0000b"}"#));
        assert!(json_has_nul(br#"{"name":"a\\\u0000b"}"#));
        assert!(!json_has_nul(br#"{"name":"\u0041"}"#));
        assert!(!json_has_nul(br#"{"ok":"\n\t\"x\""}"#));
    }
}
