//! `GET /openapi.json`: the OpenAPI document, generated from the route annotations.

use axum::Json;
use utoipa::OpenApi;

use crate::openapi::ApiDoc;

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
