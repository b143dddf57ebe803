//! Limits checked on a request's head before any handler or body read, answered in the
//! JSON error shape: a URI over [`MAX_URI_BYTES`] (414), headers over [`MAX_HEADER_BYTES`]
//! (431), and a `Content-Length` over the body limit (413). The last one is what keeps
//! `Expect: 100-continue` honest: hyper sends `100 Continue` only once the body is read,
//! and an oversized body is refused before that, so the client never sends it.
//!
//! Heads larger than hyper's read buffer (64 KiB, set where the server is built) never get
//! here: hyper refuses them itself with an empty 431.

use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Longest request target (path and query) accepted.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest total of header names and values accepted.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The body limit this middleware enforces on `Content-Length`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// The middleware (see the module).
pub async fn check_head(
    State(BodyLimit(body_limit)): State<BodyLimit>,
    request: Request,
    next: Next,
) -> Response {
    let uri = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri > MAX_URI_BYTES {
        return ApiError::UriTooLong {
            limit: MAX_URI_BYTES,
        }
        .into_response();
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::HeadersTooLarge {
            limit: MAX_HEADER_BYTES,
        }
        .into_response();
    }
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > body_limit as u64) {
        return ApiError::PayloadTooLarge { limit: body_limit }.into_response();
    }
    next.run(request).await
}
