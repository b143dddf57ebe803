//! `GET /odoo/dashboard`: `403 {"error": "sync_not_ready"}` until the tenant's first sync
//! is done, then its figures (see [`crate::dashboard`]).

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use shared::store::SyncStatus;

use crate::auth::Tenant;
use crate::dashboard::{dashboard as figures, DashboardBody};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The tenant's figures, once the first sync is done.
#[utoipa::path(get, path = "/odoo/dashboard", tag = "tenant",
    security(("tenant" = [])),
    responses(
        (status = 200, description = "The figures", body = DashboardBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "`sync_not_ready`: the first sync is not done yet", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn dashboard(
    State(state): State<AppState>,
    Tenant(user_id): Tenant,
) -> Result<Json<DashboardBody>, ApiError> {
    let done = state
        .store
        .tenant(&user_id)
        .await?
        .is_some_and(|t| t.sync_status == SyncStatus::Done);
    if !done {
        return Err(ApiError::Forbidden {
            code: "sync_not_ready",
            message: "the first sync is not finished yet; poll GET /odoo/status".into(),
        });
    }
    Ok(Json(figures(&state.store, &user_id, Utc::now()).await?))
}
