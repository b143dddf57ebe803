//! JSON-RPC endpoint `/jsonrpc` (services `common` and `object`, errors as HTTP 200 with an
//! `error` member) and the web login `/web/session/authenticate`, the one place where Odoo
//! shows its "Too many login failures" refusal.

use crate::conn::ConnHandle;
use crate::odoo_error::OdooError;
use crate::pipeline::{run_call, Protocol};
use crate::render::{
    jsonrpc_error as error_response, jsonrpc_result as result_response, not_found,
};
use crate::scope::{params_of, scope_of, Params};
use crate::services::{self, Routed, RpcCall};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use serde_json::{json, Value as Json};

fn bad_request(message: &str, version: u32) -> Response {
    error_response(
        &Json::Null,
        &OdooError::Server {
            name: "werkzeug.exceptions.BadRequest".into(),
            message: message.into(),
        },
        version,
    )
}

/// `POST /jsonrpc`.
pub async fn handle(
    State(state): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    params: Params,
    body: Bytes,
) -> Response {
    let Some(scope) = scope_of(&state, &params_of(params)) else {
        return not_found();
    };
    let version = scope.version();
    let request: Json = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(&format!("Invalid JSON data: {e}"), version),
    };
    let id = request.get("id").cloned().unwrap_or(Json::Null);
    let p = request.get("params").cloned().unwrap_or(Json::Null);
    let call = RpcCall {
        service: p.get("service").and_then(Json::as_str).unwrap_or("").into(),
        method: p.get("method").and_then(Json::as_str).unwrap_or("").into(),
        params: match p.get("args") {
            Some(Json::Array(a)) => a.clone(),
            _ => Vec::new(),
        },
    };
    let routed = services::route(&scope, &call);
    let ip = conn.remote.ip();
    run_call(
        &state,
        &conn,
        Protocol::JsonRpc(id.clone()),
        &routed,
        version,
        || match services::dispatch(&scope, &routed, call, ip) {
            Ok(v) => result_response(&id, v),
            Err(e) => error_response(&id, &e, version),
        },
    )
    .await
}

/// `POST /web/session/authenticate` with `{"params": {"db", "login", "password"}}`.
pub async fn session_authenticate(
    State(state): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    params: Params,
    body: Bytes,
) -> Response {
    let Some(scope) = scope_of(&state, &params_of(params)) else {
        return not_found();
    };
    let version = scope.version();
    let request: Json = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(&format!("Invalid JSON data: {e}"), version),
    };
    let id = request.get("id").cloned().unwrap_or(Json::Null);
    let p = request.get("params").cloned().unwrap_or(Json::Null);
    let field = |k: &str| p.get(k).and_then(Json::as_str).unwrap_or("").to_string();
    let (db_name, login, password) = (field("db"), field("login"), field("password"));
    let routed = Routed {
        db: scope.database(&db_name),
        method: "session_authenticate".into(),
        object: false,
        records_asked: None,
    };
    let ip = conn.remote.ip();
    run_call(
        &state,
        &conn,
        Protocol::JsonRpc(id.clone()),
        &routed,
        version,
        || {
            let Some(db) = &routed.db else {
                return error_response(&id, &OdooError::UnknownDatabase(db_name.clone()), version);
            };
            match db.login_with_cooldown(&login, &password, ip) {
                Ok(uid) => result_response(
                    &id,
                    json!({"uid": uid, "db": db.name, "username": login, "is_system": uid == 2}),
                ),
                Err(e) => error_response(&id, &e, version),
            }
        },
    )
    .await
}
