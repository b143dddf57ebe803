//! A fake Odoo that answers the login with an error quoting the secret it was sent, the way
//! a real server's traceback or `UserError` can: in an XML-RPC fault (as a traceback, as
//! fault 3 and as a `UserError`), in a JSON-RPC `data.message` (JSON-escaped, non-ASCII as
//! `\uXXXX`), in a JSON-2 error body (URL-encoded), and in a proxy's HTML page. The secret
//! reaches it in the request and comes back in each encoding, so a test can check that
//! nothing built from the answer carries it.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

/// A secret with characters every encoding changes (`&`, `<`, `"`, `/`, `+`, `%`, space and
/// a non-ASCII letter), long enough that a cut could split it.
pub const QUOTED_SECRET: &str = "Sëcret&<key>/\"q\"+%20 9f3b1c7d2e8a4f6b0c5d1e9a7b3f2c8d";

/// How the fake Odoo quotes the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// XML-RPC fault 1 with a Python traceback whose last line names the secret (XML-escaped).
    XmlRpcTraceback,
    /// XML-RPC fault 3 (access denied) quoting the secret.
    XmlRpcAccessDenied,
    /// XML-RPC fault 2, a `UserError` quoting the secret.
    XmlRpcUserError,
    /// No XML-RPC; JSON-RPC's `data.message` quotes it, JSON-escaped with `\uXXXX`.
    JsonRpcDataMessage,
    /// JSON-2 (Odoo 19): a 500 whose message quotes it URL-encoded.
    Json2UrlEncoded,
    /// JSON-2 (Odoo 19): a 500 with an HTML page (a proxy's) quoting it raw, placed so that
    /// the secret sits across the point where the client cuts such pages.
    Json2HtmlPage,
}

impl Echo {
    pub const ALL: [Echo; 6] = [
        Echo::XmlRpcTraceback,
        Echo::XmlRpcAccessDenied,
        Echo::XmlRpcUserError,
        Echo::JsonRpcDataMessage,
        Echo::Json2UrlEncoded,
        Echo::Json2HtmlPage,
    ];

    /// Whether the connection should give an API key (JSON-2 needs one).
    pub fn uses_api_key(self) -> bool {
        matches!(self, Echo::Json2UrlEncoded | Echo::Json2HtmlPage)
    }
}

/// Serves the fake Odoo on a free loopback port; returns its URL.
pub async fn serve(echo: Echo) -> String {
    let router = Router::new()
        .route("/web/version", get(move || web_version(echo)))
        .route(
            "/xmlrpc/2/{service}",
            post(move |body: Bytes| xmlrpc(echo, body)),
        )
        .route("/jsonrpc", post(move |body: Bytes| jsonrpc(echo, body)))
        .route(
            "/json/2/{model}/{method}",
            post(move |headers: HeaderMap| json2(echo, headers)),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The secret as the request carried it, read back out of an XML-RPC call (the fourth
/// `<string>` of `authenticate(db, login, secret, {})`, or the third of `execute_kw`).
fn secret_in_xml(body: &str) -> String {
    let strings: Vec<&str> = body
        .split("<string>")
        .skip(1)
        .filter_map(|s| s.split("</string>").next())
        .collect();
    let raw = strings.get(2).copied().unwrap_or_default();
    raw.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

async fn web_version(echo: Echo) -> Response {
    if echo.uses_api_key() {
        axum::Json(
            json!({"server_version": "19.0", "server_version_info": [19, 0, 0, "final", 0, ""]}),
        )
        .into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

fn xml_value(value: &str) -> String {
    format!("<value><string>{}</string></value>", xml_escape(value))
}

async fn xmlrpc(echo: Echo, body: Bytes) -> Response {
    let body = String::from_utf8_lossy(&body).into_owned();
    if echo == Echo::JsonRpcDataMessage {
        return StatusCode::NOT_FOUND.into_response();
    }
    let xml = |inner: String| {
        (
            [("content-type", "text/xml")],
            format!("<?xml version='1.0'?>\n<methodResponse>{inner}</methodResponse>"),
        )
            .into_response()
    };
    if body.contains("<methodName>version</methodName>") {
        return xml(format!(
            "<params><param><value><struct>\
             <member><name>server_version</name>{}</member>\
             <member><name>server_version_info</name><value><array><data>\
             <value><int>17</int></value><value><int>0</int></value>\
             </data></array></value></member>\
             <member><name>protocol_version</name><value><int>1</int></value></member>\
             </struct></value></param></params>",
            xml_value("17.0")
        ));
    }
    let secret = secret_in_xml(&body);
    let (code, message) = match echo {
        Echo::XmlRpcTraceback => (
            1,
            format!(
                "Traceback (most recent call last):\n  File \"/odoo/service/model.py\", line 1\n    \
                 raise ValueError(args)\nValueError: ('acme', 'admin', '{secret}', {{}})"
            ),
        ),
        Echo::XmlRpcAccessDenied => (3, format!("Access Denied for password '{secret}'")),
        _ => (
            2,
            format!("UserError: the key {secret} is not valid for this database"),
        ),
    };
    xml(format!(
        "<fault><value><struct>\
         <member><name>faultCode</name><value><int>{code}</int></value></member>\
         <member><name>faultString</name>{}</member>\
         </struct></value></fault>",
        xml_value(&message)
    ))
}

/// JSON with every non-ASCII character as `\uXXXX`, as Python's `json.dumps` writes it.
fn ascii_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

async fn jsonrpc(echo: Echo, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let args = &request["params"]["args"];
    let id = request["id"].clone();
    if request["params"]["method"] == "version" {
        return axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": {
            "server_version": "17.0", "server_version_info": [17, 0, 0, "final", 0, ""],
            "protocol_version": 1}}))
        .into_response();
    }
    let secret = args[2].as_str().unwrap_or_default().to_string();
    debug_assert!(echo == Echo::JsonRpcDataMessage);
    let answer = json!({"jsonrpc": "2.0", "id": id, "error": {
        "code": 200, "message": "Odoo Server Error",
        "data": {"name": "odoo.exceptions.UserError",
                 "message": format!("Wrong password {secret} for admin"),
                 "debug": format!("Traceback ...\nUserError: Wrong password {secret}")}}});
    ([("content-type", "application/json")], ascii_json(&answer)).into_response()
}

async fn json2(echo: Echo, headers: HeaderMap) -> Response {
    let secret = headers
        .get("authorization")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .and_then(|v| v.split_once(' ').map(|(_, key)| key.to_string()))
        .unwrap_or_default();
    match echo {
        Echo::Json2UrlEncoded => {
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({
                    "name": "odoo.exceptions.UserError",
                    "message": format!("refused GET /web?key={encoded}&db=acme"),
                })),
            )
                .into_response()
        }
        _ => {
            // The secret starts at character 285: whole, it crosses the client's 300-character cut.
            let padding = "x".repeat(274);
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [("content-type", "text/html")],
                format!("<html>{padding} key={secret} </html>"),
            )
                .into_response()
        }
    }
}
