//! JSON-2 endpoint `POST /json/2/<model>/<method>` (Odoo 19+): bearer API key, database from
//! `X-Odoo-Database` (optional when there is one), named arguments in the body, the bare result
//! back, and errors with real HTTP statuses and `{name, message, arguments, context, debug}`.

use crate::conn::ConnHandle;
use crate::methods::{self, is_record_method, Args};
use crate::odoo_error::{json2_http_error, OdooError};
use crate::server::{
    body_response, header_str, not_found, params_of, run_call, scope_of, AppState, Params,
    Protocol, JSON,
};
use crate::services::Routed;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value as Json};

/// The JSON-2 rendering of an Odoo exception.
pub fn error_response(err: &OdooError) -> Response {
    let (status, body) = err.json2_response();
    json_response(status, &body)
}

fn json_response(status: u16, body: &Json) -> Response {
    body_response(status, JSON, body.to_string().into_bytes())
}

fn http_error(status: u16, description: &str) -> Response {
    let (status, body) = json2_http_error(status, description);
    json_response(status, &body)
}

/// The key of `Authorization: bearer <key>` (the scheme is case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = header_str(headers, "authorization")?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

/// `POST /json/2/{model}/{method}`.
pub async fn handle(
    State(state): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    params: Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = params_of(params);
    let Some(scope) = scope_of(&state, &params) else {
        return not_found();
    };
    let version = scope.version();
    // The route only exists from Odoo 19 on.
    if version < 19 {
        return not_found();
    }
    let model = params.get("model").cloned().unwrap_or_default();
    let method = params.get("method").cloned().unwrap_or_default();
    let named_db = header_str(&headers, "x-odoo-database").map(str::to_string);
    let db = match &named_db {
        Some(name) => scope.database(name),
        None => scope.default_database(),
    };
    let routed = Routed {
        db,
        method: method.clone(),
        object: true,
    };
    run_call(&state, &conn, Protocol::Json2, &routed, version, || {
        let Some(db) = &routed.db else {
            return match &named_db {
                Some(name) => http_error(404, &format!("database {name:?} not found")),
                None => http_error(
                    404,
                    "No database selected: send the X-Odoo-Database header or use a single-database server",
                ),
            };
        };
        // Only API keys authenticate here; a password is an invalid key.
        let Some(user) = bearer(&headers).and_then(|k| db.check_api_key(k)) else {
            return http_error(401, "Invalid apikey");
        };
        let mut named: Map<String, Json> = if body.is_empty() {
            Map::new()
        } else {
            match serde_json::from_slice::<Json>(&body) {
                Ok(Json::Object(m)) => m,
                Ok(_) => return http_error(400, "could not parse the body, expecting a json object"),
                Err(e) => return http_error(400, &format!("could not parse the body as json: {e}")),
            }
        };
        let ids = named.remove("ids");
        let context = named.remove("context");
        let has_ids = matches!(&ids, Some(Json::Array(a)) if !a.is_empty());
        if db.schema.model(&model).is_some()
            && !method.starts_with('_')
            && !is_record_method(&method)
            && has_ids
        {
            return http_error(422, &format!("cannot call {model}.{method} with ids"));
        }
        let positional = if is_record_method(&method) {
            vec![ids.unwrap_or(Json::Array(Vec::new()))]
        } else {
            Vec::new()
        };
        match methods::execute(db, &user, &model, &method, Args { positional, named }, context) {
            Ok(v) => json_response(200, &v),
            Err(e) => error_response(&e),
        }
    })
    .await
}
