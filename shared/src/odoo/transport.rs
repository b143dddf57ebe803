//! The three wire protocols behind one client: XML-RPC (`/xmlrpc/2/*`), JSON-RPC (`/jsonrpc`)
//! and JSON-2 (`/json/2/<model>/<method>`, Odoo 19+). Each turns a call into an HTTP request
//! and an answer (or an error body) into a JSON value or a classified [`OdooError`].

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use super::connection::OdooUrl;
use super::error::{classify_fault, classify_odoo_exception, summarize_server_message};
use super::redact::Redactor;
use super::xmlrpc::{self, Limits, MethodResponse};
use super::{OdooError, TransientKind};

/// Which of Odoo's external APIs a tenant's calls go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Json2,
    XmlRpc,
    JsonRpc,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Json2 => "json2",
            Protocol::XmlRpc => "xmlrpc",
            Protocol::JsonRpc => "jsonrpc",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = OdooError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json2" => Ok(Protocol::Json2),
            "xmlrpc" => Ok(Protocol::XmlRpc),
            "jsonrpc" => Ok(Protocol::JsonRpc),
            other => Err(OdooError::InvalidSetting(format!(
                "protocol {other:?} is not one of json2, xmlrpc, jsonrpc"
            ))),
        }
    }
}

/// What a call is about, for classifying its errors.
#[derive(Clone, Copy)]
pub(crate) struct CallTarget<'a> {
    pub db: &'a str,
    pub model: Option<&'a str>,
}

/// The HTTP side shared by the three protocols. Every error it returns has been through
/// the connection's [`Redactor`]: Odoo's error texts are scrubbed before they are
/// summarised (a cut could otherwise leave half a secret behind), and the finished error
/// once more, so no message made from an answer can carry the secret.
pub(crate) struct Wire {
    http: reqwest::Client,
    url: OdooUrl,
    limits: Limits,
    next_id: AtomicU64,
    redactor: Redactor,
}

impl Wire {
    pub fn new(http: reqwest::Client, url: OdooUrl, limits: Limits, redactor: Redactor) -> Self {
        Wire {
            http,
            url,
            limits,
            next_id: AtomicU64::new(1),
            redactor,
        }
    }

    /// The redactor of this connection's secret.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// An XML-RPC call on `/xmlrpc/2/<service>`, its error scrubbed.
    pub async fn xmlrpc(
        &self,
        service: &str,
        method: &str,
        params: &[Value],
        target: CallTarget<'_>,
    ) -> Result<Value, OdooError> {
        self.xmlrpc_call(service, method, params, target)
            .await
            .map_err(|e| self.redactor.error(e))
    }

    /// A JSON-RPC call on `/jsonrpc`, its error scrubbed.
    pub async fn jsonrpc(
        &self,
        service: &str,
        method: &str,
        args: &[Value],
        target: CallTarget<'_>,
    ) -> Result<Value, OdooError> {
        self.jsonrpc_call(service, method, args, target)
            .await
            .map_err(|e| self.redactor.error(e))
    }

    /// A JSON-2 call, its error scrubbed.
    pub async fn json2(
        &self,
        model: &str,
        method: &str,
        body: &Value,
        api_key: &str,
        target: CallTarget<'_>,
    ) -> Result<Value, OdooError> {
        self.json2_call(model, method, body, api_key, target)
            .await
            .map_err(|e| self.redactor.error(e))
    }

    /// `GET /web/version`, its error scrubbed.
    pub async fn web_version(&self) -> Result<Value, OdooError> {
        self.web_version_call()
            .await
            .map_err(|e| self.redactor.error(e))
    }

    async fn xmlrpc_call(
        &self,
        service: &str,
        method: &str,
        params: &[Value],
        target: CallTarget<'_>,
    ) -> Result<Value, OdooError> {
        let params: Vec<xmlrpc::Value> = params.iter().map(xmlrpc::Value::from_json).collect();
        let body = xmlrpc::encode_call(method, &params);
        let response = self
            .http
            .post(self.url.endpoint(&format!("/xmlrpc/2/{service}")))
            .header(CONTENT_TYPE, "text/xml")
            .body(body)
            .send()
            .await
            .map_err(transport_error)?;
        let response = check_rpc_status(response, Protocol::XmlRpc).await?;
        let bytes = read_body(response, self.limits.max_bytes).await?;
        match xmlrpc::decode_response(&bytes, &self.limits) {
            Ok(MethodResponse::Success(value)) => Ok(value.into()),
            Ok(MethodResponse::Fault(fault)) => Err(classify_fault(
                fault.code,
                &self.redactor.text(&fault.message),
                target.model,
                target.db,
            )),
            Err(e) => Err(OdooError::Protocol(format!("XML-RPC answer: {e}"))),
        }
    }

