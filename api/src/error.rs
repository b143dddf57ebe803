//! The API's one error type: every failure becomes a JSON body
//! `{"error": "<code>", "message": "...", "field": "..."?}` with a fitting status
//! (DESIGN.md 4.3). Messages are written for the caller and never carry a secret, a stack
//! trace or another tenant's data; internal details are logged, not returned.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use shared::store::StoreError;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code, e.g. `invalid_body`, `unauthorized`,
    /// `sync_not_ready`, `odoo_authentication_failed`, `odoo_unreachable`.
    #[schema(example = "sync_not_ready")]
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
    /// The request field at fault, for bad input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the input is invalid (`field` names the part at fault when there is one).
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    /// 401: no bearer token, or one that is malformed, expired or wrongly signed.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but not allowed (yet).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// 404.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the state does not allow the action (e.g. resync without a saved connection).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 413: the body is larger than the limit.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 415: the body is not JSON.
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// 422: Odoo answered and refused (credentials, rights, database, API not available).
    #[error("{message}")]
    OdooRefused { code: &'static str, message: String },
    /// 502: Odoo could not be reached or did not answer like Odoo.
    #[error("{message}")]
    OdooUnreachable { code: &'static str, message: String },
    /// 503: the job queue (Redis or the SQLite queue) is unreachable.
    #[error("the job queue is unavailable; try again shortly")]
    QueueUnavailable,
    /// 503: the store is unreachable.
    #[error("the data store is unavailable; try again shortly")]
    Unavailable,
    /// 503: a server-wide limit is reached (connections, status streams, save-connection
    /// calls of all tenants) or the server is stopping.
    #[error("{message}")]
    Overloaded { code: &'static str, message: String },
    /// 429: this caller's limit is reached; `retry_after` seconds, when known, go in
    /// `Retry-After`.
    #[error("{message}")]
    TooManyRequests {
        code: &'static str,
        message: String,
        retry_after: Option<u64>,
    },
    /// 408: the request's body did not arrive in time.
    #[error("the request body did not arrive within {seconds} s")]
    RequestTimeout { seconds: u64 },
    /// 414: the request target is longer than the limit.
    #[error("the request URI is longer than {limit} bytes")]
    UriTooLong { limit: usize },
    /// 431: the request's headers are larger than the limit.
    #[error("the request headers are larger than {limit} bytes")]
    HeadersTooLarge { limit: usize },
    /// 500: a bug or corrupt data; the detail was logged.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// A 400 about one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: "invalid_field",
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// A 400 without a particular field.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::OdooRefused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::OdooUnreachable { .. } => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable | ApiError::QueueUnavailable | ApiError::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::OdooRefused { code, .. }
            | ApiError::OdooUnreachable { code, .. }
            | ApiError::Overloaded { code, .. }
            | ApiError::TooManyRequests { code, .. } => code,
            ApiError::RequestTimeout { .. } => "request_timeout",
            ApiError::UriTooLong { .. } => "uri_too_long",
            ApiError::HeadersTooLarge { .. } => "headers_too_large",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unavailable => "store_unavailable",
            ApiError::QueueUnavailable => "queue_unavailable",
            ApiError::Internal => "internal_error",
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code().to_string(),
            message: self.to_string(),
            field: match self {
                ApiError::BadRequest { field, .. } => field.clone(),
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized(_) => {
                headers.insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
            }
            ApiError::TooManyRequests {
                retry_after: Some(seconds),
                ..
            } => {
                headers.insert(axum::http::header::RETRY_AFTER, seconds.into());
            }
            // Whatever follows on this connection is not to be trusted: close it.
            ApiError::RequestTimeout { .. }
            | ApiError::UriTooLong { .. }
            | ApiError::HeadersTooLarge { .. }
            | ApiError::PayloadTooLarge { .. } => {
                headers.insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "store unavailable");
                ApiError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::Internal
            }
        }
    }
}

/// The JSON 404 of paths no route serves.
pub async fn not_found() -> ApiError {
    ApiError::NotFound {
        code: "not_found",
        message: "no such route".into(),
    }
}

/// The JSON 405 of routes called with a method they do not serve.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
