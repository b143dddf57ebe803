//! How the simulated Odoo writes its answers, per protocol and version: XML-RPC values and
//! faults (Python's `<?xml version='1.0'?>` declaration before 19, Odoo's own
//! `<?xml version="1.0"?>` from 19), JSON-RPC results and errors (`code` 200 before 19, 0
//! from 19), JSON-2 bodies, and the 404 pages of routes a version does not have. The
//! protocol modules and the call pipeline both render through here, so neither depends on
//! the other.

use crate::odoo_error::{json2_http_error, OdooError};
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};
use shared::odoo::xmlrpc::{encode_fault, encode_response, Fault, Value};

pub const XML: &str = "text/xml; charset=utf-8";
pub const JSON: &str = "application/json; charset=utf-8";
/// Odoo's own HTML pages (no space after the semicolon, as Odoo sends it).
const ODOO_HTML: &str = "text/html;charset=utf-8";

/// A response with a body and content type.
pub fn body_response(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Werkzeug's plain 404 page: a URL no Odoo route matches, outside any database.
pub fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n",
    )
        .into_response()
}

/// Odoo's own "page not found" page, which a database's server sends for a route its
/// version does not have (17.0's answer to `/json/2/...` and `/web/version`; the captured
/// page shortened to its structure: title, heading, message).
pub fn odoo_not_found() -> Response {
    const PAGE: &str = "<!DOCTYPE html>\n<html>\n    <head>\n        <meta charset=\"utf-8\"/>\n        <title>Odoo</title>\n    </head>\n    <body>\n        <div id=\"wrapwrap\">\n            <main>\n                <div id=\"wrap\">\n                    <h1 class=\"visually-hidden\">Error 404</h1>\n                    <h2>We couldn't find the page you're looking for!</h2>\n                </div>\n            </main>\n        </div>\n    </body>\n</html>\n";
    body_response(404, ODOO_HTML, PAGE.as_bytes().to_vec())
}

/// Replaces the encoder's `<?xml version="1.0"?>` with what the version's server writes.
fn with_declaration(mut body: Vec<u8>, version: u32) -> Vec<u8> {
    const ODOO: &[u8] = b"<?xml version=\"1.0\"?>";
    const PYTHON: &[u8] = b"<?xml version='1.0'?>";
    if version < 19 && body.starts_with(ODOO) {
        body[..PYTHON.len()].copy_from_slice(PYTHON);
    }
    body
}

/// An XML-RPC value answer.
pub fn xmlrpc_value(v: &Json, version: u32) -> Response {
    let body = with_declaration(encode_response(&Value::from_json(v)), version);
    body_response(200, XML, body)
}

/// An XML-RPC fault for an Odoo exception (always HTTP 200, as Odoo does).
pub fn xmlrpc_fault(err: &OdooError, version: u32) -> Response {
    let fault = Fault {
        code: err.fault_code(),
        message: err.fault_string(),
    };
    body_response(200, XML, with_declaration(encode_fault(&fault), version))
}

/// A JSON-RPC result.
pub fn jsonrpc_result(id: &Json, result: Json) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "result": result});
    body_response(200, JSON, body.to_string().into_bytes())
}

/// The JSON-RPC error of an Odoo exception: HTTP 200, `code` 0 on 19, 200 before.
pub fn jsonrpc_error(id: &Json, err: &OdooError, version: u32) -> Response {
    let code = if version >= 19 { 0 } else { 200 };
    let body = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": "Odoo Server Error", "data": err.jsonrpc_data(version)},
    });
    body_response(200, JSON, body.to_string().into_bytes())
}

/// A JSON-2 body with a status.
pub fn json2_body(status: u16, body: &Json) -> Response {
    body_response(status, JSON, body.to_string().into_bytes())
}

/// The JSON-2 rendering of an Odoo exception.
pub fn json2_error(err: &OdooError) -> Response {
    let (status, body) = err.json2_response();
    json2_body(status, &body)
}

/// A werkzeug HTTP exception as JSON-2 sends it.
pub fn json2_http(status: u16, description: &str) -> Response {
    let (status, body) = json2_http_error(status, description);
    json2_body(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_declaration_follows_the_version() {
        let old = with_declaration(encode_response(&Value::Bool(true)), 17);
        assert!(old.starts_with(b"<?xml version='1.0'?>\n<methodResponse>"));
        let new = with_declaration(encode_response(&Value::Bool(true)), 19);
        assert!(new.starts_with(b"<?xml version=\"1.0\"?>\n<methodResponse>"));
    }
}
