//! Strongroom's HTTP surface. Handlers extract, authorize, call one service function and map
//! the result; rules live in `strongroom-core`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

mod account;
mod connectors;
mod console;
mod edge;
mod error;
pub mod extract;
mod html;
mod management;
pub mod net;
mod oidc;
mod openapi;
mod sign_in;
mod users;
mod wire;

pub use error::ApiError;
pub use net::Network;

use axum::Router;
use axum::http::StatusCode;
use strongroom_core::Clock;
use strongroom_core::SecretString;
use strongroom_core::admins::ConsoleAuth;
use strongroom_core::applications::Applications;
use strongroom_core::audit::Audit;
use strongroom_core::connectors::Connectors;
use strongroom_core::exchange::TokenExchange;
use strongroom_core::metrics::Metrics;
use strongroom_core::oidc::Oidc;
use strongroom_core::revocation::Revoker;
use strongroom_core::sign_in::SignIn;
use strongroom_core::store::Store;
use strongroom_core::token_access::{RefreshOptions, TokenAccess};
use strongroom_core::token_sets::TokenSets;
use strongroom_core::users::Users;
use strongroom_core::vault::Keyring;
use strongroom_core::verifications::Verifications;
use strongroom_providers::Providers;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Everything a request handler may need, shared by all requests. Cloning it (axum does, per
/// request) is one reference-count increment.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services behind [`AppState`].
#[derive(Debug)]
pub struct Services {
    pub store: Store,
    pub keyring: Arc<Keyring>,
    pub clock: Arc<dyn Clock>,
    pub token_sets: TokenSets,
    pub applications: Applications,
    pub oidc: Oidc,
    pub connectors: Connectors,
    pub sign_in: SignIn,
    pub audit: Audit,
    pub token_access: TokenAccess,
    /// Token exchange (RFC 8693) and break-glass reads.
    pub exchange: TokenExchange,
    pub users: Users,
    pub verifications: Verifications,
    pub console_auth: ConsoleAuth,
    pub account_center: strongroom_core::account_center::AccountCenter,
    /// Revokes deleted token sets at their providers, in the background.
    pub revoker: Revoker,
    /// Public base URL; the OIDC issuer is `<endpoint>/oidc`.
    pub endpoint: String,
    /// Connection limits, timeouts and trusted proxies.
    pub network: Network,
    /// `GET /api/status/ready`.
    pub readiness: strongroom_core::keys::Readiness,
    /// What `GET /metrics` reports, and the bearer it needs (unset: it is not served).
    pub metrics: Metrics,
    pub metrics_token: Option<SecretString>,
}

impl AppState {
    /// Builds the services; loads (or creates) the OIDC signing key. `providers` makes every
    /// upstream call (its timeout bounds each one).
    pub async fn new(
        store: Store,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        providers: Providers,
        refresh: RefreshOptions,
        endpoint: String,
        network: Network,
    ) -> strongroom_core::Result<Self> {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let token_sets = TokenSets::new(store.clone(), keyring.clone(), clock.clone());
        let oidc = Oidc::load(store.clone(), keyring.clone(), clock.clone(), &endpoint).await?;
        let applications = Applications::new(store.clone(), clock.clone(), oidc.revocations());
        let audit = Audit::new(store.clone(), clock.clone());
        let revoker = Revoker::new(
            store.clone(),
            keyring.clone(),
            clock.clone(),
            token_sets.clone(),
            audit.clone(),
            providers.clone(),
        );
        let connectors = Connectors::new(
            store.clone(),
            keyring.clone(),
            clock.clone(),
            providers,
            revoker.clone(),
        );
        let sign_in = SignIn::new(
            store.clone(),
            keyring.clone(),
            clock.clone(),
            oidc.clone(),
            connectors.clone(),
            token_sets.clone(),
            audit.clone(),
            &endpoint,
        );
        let metrics = Metrics::new();
        let token_access = TokenAccess::new(
            store.clone(),
            keyring.clone(),
            clock.clone(),
            token_sets.clone(),
            connectors.clone(),
            audit.clone(),
            revoker.clone(),
            metrics.clone(),
            refresh,
        );
        let exchange = TokenExchange::new(oidc.clone(), token_access.clone(), metrics.clone());
        let users = Users::new(
            store.clone(),
            clock.clone(),
            revoker.clone(),
            oidc.revocations(),
        );
        let verifications = Verifications::new(
            store.clone(),
            keyring.clone(),
            clock.clone(),
            connectors.clone(),
            token_sets.clone(),
            audit.clone(),
        );
        let console_auth = ConsoleAuth::new(store.clone(), clock.clone());
        let readiness =
            strongroom_core::keys::Readiness::new(store.clone(), keyring.clone(), clock.clone());
        let account_center =
            strongroom_core::account_center::AccountCenter::new(store.clone(), clock.clone());
        Ok(Self(Arc::new(Services {
            store,
            keyring,
            clock,
            token_sets,
            applications,
            oidc,
            connectors,
            sign_in,
            audit,
            token_access,
            exchange,
            users,
            verifications,
            console_auth,
            account_center,
            revoker,
            endpoint,
            network,
            readiness,
            metrics,
            metrics_token: None,
        })))
    }

    /// Serves `GET /metrics` to holders of `token` (set once, before the state is shared).
    pub fn with_metrics_token(mut self, token: Option<SecretString>) -> Self {
        Arc::get_mut(&mut self.0)
            .expect("the metrics token is set before the state is shared")
            .metrics_token = token;
        self
    }
}

impl Services {
    /// Waits until the background work started so far is done: provider revocations have
    /// ended and every audit event is written.
    pub async fn settled(&self) {
        self.revoker.settled().await;
        self.audit.flush().await;
    }

    /// Whether cookies are `Secure` (and, where their path allows, `__Host-` prefixed): when
    /// the public endpoint is https.
    pub fn secure_cookies(&self) -> bool {
        self.endpoint.starts_with("https://")
    }
}

/// The whole router: the documented routes of [`api`] and the console's pages.
///
/// Around every route, from the outside in: a request id and an INFO span (method, path, id),
/// tower's request trace at DEBUG, the request timeout (408), the body deadline, the security
/// headers, and the edge guard (U+0000 and the body limit).
pub fn router(state: AppState) -> Router {
    let (router, _) = api().split_for_parts();
    let network = state.network.clone();
    router
        .merge(console::router())
        .fallback(edge::not_found)
        .layer(axum::middleware::from_fn(edge::guard))
        .layer(edge::cors(state.clone()))
        .layer(axum::middleware::map_response(edge::security_headers))
        .layer(tower_http::timeout::RequestBodyDeadlineLayer::new(
            network.body_timeout,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            network.request_timeout,
        ))
        // The span carries no URI: query strings hold authorization codes and states.
        .layer(TraceLayer::new_for_http().make_span_with(
            |_: &axum::http::Request<axum::body::Body>| tracing::debug_span!("http"),
        ))
        .layer(axum::middleware::from_fn(edge::request_context))
        .with_state(state)
}

/// Every route with its OpenAPI documentation. Each is registered through `routes!`, which
/// takes the path and methods from the handler's `#[utoipa::path]` annotation: a route without
/// one does not compile here, and `tests/openapi.rs` fails on any route that bypasses this.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(status))
        .routes(routes!(ready))
        .routes(routes!(metrics))
        .routes(routes!(openapi::swagger_json))
        .merge(oidc::routes())
        .merge(management::routes())
        .merge(connectors::routes())
        .merge(sign_in::routes())
        .merge(users::routes())
        .merge(account::routes())
}

