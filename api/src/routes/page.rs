//! `GET /admin`: the operator status page, one self-contained HTML file. It holds no data:
//! the browser asks for the admin token and calls the `/admin/tenants` routes with it.

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY};
use axum::http::HeaderValue;
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = include_str!("../operator_page.html");

/// The operator page.
pub async fn operator_page() -> Response {
    let mut response = Html(PAGE).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
