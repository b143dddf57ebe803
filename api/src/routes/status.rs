//! `GET /odoo/status` (the exact shape of DESIGN.md 4.3, with a strong ETag: a poll with
//! `If-None-Match` of an unchanged status gets 304) and `GET /odoo/status/events`, a
//! Server-Sent Events stream with one `status` event per change, fed by the tenant's shared
//! watcher.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::Stream;

use crate::auth::Tenant;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::status::{if_none_match, tenant_status, StatusBody};
use crate::status_watch::Subscription;

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
    let body = tenant_status(&state.store, &user_id, &state.scrubber).await?;
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

/// The next `status` event of a stream; `None` ends the stream (the server is stopping).
async fn next_event(
    mut subscription: Subscription,
) -> Option<(Result<Event, Infallible>, Subscription)> {
    loop {
        let body = subscription.next().await?;
        let Ok(event) = Event::default()
            .event("status")
            .id(body.etag())
            .json_data(&*body)
        else {
            continue;
        };
        return Some((Ok(event), subscription));
    }
}

/// A stream of the tenant's status: one `status` event (data: the same JSON as
/// `GET /odoo/status`, id: its ETag) now and one at every change. All streams of a tenant
/// share one watcher (see [`crate::status_watch`]).
#[utoipa::path(get, path = "/odoo/status/events", tag = "tenant",
    security(("tenant" = [])),
    responses(
        (status = 200, description = "Server-Sent Events: `event: status`, `data:` a status as \
            `GET /odoo/status` returns it", content_type = "text/event-stream", body = String),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 429, description = "The tenant holds as many streams as allowed \
            (`STATUS_STREAMS_PER_TENANT`)", body = ErrorBody),
        (status = 503, description = "The server holds as many streams as allowed \
            (`STATUS_STREAMS_MAX`)", body = ErrorBody),
    ))]
pub async fn status_events(
    State(state): State<AppState>,
    Tenant(user_id): Tenant,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let subscription = state.status_watchers.subscribe(&user_id)?;
    Ok(
        Sse::new(futures::stream::unfold(subscription, next_event))
            .keep_alive(KeepAlive::default()),
    )
}
