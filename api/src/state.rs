//! What every handler shares: the store, the settings, the token verifier, the address
//! policy for Odoo URLs, the metrics, the status watchers and the save-connection limits.
//! The auth extractors and the metrics middleware take their part of it through `FromRef`
//! or their own state, so neither depends on this module.

use std::sync::Arc;

use axum::extract::FromRef;
use shared::store::SharedStore;

use crate::auth::{AdminToken, JwtVerifier, TokenPolicy};
use crate::metrics::ApiMetrics;
use crate::queue::QueueAdmin;
use crate::rate_limit::SaveConnectionLimiter;
use crate::scrub::StoredErrorScrubber;
use crate::settings::ApiSettings;
use crate::ssrf::AddressPolicy;
use crate::status_watch::StatusWatchers;

/// The state of one running API.
#[derive(Clone)]
pub struct AppState {
    pub store: SharedStore,
    pub settings: Arc<ApiSettings>,
    pub jwt: Arc<JwtVerifier>,
    pub policy: Arc<AddressPolicy>,
    pub metrics: Arc<ApiMetrics>,
    /// The job queue, for the operators' queue routes and the depth gauge; `None` when the
    /// app was started without one (those routes then answer 409 `no_queue`).
    pub queue: Option<QueueAdmin>,
    /// Removes tenants' secrets from stored errors as they are served.
    pub scrubber: Arc<StoredErrorScrubber>,
    /// One status watcher per tenant, shared by its event streams.
    pub status_watchers: Arc<StatusWatchers>,
    pub save_limiter: Arc<SaveConnectionLimiter>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(settings: ApiSettings, store: SharedStore) -> AppState {
        let limits = &settings.limits;
        let scrubber = Arc::new(StoredErrorScrubber::new(Some(settings.keyring.clone())));
        AppState {
            jwt: Arc::new(JwtVerifier::with_policy(
                &settings.jwt_secret,
                &TokenPolicy::from_limits(limits),
            )),
            policy: Arc::new(AddressPolicy::new(&settings.allowed_private_hosts)),
            metrics: Arc::new(ApiMetrics::new()),
            status_watchers: Arc::new(StatusWatchers::new(
                store.clone(),
                scrubber.clone(),
                settings.status_poll_interval,
                limits.status_streams_per_tenant,
                limits.status_streams_max,
            )),
            save_limiter: Arc::new(SaveConnectionLimiter::new(
                limits.save_connection_per_tenant_per_minute,
                limits.save_connection_per_minute,
            )),
            scrubber,
            settings: Arc::new(settings),
            store,
            queue: None,
        }
    }
}

impl FromRef<AppState> for Arc<JwtVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.jwt.clone()
    }
}

impl FromRef<AppState> for AdminToken {
    fn from_ref(state: &AppState) -> Self {
        AdminToken(state.settings.admin_token.clone().map(Arc::new))
    }
}
