//! Strongroom's HTTP surface. Handlers extract, authorize, call one service function and map
//! the result; rules live in `strongroom-core`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use strongroom_core::store::Store;
use strongroom_core::token_sets::TokenSets;
use strongroom_core::vault::Keyring;
use strongroom_core::Clock;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

/// Everything a request handler may need, shared by all requests.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub keyring: Arc<Keyring>,
    pub clock: Arc<dyn Clock>,
    pub token_sets: TokenSets,
    /// Public base URL; the OIDC issuer is `<endpoint>/oidc`.
    pub endpoint: String,
}

impl AppState {
    pub fn new(store: Store, keyring: Arc<Keyring>, clock: Arc<dyn Clock>, endpoint: String) -> Self {
        let token_sets = TokenSets::new(store.clone(), keyring.clone(), clock.clone());
        Self { store, keyring, clock, token_sets, endpoint }
    }
}

/// The whole router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/status", get(status))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// `GET /api/status`: 204 while the server is up (Logto's health check).
async fn status() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// A bound server, ready to run. Binding happens in [`Application::build`], so port 0 gives
/// tests a free port and [`Application::local_addr`] tells which.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn build(bind: SocketAddr, state: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(bind).await?;
        Ok(Self { listener, router: router(state) })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}
