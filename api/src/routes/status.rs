//! `GET /odoo/status` (the exact shape of DESIGN.md 4.3, with a strong ETag: a poll with
//! `If-None-Match` of an unchanged status gets 304) and `GET /odoo/status/events`, a
//! Server-Sent Events stream with one `status` event per change.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::Stream;
use shared::store::{SharedStore, TenantId};

use crate::auth::Tenant;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::status::{if_none_match, tenant_status, StatusBody};

/// The tenant's sync status.
#[utoipa::path(get, path = "/odoo/status", tag = "tenant",
    security(("tenant" = [])),
    params(("If-None-Match" = Option<String>, Header,
        description = "The ETag of a status already seen: 304 while it is unchanged")),
    responses(
        (status = 200, description = "The status", body = StatusBody,
            headers(("ETag" = String, description = "Strong validator of this status"))),
        (status = 304, description = "Unchanged since the given ETag"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn status(
    State(state): State<AppState>,
    Tenant(user_id): Tenant,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let body = tenant_status(&state.store, &user_id).await?;
    let etag = body.etag();
    let unchanged = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| if_none_match(v, &etag));
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Json(body).into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, value);
    }
    // Revalidate every time; the answer depends on who asks.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    headers.insert(VARY, HeaderValue::from_static("Authorization"));
    Ok(response)
}

struct Watch {
    store: SharedStore,
    user_id: TenantId,
    interval: Duration,
    last: Option<String>,
    started: bool,
}

/// The next `status` event: waits until the status differs from the last one sent.
async fn next_event(mut watch: Watch) -> Option<(Result<Event, Infallible>, Watch)> {
    loop {
        if watch.started {
            tokio::time::sleep(watch.interval).await;
        }
        watch.started = true;
        let body = match tenant_status(&watch.store, &watch.user_id).await {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(tenant = %watch.user_id, error = %e, "status stream: store error");
                continue;
            }
        };
        let etag = body.etag();
        if watch.last.as_deref() == Some(etag.as_str()) {
            continue;
        }
        let Ok(event) = Event::default()
            .event("status")
            .id(etag.clone())
            .json_data(&body)
        else {
            continue;
        };
        watch.last = Some(etag);
        return Some((Ok(event), watch));
    }
}

/// A stream of the tenant's status: one `status` event (data: the same JSON as
/// `GET /odoo/status`, id: its ETag) now and one at every change.
#[utoipa::path(get, path = "/odoo/status/events", tag = "tenant",
    security(("tenant" = [])),
    responses(
        (status = 200, description = "Server-Sent Events: `event: status`, `data:` a status as \
            `GET /odoo/status` returns it", content_type = "text/event-stream", body = String),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ))]
pub async fn status_events(
    State(state): State<AppState>,
    Tenant(user_id): Tenant,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let watch = Watch {
        store: state.store.clone(),
        user_id,
        interval: state.settings.status_poll_interval,
        last: None,
        started: false,
    };
    Sse::new(futures::stream::unfold(watch, next_event)).keep_alive(KeepAlive::default())
}
