//! What the API needs from the settings, checked once at start-up: the JWT secret, the
//! keyring for Odoo secrets, the admin token, the SSRF allow-list, CORS origins, the Odoo
//! client's behaviour for connection tests and the limits put on clients.

use std::time::Duration;

use secrecy::SecretString;
use shared::config::{ApiLimits, Settings};
use shared::crypto::{CryptoError, Keyring};
use shared::modules::Module;
use shared::odoo::{ClientSettings, RetryPolicy};

use crate::ssrf::{AddressPolicy, AllowedHostError};

/// Largest request body accepted (the save-connection body is well under 8 KiB).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The API's settings.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub jwt_secret: SecretString,
    pub keyring: Keyring,
    /// Unset: the operator routes answer 403 `admin_disabled`.
    pub admin_token: Option<SecretString>,
    /// Hosts whose addresses may be private (the simulator in tests and the demo).
    pub allowed_private_hosts: Vec<String>,
    /// Browser origins allowed by CORS; `*` allows any.
    pub cors_allowed_origins: Vec<String>,
    /// How connection tests talk to Odoo: short pauses and at most one quick retry, since a
    /// person is waiting for the answer.
    pub odoo_client: ClientSettings,
    pub body_limit: usize,
    /// How often a tenant's status watcher looks for a change.
    pub status_poll_interval: Duration,
    /// Timeouts, caps and rates towards clients; the token policy.
    pub limits: ApiLimits,
    /// The modules a tenant syncs unless it names others (`DEFAULT_MODULES`).
    pub default_modules: Vec<Module>,
}

/// A setting the API cannot start without.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("JWT_SECRET is not set: the API needs it to check tenants' tokens")]
    NoJwtSecret,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    AllowedHosts(#[from] AllowedHostError),
}

impl ApiSettings {
    pub fn from_settings(settings: &Settings) -> Result<ApiSettings, SettingsError> {
        let jwt_secret = settings
            .jwt_secret
            .clone()
            .ok_or(SettingsError::NoJwtSecret)?;
        let keyring = Keyring::from_settings(settings)?;
        // Read once here so a bad entry stops start-up naming the variable.
        AddressPolicy::parse(&settings.allowed_private_hosts)?;
        let base = settings.client_settings();
        let odoo_client = ClientSettings {
            call_delay: base.call_delay.min(Duration::from_millis(200)),
            request_timeout: base.request_timeout.min(Duration::from_secs(30)),
            retry: RetryPolicy {
                max_retries: 1,
                min_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(1),
            },
            ..base
        };
        Ok(ApiSettings {
            jwt_secret,
            keyring,
            admin_token: settings.admin_token.clone(),
            allowed_private_hosts: settings.allowed_private_hosts.clone(),
            cors_allowed_origins: settings.cors_allowed_origins.clone(),
            odoo_client,
            body_limit: DEFAULT_BODY_LIMIT,
            status_poll_interval: Duration::from_secs(2),
            limits: settings.api_limits.clone(),
            default_modules: settings.modules.clone(),
        })
    }
}