    async fn jsonrpc_call(
        &self,
        service: &str,
        method: &str,
        args: &[Value],
        target: CallTarget<'_>,
    ) -> Result<Value, OdooError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = json!({
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": args},
            "id": id,
        });
        let response = self
            .http
            .post(self.url.endpoint("/jsonrpc"))
            .json(&request)
            .send()
            .await
            .map_err(transport_error)?;
        let response = check_rpc_status(response, Protocol::JsonRpc).await?;
        let bytes = read_body(response, self.limits.max_bytes).await?;
        let mut answer: Value = serde_json::from_slice(&bytes)
            .map_err(|e| OdooError::Protocol(format!("JSON-RPC answer is not JSON: {e}")))?;
        if let Some(error) = answer.get("error") {
            return Err(classify_json_error(error, target, &self.redactor));
        }
        match answer.get_mut("result") {
            Some(result) => Ok(result.take()),
            None => Err(OdooError::Protocol(
                "JSON-RPC answer has neither result nor error".into(),
            )),
        }
    }

    /// A JSON-2 call: `POST /json/2/<model>/<method>` with named arguments.
    async fn json2_call(
        &self,
        model: &str,
        method: &str,
        body: &Value,
        api_key: &str,
        target: CallTarget<'_>,
    ) -> Result<Value, OdooError> {
        let response = self
            .http
            .post(self.url.endpoint(&format!("/json/2/{model}/{method}")))
            .header(AUTHORIZATION, format!("bearer {api_key}"))
            .header("X-Odoo-Database", target.db)
            .json(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if let Some(e) = throttling_error(status, response.headers()) {
            return Err(e);
        }
        let bytes = read_body(response, self.limits.max_bytes).await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| OdooError::Protocol(format!("JSON-2 answer is not JSON: {e}")));
        }
        Err(classify_json2_error(status, &bytes, target, &self.redactor))
    }

    /// `GET /web/version`: `{"version_info": [...], "version": "19.0"}` on recent servers.
    async fn web_version_call(&self) -> Result<Value, OdooError> {
        let response = self
            .http
            .get(self.url.endpoint("/web/version"))
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if let Some(e) = throttling_error(status, response.headers()) {
            return Err(e);
        }
        if !status.is_success() {
            return Err(OdooError::ApiUnavailable {
                protocol: Protocol::Json2.to_string(),
                detail: format!("GET /web/version answered {status}"),
            });
        }
        let bytes = read_body(response, self.limits.max_bytes).await?;
        serde_json::from_slice(&bytes).map_err(|_| OdooError::ApiUnavailable {
            protocol: Protocol::Json2.to_string(),
            detail: "GET /web/version did not answer JSON".into(),
        })
    }
}

/// Maps a reqwest failure (no usable response) to a transient error. The message is
/// reqwest's, which names the URL but never a secret: secrets travel only in bodies and
/// headers.
fn transport_error(error: reqwest::Error) -> OdooError {
    let kind = if error.is_timeout() {
        TransientKind::Timeout
    } else if error.is_connect() {
        TransientKind::Connect
    } else {
        TransientKind::Reset
    };
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        detail.push_str(": ");
        detail.push_str(&inner.to_string());
        source = inner.source();
    }
    OdooError::Transient { kind, detail }
}

/// 429 and gateway errors mean the same on every endpoint.
fn throttling_error(status: StatusCode, headers: &HeaderMap) -> Option<OdooError> {
    match status.as_u16() {
        429 => Some(OdooError::RateLimited {
            retry_after: parse_retry_after(headers),
        }),
        502 => Some(OdooError::Transient {
            kind: TransientKind::BadGateway,
            detail: "the server or a proxy answered 502".into(),
        }),
        503 => Some(OdooError::Transient {
            kind: TransientKind::ServiceUnavailable,
            detail: "the server answered 503".into(),
        }),
        504 => Some(OdooError::Transient {
            kind: TransientKind::GatewayTimeout,
            detail: "a proxy answered 504".into(),
        }),
        _ => None,
    }
}

/// `Retry-After` as seconds or as an HTTP date.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = when.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// XML-RPC and JSON-RPC answer 200 even for errors; anything else is the endpoint missing,
/// throttling, or a proxy in the way.
async fn check_rpc_status(response: Response, protocol: Protocol) -> Result<Response, OdooError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if let Some(e) = throttling_error(status, response.headers()) {
        return Err(e);
    }
    match status.as_u16() {
        404 | 405 => Err(OdooError::ApiUnavailable {
            protocol: protocol.to_string(),
            detail: format!("the server answered {status} for the {protocol} endpoint"),
        }),
        401 | 403 => Err(OdooError::ApiUnavailable {
            protocol: protocol.to_string(),
            detail: format!(
                "the server answered {status}: the external API may not be enabled on this plan"
            ),
        }),
        _ => Err(OdooError::ServerFault {
            code: status.as_u16().to_string(),
            message: format!("the server answered {status}"),
        }),
    }
}

