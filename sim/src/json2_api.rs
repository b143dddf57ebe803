//! JSON-2 endpoint `POST /json/2/<model>/<method>` (Odoo 19+; older versions answer Odoo's
//! HTML 404 page, as 17.0 does): bearer API key, database from `X-Odoo-Database` (optional
//! when there is one), named arguments in the body, the bare result back, and errors with
//! real HTTP statuses and `{name, message, arguments, context, debug}`.

use crate::conn::ConnHandle;
use crate::methods::{self, is_record_method, Args};
use crate::pipeline::{run_call, Protocol};
use crate::render::{json2_body, json2_error, json2_http, not_found, odoo_not_found};
use crate::scope::{params_of, scope_of, Params};
use crate::services::Routed;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value as Json};

/// JSON-2 exists from this version on.
const JSON2_SINCE: u32 = 19;

/// Reads a header as text.
fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
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
    if version < JSON2_SINCE {
        return odoo_not_found();
    }
    let model = params.get("model").cloned().unwrap_or_default();
    let method = params.get("method").cloned().unwrap_or_default();
    let named_db = header_str(&headers, "x-odoo-database").map(str::to_string);
    let db = match &named_db {
        Some(name) => scope.database(name),
        None => scope.default_database(),
    };
    // The body's named arguments, read once more here only to size the page for faults.
    let asked = serde_json::from_slice::<Json>(&body)
        .ok()
        .and_then(|b| crate::services::records_asked(b.get("domain"), Some(&b)));
    let routed = Routed {
        db,
        method: method.clone(),
        object: true,
        records_asked: asked,
    };
    run_call(&state, &conn, Protocol::Json2, &routed, version, || {
        let Some(db) = &routed.db else {
            return match &named_db {
                Some(name) => json2_http(404, &format!("database {name:?} not found")),
                None => json2_http(
                    404,
                    "No database selected: send the X-Odoo-Database header or use a single-database server",
                ),
            };
        };
        // Only API keys authenticate here; a password is an invalid key.
        let Some(user) = bearer(&headers).and_then(|k| db.check_api_key(k)) else {
            return json2_http(401, "Invalid apikey");
        };
        let mut named: Map<String, Json> = if body.is_empty() {
            Map::new()
        } else {
            match serde_json::from_slice::<Json>(&body) {
                Ok(Json::Object(m)) => m,
                Ok(_) => return json2_http(400, "could not parse the body, expecting a json object"),
                Err(e) => return json2_http(400, &format!("could not parse the body as json: {e}")),
            }
        };
        let ids = named.remove("ids");
        let context = named.remove("context");
        let has_ids = matches!(&ids, Some(Json::Array(a)) if !a.is_empty());
        if db.schema().model(&model).is_some()
            && !method.starts_with('_')
            && !is_record_method(&method)
            && has_ids
        {
            return json2_http(422, &format!("cannot call {model}.{method} with ids"));
        }
        let positional = if is_record_method(&method) {
            vec![ids.unwrap_or(Json::Array(Vec::new()))]
        } else {
            Vec::new()
        };
        match methods::execute(db, &user, &model, &method, Args { positional, named }, context) {
            Ok(v) => json2_body(200, &v),
            Err(e) => json2_error(&e),
        }
    })
    .await
}
