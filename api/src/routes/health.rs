//! `GET /health` (the process answers) and `GET /ready` (the store answers too, within a
//! few seconds), for load balancers and orchestrators.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use shared::store::TenantId;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// How long readiness waits for the store.
const READY_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    /// `ok` or `ready`.
    pub status: String,
}

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The process answers", body = HealthBody)))]
pub async fn health() -> Json<HealthBody> {
    Json(HealthBody {
        status: "ok".into(),
    })
}

/// The process can serve requests: the store answers.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses(
        (status = 200, description = "The store answers", body = HealthBody),
        (status = 503, description = "The store does not answer", body = ErrorBody),
    ))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<HealthBody>, ApiError> {
    let probe = TenantId::parse("readiness-probe").map_err(|_| ApiError::Internal)?;
    match tokio::time::timeout(READY_TIMEOUT, state.store.tenant(&probe)).await {
        Ok(Ok(_)) => Ok(Json(HealthBody {
            status: "ready".into(),
        })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: store error");
            Err(ApiError::Unavailable)
        }
        Err(_) => {
            tracing::warn!("readiness: the store did not answer in time");
            Err(ApiError::Unavailable)
        }
    }
}
