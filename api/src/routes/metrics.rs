//! `GET /metrics`: Prometheus text format (see [`crate::metrics`]).

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    // A queue that cannot be read leaves its gauges as they were rather than failing the
    // store's metrics too; the warning says why.
    if let Some(queue) = &state.queue {
        match queue.depth().await {
            Ok(depth) => state.metrics.observe_queue(&depth),
            Err(e) => tracing::warn!(error = %e, "metrics: cannot read the job queue"),
        }
    }
    let (streams, watchers) = state.status_watchers.counts();
    state.metrics.observe_status_streams(streams, watchers);
    let text = state.metrics.render(&state.store).await?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}
