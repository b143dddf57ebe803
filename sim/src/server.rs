//! The HTTP server: the routes (at the root and per database under `/db/<name>`), gzip,
//! `GET /web/version` and the simulator-only routes (`/__sim/stats`). Each protocol's
//! endpoint lives in its own module; they share [`crate::scope`], [`crate::pipeline`] and
//! [`crate::render`], never this one.

use crate::conn::ConnHandle;
use crate::counters::CallStats;
use crate::pipeline::{run_call, Protocol};
use crate::render::{body_response, not_found, odoo_not_found, JSON};
use crate::scope::{params_of, scope_of, Params};
use crate::services::Routed;
use crate::state::AppState;
use crate::{json2_api, jsonrpc_api, xmlrpc_api};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value as Json};
use tower_http::compression::CompressionLayer;

/// `GET /web/version` exists from this version on (with JSON-2; 17.0 answers 404).
const WEB_VERSION_SINCE: u32 = 19;

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
        records_asked: None,
    };
    let v = scope.version();
    if v < WEB_VERSION_SINCE {
        return odoo_not_found();
    }
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
