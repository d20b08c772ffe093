//! A real Strongroom application on a free port, with its own database.

pub mod vault;
pub mod world;

pub use strongroom_testkit::{browser, upstream};

use std::sync::Arc;

use strongroom_core::applications::NewApplication;
use strongroom_core::providers::{Http, Providers};
use strongroom_core::store::{ApplicationRow, NewUser, Store, UserId};
use strongroom_core::token_access::RefreshOptions;
use strongroom_core::{Clock, ExposeSecret, SystemClock};
use strongroom_server::{AppState, Application};
use strongroom_testkit::TestDb;
use strongroom_vault::{Kek, Keyring};

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub http: reqwest::Client,
    _db: TestDb,
}

/// A user's tokens from [`TestApp::user_tokens`].
pub struct UserTokens {
    pub access: String,
    /// The application they were issued to, and its client secret.
    pub client: ApplicationRow,
    pub secret: String,
}

/// Another server process on a [`TestApp`]'s database.
pub struct Sibling {
    pub base: String,
}

/// How a [`TestApp`] runs.
pub struct Options {
    pub clock: Arc<dyn Clock>,
    /// Each provider call's timeout.
    pub provider_timeout: std::time::Duration,
    /// Refresh this long before expiry.
    pub skew_secs: i64,
    /// Connection limits, timeouts, trusted proxies.
    pub network: strongroom_server::Network,
    /// `STRONGROOM_METRICS_TOKEN`.
    pub metrics_token: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            provider_timeout: std::time::Duration::from_secs(5),
            skew_secs: 60,
            network: strongroom_server::Network::default(),
            metrics_token: None,
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        let (db, store) = TestDb::migrated().await;
        let keyring = Arc::new(Keyring::new(Kek::generate().expect("kek"), vec![]));
        // As `strongroom serve` does before it serves.
        strongroom_core::keys::verify_and_register(&store, &keyring, options.clock.as_ref())
            .await
            .expect("key check");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}");
        let providers = Providers::new(Http::new(options.provider_timeout).expect("http"));
        let refresh = RefreshOptions::new(
            options.skew_secs,
            options.provider_timeout * 2 + std::time::Duration::from_secs(1),
        );
        let state = AppState::new(
            store,
            keyring,
            options.clock,
            providers,
            refresh,
            base.clone(),
            options.network,
        )
        .await
        .expect("state")
        .with_metrics_token(
            options
                .metrics_token
                .map(strongroom_core::SecretString::from),
        );
        let app = Application::from_listener(listener, state.clone());
        tokio::spawn(app.run_until(std::future::pending()));
        let http = strongroom_testkit::http_no_redirects()
            .build()
            .expect("client");
        Self {
            base,
            state,
            http,
            _db: db,
        }
    }

    /// A second server process on the same database, keys and public endpoint (its own
    /// caches and port).
    pub async fn sibling(&self) -> Sibling {
        let store = Store::connect(&self._db.url).await.expect("connect");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = AppState::new(
            store,
            self.state.keyring.clone(),
            Arc::new(SystemClock),
            Providers::new(Http::new(std::time::Duration::from_secs(5)).expect("http")),
            RefreshOptions::new(60, std::time::Duration::from_secs(11)),
            self.base.clone(),
            strongroom_server::Network::default(),
        )
        .await
        .expect("state");
        let app = Application::from_listener(listener, state);
        tokio::spawn(app.run_until(std::future::pending()));
        Sibling {
            base: format!("http://{addr}"),
        }
    }

    pub fn db(&self) -> &TestDb {
        &self._db
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates an application directly through the service; returns it with its secret.
    pub async fn application(
        &self,
        app_type: &str,
        redirect_uris: &[&str],
    ) -> (ApplicationRow, Option<String>) {
        let (row, secret) = self
            .state
            .applications
            .create(NewApplication {
                name: format!("{app_type} app"),
                app_type: app_type.into(),
                oidc_client_metadata: Some(strongroom_core::applications::ClientMetadata {
                    redirect_uris: redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
                    post_logout_redirect_uris: vec![],
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .expect("create application");
        (row, secret.map(|s| s.expose_secret().to_owned()))
    }

    /// A Management API access token from a fresh machine-to-machine application.
    pub async fn management_token(&self) -> String {
        let (app, secret) = self.application("MachineToMachine", &[]).await;
        let response = self
            .http
            .post(self.url("/oidc/token"))
            .basic_auth(app.id.as_str(), secret.as_deref())
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", &self.url("/api")),
                ("scope", "all"),
            ])
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.expect("json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub async fn user(&self, name: &str) -> UserId {
        let id = UserId::generate();
        self.store()
            .insert_user(
                &id,
                &NewUser {
                    username: Some(name.into()),
                    primary_email: Some(format!("{name}@example.com")),
                    name: Some(name.into()),
                    ..Default::default()
                },
                0,
            )
            .await
            .expect("user");
        id
    }

    /// An access token of Strongroom's OpenID provider for `user` with `scope`, minted through
    /// a real authorization code exchange (the sign-in itself is tested elsewhere).
    pub async fn user_token(&self, user: &UserId, scope: &str) -> String {
        self.user_tokens(user, scope).await.access
    }

    /// The tokens of [`TestApp::user_token`], with the Traditional application they were
    /// issued to and its secret.
    pub async fn user_tokens(&self, user: &UserId, scope: &str) -> UserTokens {
        let redirect = "https://app.example/cb";
        let (client, secret) = self.application("Traditional", &[redirect]).await;
        let (verifier, challenge) = pkce();
        let code = self
            .state
            .oidc
            .issue_code(&strongroom_core::oidc::CodeRequest {
                application_id: client.id.clone(),
                user_id: user.clone(),
                redirect_uri: redirect.into(),
                scope: scope.into(),
                resource: None,
                nonce: None,
                code_challenge: Some(challenge),
                code_challenge_method: Some("S256".into()),
                auth_time: strongroom_core::store::UnixSecs::new(0),
            })
            .await
            .expect("code");
        let tokens: serde_json::Value = self
            .http
            .post(self.url("/oidc/token"))
            .basic_auth(client.id.as_str(), secret.as_deref())
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        UserTokens {
            access: tokens["access_token"]
                .as_str()
                .expect("access token")
                .to_owned(),
            client,
            secret: secret.expect("a Traditional application's secret"),
        }
    }

    /// A Management API call: status and JSON body (Null when there is none). The request is
    /// built at once, so the future borrows nothing.
    pub fn api(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> impl std::future::Future<Output = (u16, serde_json::Value)> + use<> {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.expect("api request");
            let status = response.status().as_u16();
            (
                status,
                response.json().await.unwrap_or(serde_json::Value::Null),
            )
        }
    }
}

/// A PKCE pair `(verifier, S256 challenge)`, the challenge computed by Python's hashlib so the
/// test does not share the server's code.
pub fn pkce() -> (String, String) {
    let verifier = strongroom_core::crypto::random_token().expect("random");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys,hashlib,base64;print(base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest()).decode().rstrip('='))",
            &verifier,
        ])
        .output()
        .expect("python3");
    (
        verifier,
        String::from_utf8(out.stdout)
            .expect("utf8")
            .trim()
            .to_owned(),
    )
}
