//! Server-rendered pages (they work without JavaScript) and cookies.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;\
background:#f4f5f7;color:#1b1f24}main{max-width:26rem;margin:3rem auto;padding:2rem 1.5rem;background:#fff;\
border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.12)}h1{font-size:1.35rem;margin:0 0 .25rem}\
p.sub{margin:0 0 1.5rem;color:#4a5360}form{margin:0 0 .75rem}button{width:100%;display:flex;align-items:center;\
justify-content:center;gap:.6rem;padding:.7rem 1rem;font:inherit;border:1px solid #c3c9d1;border-radius:8px;\
background:#fff;color:#1b1f24;cursor:pointer}button:hover,button:focus{border-color:#3451b2;outline:2px solid #3451b2;\
outline-offset:1px}button.primary{background:#3451b2;border-color:#3451b2;color:#fff}img{width:22px;height:22px}\
label{display:block;font-weight:600;margin:1.25rem 0 .35rem}input{width:100%;padding:.65rem .75rem;font:inherit;\
border:1px solid #8a939e;border-radius:8px;margin-bottom:.75rem}.divider{text-align:center;color:#4a5360;margin:1.25rem 0 0}\
.error{padding:.75rem 1rem;border-radius:8px;background:#fdecec;color:#8a1c1c;margin:0 0 1rem}\
code{font-size:.9em;background:#eef0f3;padding:.1rem .3rem;border-radius:4px}\
@media (max-width:30rem){main{margin:0;border-radius:0;min-height:100vh;box-shadow:none}}";

/// `sha256-<base64>` of the pages' inline stylesheet, for their content security policy.
pub fn style_hash() -> String {
    use base64::Engine as _;
    let digest = strongroom_core::crypto::sha256(STYLE.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// A whole page around `body`.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Strongroom</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        title = escape(title),
    )
}

/// An error page: the stable code and a message, never a token or secret.
pub fn error_page(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<h1>Sign-in failed</h1><p class=\"error\" role=\"alert\">{}</p><p>Error code: <code>{}</code></p>\
         <p>Go back to the application and start the sign-in again.</p>",
        escape(message),
        escape(code)
    );
    let mut response = (status, Html(page("Sign-in failed", &body))).into_response();
    no_store(&mut response);
    response
}

/// A page refusing a request the browser sent (an unreadable query or form): the stable code
/// and a message.
pub fn problem_page(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<h1>Request refused</h1><p class=\"error\" role=\"alert\">{}</p><p>Error code: <code>{}</code></p>",
        escape(message),
        escape(code)
    );
    let mut response = (status, Html(page("Request refused", &body))).into_response();
    no_store(&mut response);
    response
}

/// Marks a response uncacheable.
pub fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The value of cookie `name` in a request.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax (the provider's redirect back is a top-level
/// GET, so the cookie comes along), Secure when the endpoint is https.
pub fn set_cookie(name: &str, value: &str, max_age_secs: Option<i64>, secure: bool) -> HeaderValue {
    build_cookie(name, value, "/", "Lax", max_age_secs, secure)
}

/// A `Set-Cookie` value for `path` only: HttpOnly, SameSite=Strict (never sent on a request
/// another site starts), Secure when the endpoint is https.
pub fn cookie_header(
    name: &str,
    value: &str,
    path: &str,
    max_age_secs: Option<i64>,
    secure: bool,
) -> HeaderValue {
    build_cookie(name, value, path, "Strict", max_age_secs, secure)
}

fn build_cookie(
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age_secs: Option<i64>,
    secure: bool,
) -> HeaderValue {
    let mut text = format!("{name}={value}; Path={path}; HttpOnly; SameSite={same_site}");
    if let Some(age) = max_age_secs {
        text.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}
