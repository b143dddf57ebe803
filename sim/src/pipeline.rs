//! The per-call pipeline every protocol runs a call through: count it, apply the faults that
//! fire (latency, proxy errors, resets, hangs, truncated or malformed bodies, server faults),
//! then run it.

use crate::conn::ConnHandle;
use crate::faults::{FaultKind, Faults};
use crate::odoo_error::OdooError;
use crate::render::{self, body_response, JSON, XML};
use crate::services::Routed;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json;
use std::time::Duration;

/// How a protocol shows the simulator's faults.
pub enum Protocol {
    XmlRpc,
    /// JSON-RPC with the request's id.
    JsonRpc(Json),
    Json2,
}

impl Protocol {
    fn content_type(&self) -> &'static str {
        match self {
            Protocol::XmlRpc => XML,
            _ => JSON,
        }
    }

    /// The protocol's rendering of an Odoo exception.
    pub fn error(&self, err: &OdooError, version: u32) -> Response {
        match self {
            Protocol::XmlRpc => render::xmlrpc_fault(err, version),
            Protocol::JsonRpc(id) => render::jsonrpc_error(id, err, version),
            Protocol::Json2 => render::json2_error(err),
        }
    }

    fn malformed(&self) -> Response {
        let body: &[u8] = match self {
            Protocol::XmlRpc => {
                b"<?xml version=\"1.0\"?>\n<methodResponse>\n<params>\n<param>\n<value><struct>\n<member>\n<name>id</name><value><int>1</int>\n</member></struct>\n&bogus;</param>"
            }
            _ => b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"result\": [{\"id\": 1, \"name\": \"Acme\"",
        };
        body_response(200, self.content_type(), body.to_vec())
    }
}

/// nginx's error page for a status, as a proxy in front of Odoo sends it.
fn proxy_error(status: u16, reason: &str) -> Response {
    let page = format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    body_response(status, "text/html", page.into_bytes())
}

/// Sleeps, or returns early when the server shuts down.
async fn sleep_or_shutdown(state: &AppState, d: Duration) {
    let mut rx = state.shutdown.subscribe();
    if *rx.borrow() {
        return;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = rx.changed() => {}
    }
}

/// The per-call pipeline: count the call, apply the faults that fire, then run it.
pub async fn run_call(
    state: &AppState,
    conn: &ConnHandle,
    protocol: Protocol,
    routed: &Routed,
    version: u32,
    run: impl FnOnce() -> Response,
) -> Response {
    let faults: &Faults = match &routed.db {
        Some(db) => {
            db.counters.record(&routed.method);
            &db.faults
        }
        None => {
            state.counters.record(&routed.method);
            &state.faults
        }
    };
    let plan = faults.plan(&routed.method, routed.object, routed.records_asked);
    if !plan.latency.is_zero() {
        sleep_or_shutdown(state, plan.latency).await;
    }
    match plan.failure {
        None => run(),
        Some(FaultKind::Latency(_)) => run(),
        Some(FaultKind::TooManyRequests { retry_after_secs }) => {
            let mut r = proxy_error(429, "Too Many Requests");
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Some(FaultKind::BadGateway) => proxy_error(502, "Bad Gateway"),
        Some(FaultKind::ServiceUnavailable) => proxy_error(503, "Service Temporarily Unavailable"),
        Some(FaultKind::GatewayTimeout | FaultKind::PageTimeout { .. }) => {
            proxy_error(504, "Gateway Time-out")
        }
        Some(FaultKind::ConnectionReset) => {
            conn.kill();
            // Whatever is returned is never written: the killed stream refuses the write.
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Some(FaultKind::Hang(d)) => {
            sleep_or_shutdown(state, d).await;
            conn.kill();
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Some(FaultKind::TruncatedBody) => {
            let full = run();
            let (parts, body) = full.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let half = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
            // Half the body, a pause so that hyper flushes headers and that half, then a
            // broken stream: hyper aborts the connection mid-body.
            let chunks = futures_util::stream::unfold(0u8, move |step| {
                let half = half.clone();
                async move {
                    match step {
                        0 => Some((Ok(half), 1)),
                        1 => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            let err = std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
                            Some((Err::<Bytes, _>(err), 2))
                        }
                        _ => None,
                    }
                }
            });
            let mut resp = Response::from_parts(parts, Body::from_stream(chunks));
            resp.headers_mut().remove(header::CONTENT_LENGTH);
            resp
        }
        Some(FaultKind::MalformedBody) => protocol.malformed(),
        Some(FaultKind::ServerFault) => protocol.error(
            &OdooError::Server {
                name: "psycopg2.errors.SerializationFailure".into(),
                message: "could not serialize access due to concurrent update".into(),
            },
            version,
        ),
    }
}
