//! The HTTP server: routes (at the root and per database under `/db/<name>`), gzip, the
//! per-call pipeline (count, faults, dispatch) and the simulator-only routes (`/__sim/stats`).

use crate::conn::ConnHandle;
use crate::counters::CallStats;
use crate::database::Database;
use crate::faults::{FaultKind, Faults};
use crate::odoo_error::OdooError;
use crate::services::Routed;
use crate::simulator::SimInner;
use crate::{json2_api, jsonrpc_api, xmlrpc_api};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tower_http::compression::CompressionLayer;

pub const XML: &str = "text/xml; charset=utf-8";
pub const JSON: &str = "application/json; charset=utf-8";

/// Which databases a request may reach: all of them at the root, one under `/db/<name>`
/// (like Odoo's `dbfilter`).
#[derive(Clone)]
pub struct Scope {
    pub sim: Arc<SimInner>,
    pub pinned: Option<Arc<Database>>,
}

impl Scope {
    /// The named database, if this scope can reach it.
    pub fn database(&self, name: &str) -> Option<Arc<Database>> {
        match &self.pinned {
            Some(db) if db.name == name => Some(db.clone()),
            Some(_) => None,
            None => self.sim.database(name),
        }
    }

    /// The database of calls that name none: the pinned one, or the only one.
    pub fn default_database(&self) -> Option<Arc<Database>> {
        self.pinned.clone().or_else(|| self.sim.only_database())
    }

    /// The Odoo version this URL answers as.
    pub fn version(&self) -> u32 {
        self.pinned
            .as_ref()
            .map_or_else(|| self.sim.root_version(), |db| db.version)
    }
}

/// Shared state of all handlers.
pub type AppState = Arc<SimInner>;

/// Builds the scope of a request from its `/db/<name>` prefix, if any; `None` for a prefix
/// naming no database (answered 404, like a URL no route matches).
pub fn scope_of(state: &AppState, params: &HashMap<String, String>) -> Option<Scope> {
    let pinned = match params.get("dbname") {
        None => None,
        Some(name) => Some(state.database(name)?),
    };
    Some(Scope {
        sim: state.clone(),
        pinned,
    })
}

/// Werkzeug's plain 404 page.
pub fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n",
    )
        .into_response()
}

/// A response with a body and content type.
pub fn body_response(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

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
            Protocol::XmlRpc => xmlrpc_api::fault_response(err),
            Protocol::JsonRpc(id) => jsonrpc_api::error_response(id, err, version),
            Protocol::Json2 => json2_api::error_response(err),
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
    let plan = faults.plan(&routed.method, routed.object);
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
        Some(FaultKind::GatewayTimeout) => proxy_error(504, "Gateway Time-out"),
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

/// Path parameters of a route that may have none (the root routes) or some (`/db/{dbname}`).
pub type Params = Option<Path<HashMap<String, String>>>;

/// The path parameters as a map (empty for the root routes).
pub fn params_of(p: Params) -> HashMap<String, String> {
    p.map(|Path(m)| m).unwrap_or_default()
}

async fn web_version(
    State(state): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    params: Params,
) -> Response {
    let Some(scope) = scope_of(&state, &params_of(params)) else {
        return not_found();
    };
    let routed = Routed {
        db: scope.default_database(),
        method: "web_version".into(),
        object: false,
    };
    let v = scope.version();
    run_call(&state, &conn, Protocol::Json2, &routed, v, || {
        let body = json!({"version_info": [v, 0, 0, "final", 0, ""], "version": format!("{v}.0")});
        body_response(200, JSON, body.to_string().into_bytes())
    })
    .await
}

async fn stats_all(State(state): State<AppState>) -> Response {
    let dbs: serde_json::Map<String, Json> = state
        .all_databases()
        .iter()
        .map(|db| {
            (
                db.name.clone(),
                stats_json(&db.name, &db.counters.snapshot()),
            )
        })
        .collect();
    let body = json!({"databases": dbs, "server": state.counters.snapshot()});
    body_response(200, JSON, body.to_string().into_bytes())
}

fn stats_json(name: &str, stats: &CallStats) -> Json {
    json!({"database": name, "total": stats.total, "methods": stats.methods})
}

async fn stats_one(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.database(&name) {
        Some(db) => body_response(
            200,
            JSON,
            stats_json(&name, &db.counters.snapshot())
                .to_string()
                .into_bytes(),
        ),
        None => (StatusCode::NOT_FOUND, format!("no database {name:?}\n")).into_response(),
    }
}

async fn stats_reset(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.database(&name) {
        Some(db) => {
            db.counters.reset();
            body_response(
                200,
                JSON,
                stats_json(&name, &db.counters.snapshot())
                    .to_string()
                    .into_bytes(),
            )
        }
        None => (StatusCode::NOT_FOUND, format!("no database {name:?}\n")).into_response(),
    }
}

/// The Odoo routes, mounted at the root and under `/db/{dbname}`.
fn odoo_routes() -> Router<AppState> {
    Router::new()
        .route("/xmlrpc/2/{service}", post(xmlrpc_api::handle))
        .route("/jsonrpc", post(jsonrpc_api::handle))
        .route(
            "/web/session/authenticate",
            post(jsonrpc_api::session_authenticate),
        )
        .route("/json/2/{model}/{method}", post(json2_api::handle))
        .route("/web/version", get(web_version))
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(odoo_routes())
        .nest("/db/{dbname}", odoo_routes())
        .route("/__sim/stats", get(stats_all))
        .route("/__sim/stats/{name}", get(stats_one).delete(stats_reset))
        .route("/__sim/stats/{name}/reset", post(stats_reset))
        .fallback(|| async { not_found() })
        .layer(CompressionLayer::new())
        .with_state(state)
}

/// Reads a header as text.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
