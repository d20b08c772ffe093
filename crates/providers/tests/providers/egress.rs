//! Outbound-call safety: the egress policy refuses denied destinations (IP literals before any
//! connection, names after DNS resolution), the allow list re-admits a network, and every
//! failure of reaching or reading the provider has one public message.

use crate::support;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use strongroom_providers::{
    Connector, EgressPolicy, Http, IpNetwork, ProviderError, Providers, SocialConnector,
    SsoOidcConnector,
};
use support::jwt::{KEY_1, now};
use support::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

fn networks(list: &str) -> Vec<IpNetwork> {
    IpNetwork::parse_list(list).expect("valid networks")
}

fn providers_with(policy: EgressPolicy) -> Providers {
    Providers::new(Http::with_egress(Duration::from_secs(5), policy).expect("HTTP client"))
}

/// Loopback denied (both families), as an operator who wants no internal calls would set it.
fn no_loopback() -> EgressPolicy {
    EgressPolicy::default().deny(networks("127.0.0.0/8, ::1"))
}

fn sso(issuer: &str) -> SsoOidcConnector {
    SsoOidcConnector::from_config(&json!({
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "issuer": issuer,
    }))
    .expect("valid SSO config")
}

fn discovery_doc(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
    })
}

/// The log lines written while `f` runs on this thread (the tests run on a current-thread
/// runtime, so every task of the call logs here).
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        (Logs(buffer), tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A TCP listener on 127.0.0.1 that counts the connections it accepts (and closes them).
async fn counting_listener() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (addr, count)
}

#[tokio::test]
async fn literal_metadata_address_is_refused_for_discovery_jwks_and_token_calls() {
    let (logs, _guard) = Logs::capture();
    // A generous timeout: a refusal must come at once, not after a connection attempt.
    let providers = Providers::new(Http::new(Duration::from_secs(30)).expect("HTTP client"));

    // Discovery, with the metadata address in every spelling the URL parser accepts.
    for issuer in [
        "http://169.254.169.254",
        "http://169.254.169.254:80/latest/meta-data",
        "http://2852039166",
        "http://0xa9.0xfe.0xa9.0xfe",
        "http://0251.0376.0251.0376",
        "http://[::ffff:169.254.169.254]",
        "http://[::ffff:a9fe:a9fe]",
        "http://[::169.254.169.254]",
        "http://[64:ff9b::a9fe:a9fe]",
        "http://[fd00:ec2::254]",
        "http://[fe80::1]:8080",
        "http://100.100.100.200",
        "http://168.63.129.16",
        "http://0.0.0.0:9",
        "http://[::]:9",
    ] {
        let started = Instant::now();
        let e = expect_err(providers.sso_provider_config(&sso(issuer)).await);
        assert_eq!(e, ProviderError::Unavailable { status: 0 }, "{issuer}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{issuer}: the refusal took {:?}",
            started.elapsed()
        );
    }
    let log = logs.text();
    assert!(
        log.contains("refused by the egress policy")
            && log.contains("169.254.169.254 is in the denied network 169.254.0.0/16")
            && log.contains(
                "::ffff:169.254.169.254 (checked as 169.254.169.254) is in the denied network 169.254.0.0/16"
            )
            && log.contains("fd00:ec2::254 is in the denied network fd00:ec2::254/128"),
        "{log}"
    );

    // JWKS: the provider is reachable, its key set is configured on the metadata address.
    let server = MockServer::start().await;
    let claims = json!({
        "iss": server.uri(), "sub": "248289761001", "aud": CLIENT_ID,
        "exp": now() + 300, "iat": now(), "nonce": NONCE,
    });
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600,
            "id_token": KEY_1.sign(&claims),
        })))
        .expect(1)
        .mount(&server)
        .await;
    let oidc = Connector::from(
        SocialConnector::from_config(
            "oidc",
            &json!({
                "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "issuer": server.uri(),
                "authorizationEndpoint": format!("{}/auth", server.uri()),
                "tokenEndpoint": format!("{}/token", server.uri()),
                "jwksUri": "http://169.254.169.254/jwks",
            }),
        )
        .expect("valid OIDC config"),
    );
    let e = expect_err(providers.exchange(&oidc, &callback(None)).await);
    assert_eq!(e, ProviderError::Unavailable { status: 0 });
    assert!(
        logs.text().contains("the OpenID provider's JWKS endpoint"),
        "{}",
        logs.text()
    );

    // Token: a refresh at a token endpoint on the metadata address, with a secret in its
    // query (as Facebook's token URLs have): refused, and the query is not logged.
    let oauth2 = Connector::from(
        SocialConnector::from_config(
            "oauth2",
            &json!({
                "authorizationEndpoint": "https://oauth.example/authorize",
                "tokenEndpoint": "http://169.254.169.254/token?key=qs-PLANTED-query-secret",
                "userInfoEndpoint": "https://oauth.example/me",
                "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET,
            }),
        )
        .expect("valid OAuth 2.0 config"),
    );
    let e = expect_err(providers.refresh(&oauth2, &secret(REFRESH_TOKEN)).await);
    assert_eq!(e, ProviderError::Unavailable { status: 0 });
    let log = logs.text();
    assert!(log.contains("token endpoint"), "{log}");
    assert_clean("log", &log);
    assert!(!log.contains("key="), "{log}");
}