/// The OpenAPI document of every route, as served at `GET /api/swagger.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = api().into_openapi();
    openapi::unique_operation_ids(&mut document);
    openapi::edge_responses(&mut document);
    document
}

/// `GET /api/status`: 204 while the server is up (Logto's health check).
#[utoipa::path(
    get,
    path = "/api/status",
    tag = "Status",
    summary = "Health check",
    description = "Answers 204 while the server is up (Logto's health check). No authentication.",
    responses((status = 204, description = "The server is up."))
)]
async fn status() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// `GET /api/status/ready`: readiness, separate from liveness (`/api/status`).
#[utoipa::path(
    get,
    path = "/api/status/ready",
    tag = "Status",
    summary = "Readiness check",
    description = "Answers 204 when this process can serve: its database and audit trail answer (within 2 s), \
                   and the vault key opens the key-check value stored in the database. Otherwise 503, so a load \
                   balancer stops sending it traffic; the cause is in the server's log. No authentication.",
    responses(
        (status = 204, description = "Ready."),
        (status = 503, description = "`status.not_ready`: the database does not answer, or the vault key does not \
            open the stored key check.", body = crate::wire::ErrorBody),
    )
)]
async fn ready(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<StatusCode, ApiError> {
    state
        .readiness
        .check()
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "status.not_ready",
                e.to_string(),
            )
        })
}