/// Reads a body up to `max` bytes; a larger answer is refused rather than buffered.
async fn read_body(mut response: Response, max: usize) -> Result<Vec<u8>, OdooError> {
    if let Some(length) = response.content_length() {
        if length > max as u64 {
            return Err(OdooError::Protocol(format!(
                "answer of {length} bytes is larger than the limit of {max}"
            )));
        }
    }
    let mut body = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > max {
            return Err(OdooError::Protocol(format!(
                "answer is larger than the limit of {max} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// JSON-RPC's `{"code": 200, "message": "Odoo Server Error", "data": {"name", "message"}}`.
fn classify_json_error(error: &Value, target: CallTarget<'_>, redactor: &Redactor) -> OdooError {
    let data = error.get("data");
    let name = data
        .and_then(|d| d.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let message = data
        .and_then(|d| d.get("message"))
        .and_then(Value::as_str)
        .or_else(|| error.get("message").and_then(Value::as_str))
        .unwrap_or("unknown error");
    classify_odoo_exception(name, &redactor.text(message), target.model, target.db)
}

/// JSON-2 errors: a real status and `{name, message, arguments, context, debug}`, or on some
/// versions a bare string.
fn classify_json2_error(
    status: StatusCode,
    body: &[u8],
    target: CallTarget<'_>,
    redactor: &Redactor,
) -> OdooError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let (name, message) = match &parsed {
        Some(Value::Object(map)) => (
            map.get("name").and_then(Value::as_str).unwrap_or(""),
            map.get("message").and_then(Value::as_str).unwrap_or(""),
        ),
        Some(Value::String(text)) => ("", text.as_str()),
        _ => ("", ""),
    };
    let message = if message.is_empty() {
        // A body that is neither shape is likely an HTML page from a proxy or an old server;
        // scrubbed whole before the cut, which could split a secret.
        let text = redactor.text(&String::from_utf8_lossy(body));
        let cut: String = text.chars().take(300).collect();
        summarize_server_message(&cut)
    } else {
        redactor.text(message)
    };
    match status.as_u16() {
        401 => OdooError::AuthenticationFailed {
            reason: if message.is_empty() {
                "the API key was refused".into()
            } else {
                message
            },
        },
        403 => OdooError::AccessDenied {
            model: target.model.unwrap_or("").to_string(),
            message,
        },
        404 if message.contains("does not exist") && parsed.is_some() => OdooError::MissingModel {
            model: target.model.unwrap_or("").to_string(),
        },
        404 => OdooError::ApiUnavailable {
            protocol: Protocol::Json2.to_string(),
            detail: format!("the server answered {status}: {message}"),
        },
        _ => classify_odoo_exception(name, &message, target.model, target.db),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&headers), None);
    }

    #[test]
    fn a_secret_quoted_across_the_cut_of_an_html_page_leaves_no_part_behind() {
        let target = CallTarget {
            db: "demo",
            model: Some("res.partner"),
        };
        let secret = "k3y-0f-f0rty-ch4racters-that-must-not-leak";
        // The secret starts at character 285 and crosses the 300-character cut; the marker fits.
        let page = format!("<html>{} key={secret}</html>", "x".repeat(274));
        let r = Redactor::new(secret);
        let error = classify_json2_error(StatusCode::NOT_FOUND, page.as_bytes(), target, &r);
        let text = error.to_string();
        assert!(!text.contains("k3y-0f"), "{text}");
        assert!(text.contains(crate::odoo::REDACTED), "{text}");
    }

    #[test]
    fn faults_and_json_rpc_errors_quoting_the_secret_are_scrubbed() {
        let target = CallTarget {
            db: "demo",
            model: Some("res.partner"),
        };
        let r = Redactor::new("pa&ss\"word");
        let error = json!({"code": 200, "message": "Odoo Server Error",
            "data": {"name": "odoo.exceptions.UserError", "message": "bad pa&ss\"word"}});
        let text = classify_json_error(&error, target, &r).to_string();
        assert!(!text.contains("pa&ss"), "{text}");
        assert!(text.contains(crate::odoo::REDACTED), "{text}");
    }

    #[test]
    fn json2_error_bodies_are_classified() {
        let target = CallTarget {
            db: "demo",
            model: Some("res.partner"),
        };
        let r = Redactor::default();
        let body = br#"{"name": "werkzeug.exceptions.Unauthorized", "message": "Invalid apikey", "arguments": ["Invalid apikey", 401], "context": {}, "debug": ""}"#;
        assert!(matches!(
            classify_json2_error(StatusCode::UNAUTHORIZED, body, target, &r),
            OdooError::AuthenticationFailed { .. }
        ));
        let body = br#"{"name": "werkzeug.exceptions.NotFound", "message": "the model 'no.such.model' does not exist"}"#;
        assert!(matches!(
            classify_json2_error(StatusCode::NOT_FOUND, body, target, &r),
            OdooError::MissingModel { .. }
        ));
        let body = br#"{"name": "builtins.ValueError", "message": "Invalid field res.partner.x in condition ('x', '=', 1)"}"#;
        assert!(matches!(
            classify_json2_error(StatusCode::INTERNAL_SERVER_ERROR, body, target, &r),
            OdooError::InvalidField { .. }
        ));
        let body = br#""Invalid apikey""#;
        assert!(matches!(
            classify_json2_error(StatusCode::UNAUTHORIZED, body, target, &r),
            OdooError::AuthenticationFailed { .. }
        ));
        let body = b"<html>Not Found</html>";
        assert!(matches!(
            classify_json2_error(StatusCode::NOT_FOUND, body, target, &r),
            OdooError::ApiUnavailable { .. }
        ));
    }
}
