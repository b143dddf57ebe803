//! Builds the app: the router with its layers (CORS, head and body limits, tracing,
//! metrics, JSON 404/405) and an [`Application`] bound to an address, zero2prod style, so
//! `odoo-sync api` and the tests start it the same way (tests bind `127.0.0.1:0`). It is
//! served by [`crate::serve`], which bounds slow and idle connections and their number.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderValue, Method};
use axum::routing::{delete, get, post};
use axum::Router;
use shared::store::SharedStore;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::error;
use crate::http_limits::{check_head, BodyLimit};
use crate::metrics::track;
use crate::queue::QueueAdmin;
use crate::routes::{
    admin, connection, dashboard, docs, health, metrics, modules, page, records, status,
};
use crate::serve::{serve, ConnectionLimits};
use crate::settings::ApiSettings;
use crate::state::AppState;
use crate::status_watch::StatusWatchers;

/// The CORS layer of the configured origins; `None` when no origin is allowed.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([AUTHORIZATION, CONTENT_TYPE, IF_NONE_MATCH])
            .expose_headers([ETAG]),
    )
}

/// The whole router over `state`.
pub fn router(state: AppState) -> Router {
    let body_limit = state.settings.body_limit;
    let cors = cors(&state.settings.cors_allowed_origins);
    let app = Router::new()
        .route("/odoo/save-connection", post(connection::save_connection))
        .route("/odoo/connection", delete(connection::delete_connection))
        .route("/odoo/status", get(status::status))
        .route("/odoo/status/events", get(status::status_events))
        .route("/odoo/dashboard", get(dashboard::dashboard))
        .route(
            "/odoo/modules",
            get(modules::modules).put(modules::set_modules),
        )
        .route("/odoo/records/{module}", get(records::records))
        .route("/admin", get(page::operator_page))
        .route("/admin/tenants", get(admin::list_tenants))
        .route("/admin/tenants/{user_id}", get(admin::tenant))
        .route("/admin/tenants/{user_id}/retry", post(admin::retry))
        .route("/admin/tenants/{user_id}/resync", post(admin::resync))
        .route("/admin/tenants/{user_id}/verify", post(admin::verify))
        .route("/admin/tenants/{user_id}/pause", post(admin::pause))
        .route("/admin/tenants/{user_id}/resume", post(admin::resume))
        .route("/admin/queue", get(admin::queue_depth))
        .route("/admin/queue/waiting", get(admin::waiting_jobs))
        .route("/admin/queue/dead", get(admin::dead_jobs))
        .route("/admin/queue/workers", get(admin::live_workers))
        .route("/admin/queue/drain", post(admin::drain_queue))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(docs::openapi))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            BodyLimit(body_limit),
            check_head,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            track,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state);
    match cors {
        Some(cors) => app.layer(cors),
        None => app,
    }
}

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot bind {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// The API bound to its address, ready to serve.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    status_watchers: Arc<StatusWatchers>,
}

impl Application {
    /// Binds `address` (port 0 picks a free port) and builds the router.
    pub async fn build(
        settings: ApiSettings,
        store: SharedStore,
        address: SocketAddr,
    ) -> Result<Application, StartupError> {
        Application::build_with_queue(settings, store, None, address).await
    }

    /// [`Application::build`] with the job queue the operators' queue routes and the
    /// `/metrics` depth gauge read.
    pub async fn build_with_queue(
        settings: ApiSettings,
        store: SharedStore,
        queue: Option<QueueAdmin>,
        address: SocketAddr,
    ) -> Result<Application, StartupError> {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| StartupError::Bind { address, source })?;
        let address = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { address, source })?;
        let limits = ConnectionLimits {
            header_timeout: settings.limits.header_timeout,
            max_connections: settings.limits.max_connections,
        };
        let state = AppState {
            queue,
            ..AppState::new(settings, store)
        };
        Ok(Application {
            listener,
            address,
            limits,
            status_watchers: state.status_watchers.clone(),
            router: router(state),
        })
    }

    /// The bound address (with the real port).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Serves until the process ends.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `shutdown` completes, then ends the status streams and finishes the
    /// requests in flight (for at most [`crate::serve::DRAIN_LIMIT`]).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(address = %self.address, "API listening");
        let watchers = self.status_watchers;
        serve(
            self.listener,
            self.router,
            self.limits,
            shutdown,
            move || watchers.close(),
        )
        .await?;
        tracing::info!("API stopped");
        Ok(())
    }
}