/// `GET /metrics`: OpenMetrics text for Prometheus, to holders of `STRONGROOM_METRICS_TOKEN`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "Status",
    summary = "Metrics",
    description = "The process's metrics in the OpenMetrics text format (which Prometheus reads): token reads by \
                   connection, way and outcome, token exchanges by outcome, refreshes by connection and outcome \
                   with their latency, the audit queue's depth, the audit events set aside, and the database \
                   connections in use. Served only when `STRONGROOM_METRICS_TOKEN` is set, to that bearer.",
    security(("metrics" = [])),
    responses(
        (status = 200, description = "The metrics.", body = String,
            content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 401, description = "`auth.unauthorized`: no bearer, or another one; with `WWW-Authenticate: \
            Bearer`.", body = crate::wire::ErrorBody),
        (status = 404, description = "`route.not_found`: `STRONGROOM_METRICS_TOKEN` is not set.",
            body = crate::wire::ErrorBody),
        crate::openapi::Internal,
    )
)]
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let Some(expected) = &state.metrics_token else {
        return Err(ApiError::not_found(
            "route.not_found",
            "The route does not exist.",
        ));
    };
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !strongroom_core::crypto::constant_time_eq(
        presented,
        strongroom_core::ExposeSecret::expose_secret(expected),
    ) {
        let mut refused = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "auth.unauthorized",
            "Unauthorized. Please check credentials and its scope.",
        )
        .into_response();
        refused.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer realm=\"strongroom\""),
        );
        return Ok(refused);
    }
    let text = state.metrics.scrape(&state.audit, &state.store).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// How often expired interactions, sessions, codes and tokens are deleted.
const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes expired rows now and then, for as long as the server runs. Several processes may do
/// it at once: the deletes are idempotent.
async fn purge_expired(state: AppState) {
    let mut interval = tokio::time::interval(PURGE_INTERVAL);
    loop {
        interval.tick().await;
        match state.store.purge_expired(state.clock.now_ms()).await {
            Ok(n) if n > 0 => tracing::debug!(deleted = n, "purged expired sign-in state"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot purge expired sign-in state"),
        }
    }
}

/// A bound server, ready to run. Binding happens in [`Application::build`], so port 0 gives
/// tests a free port and [`Application::local_addr`] tells which.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    pub async fn build(bind: SocketAddr, state: AppState) -> std::io::Result<Self> {
        Ok(Self::from_listener(TcpListener::bind(bind).await?, state))
    }

    /// Serves on a listener bound already (when the endpoint depends on the bound port).
    pub fn from_listener(listener: TcpListener, state: AppState) -> Self {
        Self {
            listener,
            router: router(state.clone()),
            state,
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests (for at most
    /// [`SHUTDOWN_GRACE`]).
    ///
    /// Each connection is served by hyper with a header-read timeout (which also closes idle
    /// keep-alive connections), under a cap on open connections (beyond it, new ones wait in
    /// the kernel's queue) and a cap per client address (beyond it, new ones are closed): a
    /// client holding many half-sent requests cannot take every connection or file descriptor.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let purge = tokio::spawn(purge_expired(self.state.clone()));
        let revocations = tokio::spawn(self.state.oidc.revocations().watch());
        let network = self.state.network.clone();
        let slots = Arc::new(tokio::sync::Semaphore::new(network.max_connections));
        let per_address = Arc::new(net::PerAddress::default());
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(network.header_read_timeout)
            .keep_alive(true);
        tokio::pin!(shutdown);
        loop {
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, most likely: wait for some to close.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let address_slot = if network.is_trusted_proxy(peer.ip()) {
                None
            } else {
                match per_address.enter(peer.ip(), network.max_connections_per_address) {
                    Some(address_slot) => Some(address_slot),
                    None => {
                        tracing::debug!(peer = %peer.ip(), "too many connections from one address; closed");
                        continue;
                    }
                }
            };
            let _ = stream.set_nodelay(true);
            let router = self.router.clone();
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let mut request = request.map(axum::body::Body::new);
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    let mut router = router.clone();
                    tower_service::Service::call(&mut router, request)
                },
            );
            let connection = graceful
                .watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                drop(address_slot);
                drop(slot);
            });
        }
        drop(self.listener);
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the shutdown grace period");
        }
        purge.abort();
        revocations.abort();
        // Provider revocations under way end (or the grace period does), and the queued audit
        // events are written before the caller closes the database.
        if tokio::time::timeout(SHUTDOWN_GRACE, self.state.revoker.settled())
            .await
            .is_err()
        {
            tracing::warn!("provider revocations still running after the shutdown grace period");
        }
        self.state.audit.flush().await;
        Ok(())
    }
}

/// How long a shutdown waits for in-flight requests.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);