#[tokio::test]
async fn denied_literal_address_gets_no_connection_attempt() {
    let (addr, accepted) = counting_listener().await;
    let port = addr.port();
    let denying = providers_with(no_loopback());
    for issuer in [
        format!("http://127.0.0.1:{port}"),
        format!("http://127.1.2.3:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
        format!("http://[::1]:{port}"),
    ] {
        let e = expect_err(denying.sso_provider_config(&sso(&issuer)).await);
        assert_eq!(e, ProviderError::Unavailable { status: 0 }, "{issuer}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "a connection was made");

    // The control: with the default policy the same listener is reached.
    let e = expect_err(
        providers()
            .sso_provider_config(&sso(&format!("http://127.0.0.1:{port}")))
            .await,
    );
    assert_eq!(
        e,
        ProviderError::Unavailable { status: 0 },
        "closed at once"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn name_resolving_to_a_denied_address_is_refused() {
    let server = MockServer::start().await;
    // The server listens on 127.0.0.1; `localhost` makes the client resolve a name.
    let issuer = format!("http://localhost:{}", server.address().port());
    Mock::given(method("GET"))
        .and(path(DISCOVERY_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(discovery_doc(&issuer)))
        .mount(&server)
        .await;

    let (logs, _guard) = Logs::capture();
    let e = expect_err(
        providers_with(no_loopback())
            .sso_provider_config(&sso(&issuer))
            .await,
    );
    assert_eq!(e, ProviderError::Unavailable { status: 0 });
    assert!(
        requests_to(&server, DISCOVERY_PATH).await.is_empty(),
        "the denied server was contacted"
    );
    let log = logs.text();
    assert!(
        log.contains("refused by the egress policy")
            && log.contains("localhost resolves to ")
            && log.contains("127.0.0.1 is in the denied network 127.0.0.0/8"),
        "{log}"
    );

    // The same server, by the same name, with the default policy.
    let config = expect_ok(providers().sso_provider_config(&sso(&issuer)).await);
    assert_eq!(config["tokenEndpoint"], format!("{issuer}/token"));
    assert_eq!(requests_to(&server, DISCOVERY_PATH).await.len(), 1);
}

/// A discovery endpoint on 127.0.0.1 for the issuer `http://<host>:<port>`.
async fn op_reached_as(host: &str) -> (MockServer, String) {
    let server = MockServer::start().await;
    let issuer = format!("http://{host}:{}", server.address().port());
    Mock::given(method("GET"))
        .and(path(DISCOVERY_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(discovery_doc(&issuer)))
        .mount(&server)
        .await;
    (server, issuer)
}

#[tokio::test]
async fn allow_list_readmits_a_denied_network() {
    let denying = providers_with(no_loopback());
    let allowing = providers_with(no_loopback().allow(networks("127.0.0.1/32")));
    for host in ["localhost", "127.0.0.1"] {
        let (server, issuer) = op_reached_as(host).await;
        let e = expect_err(denying.sso_provider_config(&sso(&issuer)).await);
        assert_eq!(e, ProviderError::Unavailable { status: 0 }, "{issuer}");
        assert!(requests_to(&server, DISCOVERY_PATH).await.is_empty());

        let config = expect_ok(allowing.sso_provider_config(&sso(&issuer)).await);
        assert_eq!(config["issuer"], issuer.as_str());
        assert_eq!(requests_to(&server, DISCOVERY_PATH).await.len(), 1);
    }

    // Only the allowed network: 127.0.0.2 is still refused.
    let (addr, accepted) = counting_listener().await;
    let e = expect_err(
        allowing
            .sso_provider_config(&sso(&format!("http://127.0.0.2:{}", addr.port())))
            .await,
    );
    assert_eq!(e, ProviderError::Unavailable { status: 0 });
    assert_eq!(accepted.load(Ordering::SeqCst), 0);

    // And the default deny list gives way the same: the metadata network, allowed.
    let policy = EgressPolicy::default().allow(networks("169.254.0.0/16"));
    assert_eq!(policy.check("169.254.169.254".parse().expect("IP")), Ok(()));
}

#[tokio::test]
async fn every_failure_to_reach_or_read_the_provider_has_one_public_message() {
    let mut errors: Vec<(&str, ProviderError)> = Vec::new();

    let closed = closed_port_url();
    errors.push((
        "closed port",
        expect_err(providers().sso_provider_config(&sso(&closed)).await),
    ));

    errors.push((
        "denied address",
        expect_err(
            providers()
                .sso_provider_config(&sso("http://169.254.169.254"))
                .await,
        ),
    ));

    let listening = MockServer::start().await;
    let name = format!("http://localhost:{}", listening.address().port());
    errors.push((
        "name resolving to a denied address",
        expect_err(
            providers_with(no_loopback())
                .sso_provider_config(&sso(&name))
                .await,
        ),
    ));

    let answers: [(&str, ResponseTemplate); 7] = [
        ("non-JSON answer", html_page()),
        (
            "redirect",
            ResponseTemplate::new(302).insert_header("Location", "http://169.254.169.254/"),
        ),
        ("server error", ResponseTemplate::new(503)),
        ("not found", ResponseTemplate::new(404)),
        ("unauthorized", ResponseTemplate::new(401)),
        (
            "oversized body",
            ResponseTemplate::new(200)
                .set_body_raw(vec![b' '; 2 * 1024 * 1024], "application/json"),
        ),
        (
            "wrong issuer",
            ResponseTemplate::new(200).set_body_json(discovery_doc("https://other.example")),
        ),
    ];
    for (case, answer) in answers {
        let server = MockServer::start().await;
        Mock::given(path(DISCOVERY_PATH))
            .respond_with(answer)
            .mount(&server)
            .await;
        errors.push((
            case,
            expect_err(providers().sso_provider_config(&sso(&server.uri())).await),
        ));
    }

    let slow = MockServer::start().await;
    Mock::given(path(DISCOVERY_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(discovery_doc(&slow.uri()))
                .set_delay(SLOW),
        )
        .mount(&slow)
        .await;
    errors.push((
        "timeout",
        expect_err(
            impatient_providers()
                .sso_provider_config(&sso(&slow.uri()))
                .await,
        ),
    ));

    for (case, e) in &errors {
        assert_eq!(
            e.public_message(),
            ProviderError::UNREACHABLE_MESSAGE,
            "{case}: {e:?}"
        );
        assert!(e.is_unreachable(), "{case}: {e:?}");
    }
    // The three "nothing answered" cases are the same error, not only the same message.
    for (case, e) in &errors[..3] {
        assert_eq!(*e, ProviderError::Unavailable { status: 0 }, "{case}");
    }
    // The detail stays in `Display`, for the logs.
    let details: BTreeSet<String> = errors.iter().map(|(_, e)| e.to_string()).collect();
    assert!(details.len() >= 5, "{details:?}");
    assert!(
        details.iter().any(|d| d.contains("redirect")),
        "{details:?}"
    );
}

/// The egress checks live in `Http::fetch`: no other code of the crate may send a request.
#[test]
fn requests_are_sent_only_by_http_fetch() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut senders = Vec::new();
    for entry in std::fs::read_dir(&src).expect("src") {
        let file = entry.expect("entry").path();
        let text = std::fs::read_to_string(&file).expect("source");
        for needle in [
            ".send()",
            ".execute(",
            "reqwest::Client::new",
            "Client::builder",
        ] {
            for _ in text.matches(needle) {
                senders.push(format!(
                    "{} {needle}",
                    file.file_name().expect("name").to_string_lossy()
                ));
            }
        }
    }
    senders.sort();
    assert_eq!(
        senders,
        ["http.rs .execute(", "http.rs Client::builder"],
        "requests must go through Http::fetch"
    );
}
