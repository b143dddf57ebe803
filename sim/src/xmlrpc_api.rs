//! XML-RPC endpoints `/xmlrpc/2/common` and `/xmlrpc/2/object`: decode the call with the
//! shared codec, run it, answer with a value or a fault (always HTTP 200, as Odoo does).

use crate::conn::ConnHandle;
use crate::odoo_error::OdooError;
use crate::server::{
    body_response, not_found, params_of, run_call, scope_of, AppState, Params, Protocol, XML,
};
use crate::services::{self, RpcCall};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use serde_json::Value as Json;
use shared::odoo::xmlrpc::{decode_call, encode_fault, encode_response, Fault, Limits, Value};

/// A fault response for an Odoo exception.
pub fn fault_response(err: &OdooError) -> Response {
    let fault = Fault {
        code: err.fault_code(),
        message: err.fault_string(),
    };
    body_response(200, XML, encode_fault(&fault))
}

fn value_response(v: &Json) -> Response {
    body_response(200, XML, encode_response(&Value::from_json(v)))
}

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
    let call = match decode_call(&body, &Limits::default()) {
        Ok(c) => c,
        Err(e) => {
            // Python's parser fails with an ExpatError, which Odoo turns into fault 1.
            return fault_response(&OdooError::Server {
                name: "xml.parsers.expat.ExpatError".into(),
                message: e.to_string(),
            });
        }
    };
    let call = RpcCall {
        service,
        method: call.method,
        params: call.params.iter().map(Value::to_json).collect(),
    };
    let routed = services::route(&scope, &call);
    let version = scope.version();
    let ip = conn.remote.ip();
    run_call(
        &state,
        &conn,
        Protocol::XmlRpc,
        &routed,
        version,
        || match services::dispatch(&scope, &routed, call, ip) {
            Ok(v) => value_response(&v),
            Err(e) => fault_response(&e),
        },
    )
    .await
}
