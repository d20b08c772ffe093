//! Shared helpers for the black-box tests of `strongroom-providers`: planted secrets, request
//! values, a few wiremock helpers and JWT crafting.
//!
//! Every secret a test hands to the crate (client secret, code, verifier, tokens) contains the
//! marker `PLANTED`, so one check proves that none of them leaked into an error text or a
//! `Debug` output.

pub mod jwt;

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::LazyLock;
use std::time::Duration;

use secrecy::SecretString;
use strongroom_providers::{AuthorizationRequest, Callback, Http, ProviderError, Providers};
use url::Url;
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const CLIENT_ID: &str = "client-id-4711";
pub const CLIENT_SECRET: &str = "cs-PLANTED-client-secret-0a1b";
pub const CODE: &str = "code-PLANTED-authz-code-2c3d";
pub const VERIFIER: &str = "cv-PLANTED-pkce-verifier-4e5f-000000000000000000000";
pub const ACCESS_TOKEN: &str = "at-PLANTED-access-token-6a7b";
pub const ACCESS_TOKEN_2: &str = "at-PLANTED-second-access-token-99ee";
pub const REFRESH_TOKEN: &str = "rt-PLANTED-refresh-token-8c9d";
pub const REFRESH_TOKEN_2: &str = "rt-PLANTED-rotated-refresh-token-77ff";
pub const MARKER: &str = "PLANTED";

pub const STATE: &str = "state-Zx81kQ";
pub const NONCE: &str = "nonce-Qw93mB";
/// RFC 7636 appendix B's challenge.
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const REDIRECT_URI: &str = "https://strongroom.example/callback/conn_1";

pub static VERIFIER_SECRET: LazyLock<SecretString> = LazyLock::new(|| SecretString::from(VERIFIER));

pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// A client with a comfortable timeout.
pub fn providers() -> Providers {
    Providers::new(Http::new(Duration::from_secs(5)).expect("HTTP client"))
}

/// A monotonic clock that only moves when told to, for [`Providers::with_clock`].
#[derive(Clone)]
pub struct ManualNow {
    start: std::time::Instant,
    offset_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl ManualNow {
    pub fn new() -> Self {
        Self {
            start: std::time::Instant::now(),
            offset_ms: std::sync::Arc::default(),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(
            u64::try_from(by.as_millis()).expect("a test duration"),
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    /// Providers whose caches age on this clock.
    pub fn providers(&self) -> Providers {
        let this = self.clone();
        Providers::with_clock(
            Http::new(Duration::from_secs(5)).expect("HTTP client"),
            std::sync::Arc::new(move || {
                this.start
                    + Duration::from_millis(
                        this.offset_ms.load(std::sync::atomic::Ordering::SeqCst),
                    )
            }),
        )
    }
}

/// A client whose calls time out after 300 ms.
pub fn impatient_providers() -> Providers {
    Providers::new(Http::new(Duration::from_millis(300)).expect("HTTP client"))
}

/// Longer than [`impatient_providers`]' timeout.
pub const SLOW: Duration = Duration::from_millis(2500);

pub fn auth_request() -> AuthorizationRequest<'static> {
    AuthorizationRequest {
        state: STATE,
        redirect_uri: REDIRECT_URI,
        nonce: NONCE,
        code_challenge: CHALLENGE,
        scope: None,
        login_hint: None,
    }
}

pub fn callback(iss: Option<&str>) -> Callback<'_> {
    Callback {
        code: CODE,
        iss,
        redirect_uri: REDIRECT_URI,
        code_verifier: &VERIFIER_SECRET,
        nonce: NONCE,
    }
}

/// Asserts that none of the planted secrets appears in `text`.
pub fn assert_clean(what: &str, text: &str) {
    for s in [
        CLIENT_SECRET,
        CODE,
        VERIFIER,
        ACCESS_TOKEN,
        ACCESS_TOKEN_2,
        REFRESH_TOKEN,
        REFRESH_TOKEN_2,
    ] {
        assert!(!text.contains(s), "{what} leaks {s:?}: {text}");
    }
    assert!(
        !text.contains(MARKER),
        "{what} leaks a planted secret: {text}"
    );
}

/// Asserts `Debug` of `value` contains no planted secret.
pub fn assert_debug_clean(what: &str, value: &impl Debug) {
    assert_clean(what, &format!("{value:?}"));
    assert_clean(what, &format!("{value:#?}"));
}

/// The error of a call that must fail; its `Display` and `Debug` must be free of secrets.
#[track_caller]
pub fn expect_err<T: Debug>(result: Result<T, ProviderError>) -> ProviderError {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(e) => {
            assert_clean("error Display", &e.to_string());
            assert_debug_clean("error Debug", &e);
            e
        }
    }
}

/// Unwraps a call that must succeed, printing the error otherwise.
#[track_caller]
pub fn expect_ok<T>(result: Result<T, ProviderError>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("expected success, got {e:?} ({e})"),
    }
}

pub fn query_map(url: &Url) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (k, v) in url.query_pairs() {
        assert!(
            map.insert(k.clone().into_owned(), v.into_owned()).is_none(),
            "parameter {k} appears twice in {url}"
        );
    }
    map
}

pub fn form_of(request: &Request) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(&request.body) {
        assert!(
            map.insert(k.clone().into_owned(), v.into_owned()).is_none(),
            "form field {k} appears twice"
        );
    }
    map
}

pub fn header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The requests the server received on `p`.
pub async fn requests_to(server: &MockServer, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

pub const REDIRECT_TARGET: &str = "/redirect-target";

/// `http_method endpoint` answers 302 to `/redirect-target`, which must never be contacted
/// (it would answer with a usable token).
pub async fn mount_redirect(server: &MockServer, http_method: &str, endpoint: &str) {
    Mock::given(method(http_method))
        .and(path(endpoint))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("{}{REDIRECT_TARGET}", server.uri())),
        )
        .expect(1)
        .named("endpoint answering with a redirect")
        .mount(server)
        .await;
    Mock::given(any())
        .and(path(REDIRECT_TARGET))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "at-from-the-redirect-target",
            "token_type": "bearer",
        })))
        .expect(0)
        .named("redirect target (must not be contacted)")
        .mount(server)
        .await;
}

/// The statuses that mean "try again later".
pub const UNAVAILABLE_STATUSES: [u16; 3] = [500, 503, 429];

/// A loopback URL nothing listens on.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// An HTML page, as a captive portal or a misconfigured proxy would answer.
pub fn html_page() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Oops</body></html>",
        "text/html",
    )
}
