//! What every handler shares: the store, the settings, the token verifier, the address
//! policy for Odoo URLs and the metrics.

use std::sync::Arc;

use shared::store::SharedStore;

use crate::auth::JwtVerifier;
use crate::metrics::ApiMetrics;
use crate::queue::QueueAdmin;
use crate::settings::ApiSettings;
use crate::ssrf::AddressPolicy;

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
        AppState {
            jwt: Arc::new(JwtVerifier::new(&settings.jwt_secret)),
            policy: Arc::new(AddressPolicy::new(&settings.allowed_private_hosts)),
            metrics: Arc::new(ApiMetrics::new()),
            settings: Arc::new(settings),
            store,
            queue: None,
        }
    }
}
