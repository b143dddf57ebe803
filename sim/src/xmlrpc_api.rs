//! XML-RPC endpoints `/xmlrpc/2/common` and `/xmlrpc/2/object`: decode the call with the
//! shared codec, run it, answer with a value or a fault (always HTTP 200, as Odoo does).

use crate::conn::ConnHandle;
use crate::odoo_error::OdooError;
use crate::pipeline::{run_call, Protocol};
use crate::render::{not_found, xmlrpc_fault, xmlrpc_value};
use crate::scope::{params_of, scope_of, Params};
use crate::services::{self, RpcCall};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use shared::odoo::xmlrpc::{decode_call, Limits, Value};

/// `POST /xmlrpc/2/{service}`.
pub async fn handle(
    State(state): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    params: Params,
    body: Bytes,
) -> Response {
    let params = params_of(params);
    let Some(scope) = scope_of(&state, &params) else {
        return not_found();
    };
    let service = params.get("service").cloned().unwrap_or_default();
    if !matches!(service.as_str(), "common" | "object" | "db") {
        return not_found();
    }
    let version = scope.version();
    let call = match decode_call(&body, &Limits::default()) {
        Ok(c) => c,
        Err(e) => {
            // Python's parser fails with an ExpatError, which Odoo turns into fault 1.
            let err = OdooError::Server {
                name: "xml.parsers.expat.ExpatError".into(),
                message: e.to_string(),
            };
            return xmlrpc_fault(&err, version);
        }
    };
    let call = RpcCall {
        service,
        method: call.method,
        params: call.params.iter().map(Value::to_json).collect(),
    };
    let routed = services::route(&scope, &call);
    let ip = conn.remote.ip();
    run_call(
        &state,
        &conn,
        Protocol::XmlRpc,
        &routed,
        version,
        || match services::dispatch(&scope, &routed, call, ip) {
            Ok(v) => xmlrpc_value(&v, version),
            Err(e) => xmlrpc_fault(&e, version),
        },
    )
    .await
}
