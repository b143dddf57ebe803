//! Tests a tenant's Odoo connection before it is saved: the URL's addresses are checked
//! (see [`crate::ssrf`]), then the real client detects the protocol, reads the version,
//! authenticates and reads which of the synced apps are installed. The outcome maps onto
//! the API's statuses: 400 for a refused URL, 422 when Odoo refuses, 502 when it cannot be
//! reached or does not finish within `PROBE_TIMEOUT_SECONDS` (the whole test, retries
//! included: a dead Odoo must not hold the caller for each request's own timeout in turn).
//! Error messages come from the Odoo client, which scrubs the secret out of them.

use std::time::{Duration, Instant};

use shared::modules::Module;
use shared::odoo::{
    ClientSettings, ConnectionInfo, OdooClient, OdooError, Protocol, TransientKind,
};

use crate::error::ApiError;
use crate::metrics::ApiMetrics;
use crate::ssrf::{AddressPolicy, SsrfError};

/// What the test found.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub odoo_version: String,
    pub protocol: String,
    /// The synced modules whose apps are installed.
    pub modules: Vec<Module>,
}

/// Why the test failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    UrlNotAllowed(#[from] SsrfError),
    #[error(transparent)]
    Odoo(#[from] OdooError),
}

impl From<ProbeError> for ApiError {
    fn from(error: ProbeError) -> ApiError {
        match error {
            ProbeError::UrlNotAllowed(e) => ApiError::BadRequest {
                code: "url_not_allowed",
                message: e.to_string(),
                field: Some("url".into()),
            },
            ProbeError::Odoo(e) => odoo_error(&e),
        }
    }
}

/// An Odoo error as the caller of save-connection sees it. `OdooError`'s messages never
/// carry the secret: the client scrubs them.
fn odoo_error(error: &OdooError) -> ApiError {
    let message = error.to_string();
    match error {
        OdooError::AuthenticationFailed { .. } => ApiError::OdooRefused {
            code: "odoo_authentication_failed",
            message,
        },
        OdooError::LoginThrottled => ApiError::OdooRefused {
            code: "odoo_login_throttled",
            message,
        },
        OdooError::AccessDenied { .. } => ApiError::OdooRefused {
            code: "odoo_access_denied",
            message,
        },
        OdooError::UnknownDatabase { .. } => ApiError::OdooRefused {
            code: "odoo_unknown_database",
            message,
        },
        OdooError::ApiUnavailable { .. } => ApiError::OdooRefused {
            code: "odoo_api_unavailable",
            message,
        },
        OdooError::InvalidSetting(_) => ApiError::BadRequest {
            code: "invalid_connection",
            message,
            field: None,
        },
        OdooError::Transient { .. } | OdooError::RateLimited { .. } => ApiError::OdooUnreachable {
            code: "odoo_unreachable",
            message,
        },
        OdooError::Protocol(_)
        | OdooError::ServerFault { .. }
        | OdooError::MissingModel { .. }
        | OdooError::InvalidField { .. } => ApiError::OdooUnreachable {
            code: "odoo_bad_response",
            message,
        },
    }
}

/// Runs the test; it gives up after `deadline`.
/// `protocol` forces one (else detection picks); `wanted` are the modules the tenant asks for,
/// of which the report lists those the server can sync.
pub async fn test_connection(
    info: &ConnectionInfo,
    protocol: Option<Protocol>,
    wanted: &[Module],
    policy: &AddressPolicy,
    settings: &ClientSettings,
    metrics: &ApiMetrics,
    deadline: Duration,
) -> Result<ProbeReport, ProbeError> {
    policy.check_url(info.url.as_url()).await?;
    let started = Instant::now();
    let (http, refusals) = policy.guarded_client(settings)?;
    let testing = async {
        let client = OdooClient::connect_with(http, info.clone(), settings, protocol).await?;
        let probes: Vec<_> = wanted.iter().filter_map(|m| m.app_probe()).collect();
        let apps = client.installed_apps(&probes).await?;
        Ok::<_, OdooError>(ProbeReport {
            odoo_version: client.version().to_string(),
            protocol: client.protocol().to_string(),
            modules: wanted
                .iter()
                .copied()
                .filter(|m| m.app().is_none_or(|app| apps.contains(app)))
                .collect(),
        })
    };
    let result = tokio::time::timeout(deadline, testing)
        .await
        .unwrap_or_else(|_| {
            Err(OdooError::Transient {
                kind: TransientKind::Timeout,
                detail: format!(
                    "the connection test did not finish within {} s",
                    deadline.as_secs()
                ),
            })
        });
    metrics.observe_probe(started.elapsed(), result.as_ref().err());
    match result {
        Ok(report) => Ok(report),
        // A refused address or redirect surfaces as a transport error: say what it was.
        Err(e) => Err(match refusals.first() {
            Some(refused) => ProbeError::UrlNotAllowed(refused),
            None => ProbeError::Odoo(e),
        }),
    }
}
