//! Request extractors whose failures are the API's JSON errors: [`JsonBody`] (JSON only,
//! size-limited, read within `HTTP_BODY_TIMEOUT_SECONDS` else 408, unknown or missing fields
//! named in a 400) and [`QueryParams`] (query strings, bad values named in a 400).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body of type `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = state.settings.body_limit;
        // The whole body within the limit, however slowly it trickles in: a per-read
        // timeout would let a client send a byte at a time for ever.
        let timeout = state.settings.limits.body_timeout;
        let bytes = tokio::time::timeout(timeout, Bytes::from_request(request, state))
            .await
            .map_err(|_| ApiError::RequestTimeout {
                seconds: timeout.as_secs(),
            })?
            .map_err(|e| body_error(&e, limit))?;
        parse_json(&bytes).map(JsonBody)
    }
}

fn body_error(rejection: &BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit }
    } else {
        ApiError::bad_request("invalid_body", "the request body could not be read")
    }
}

/// Parses JSON, naming the field at fault: `unknown field`, `missing field` and type errors
/// all come back as a 400 with `field` set when there is one.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        json_error(&path, &inner)
    })?;
    deserializer.end().map_err(|e| json_error(".", &e))?;
    Ok(value)
}

fn json_error(path: &str, error: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let text = error.to_string();
    // serde names the unknown or missing field in the message itself ("unknown field `x`").
    let named = text
        .split('`')
        .nth(1)
        .filter(|_| text.starts_with("unknown field") || text.starts_with("missing field"))
        .map(str::to_string);
    let (field, message) = match error.classify() {
        Category::Syntax | Category::Eof => (None, format!("the body is not valid JSON: {text}")),
        Category::Data | Category::Io => {
            let field = named.or_else(|| (path != ".").then(|| path.to_string()));
            let message = match &field {
                Some(field) if !text.contains(field.as_str()) => format!("{field}: {text}"),
                _ => text,
            };
            (field, message)
        }
    };
    ApiError::BadRequest {
        code: "invalid_body",
        message,
        field,
    }
}

/// Query parameters of type `T`.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let deserializer =
            serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(QueryParams)
            .map_err(|e| {
                let path = e.path().to_string();
                let text = e.into_inner().to_string();
                let named = text
                    .split('`')
                    .nth(1)
                    .filter(|_| {
                        text.starts_with("unknown field") || text.starts_with("missing field")
                    })
                    .map(str::to_string);
                let field = named.or_else(|| (path != ".").then_some(path));
                ApiError::BadRequest {
                    code: "invalid_query",
                    message: match &field {
                        Some(f) if !text.contains(f.as_str()) => format!("{f}: {text}"),
                        _ => text,
                    },
                    field,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        url: String,
        port: u16,
    }

    fn field_of(result: Result<Body, ApiError>) -> Option<String> {
        match result {
            Err(ApiError::BadRequest { field, .. }) => field,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field_of(parse_json(br#"{"url":"x","port":1,"extra":true}"#)).as_deref(),
            Some("extra")
        );
        assert_eq!(
            field_of(parse_json(br#"{"port":1}"#)).as_deref(),
            Some("url")
        );
        assert_eq!(
            field_of(parse_json(br#"{"url":"x","port":"high"}"#)).as_deref(),
            Some("port")
        );
        assert_eq!(field_of(parse_json(br#"{"url":"#)), None);
        assert_eq!(field_of(parse_json(br#"{"url":"x","port":1} []"#)), None);
        assert!(parse_json::<Body>(br#"{"url":"x","port":1}"#).is_ok());
    }
}
