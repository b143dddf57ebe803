//! The RPC services shared by XML-RPC and JSON-RPC: `common` (version, login, authenticate)
//! and `object` (execute_kw, execute). Protocol modules decode a call into a [`RpcCall`],
//! [`route`] finds its database and counter name, [`dispatch`] runs it.

use crate::database::Database;
use crate::methods::{self, Args};
use crate::odoo_error::OdooError;
use crate::scope::Scope;
use serde_json::{json, Map, Value as Json};
use std::net::IpAddr;
use std::sync::Arc;

/// A decoded RPC call.
#[derive(Debug)]
pub struct RpcCall {
    pub service: String,
    pub method: String,
    pub params: Vec<Json>,
}

/// Where a call goes: its database (when it names an existing one) and how it is counted.
pub struct Routed {
    pub db: Option<Arc<Database>>,
    /// The counter and fault-filter name: the RPC method, or the model method of execute_kw.
    pub method: String,
    /// A model method call (the only kind the `ServerFault` fault hits).
    pub object: bool,
    /// Records a read asks for (see [`records_asked`]), for faults that depend on a page's size.
    pub records_asked: Option<u64>,
}

/// How many records a read asks for: its `limit`, else the number of ids an
/// `('id', 'in', [...])` leaf of its domain names; `None` when nothing bounds it.
pub fn records_asked(domain: Option<&Json>, kwargs: Option<&Json>) -> Option<u64> {
    if let Some(limit) = kwargs.and_then(|k| k.get("limit")).and_then(Json::as_u64) {
        return Some(limit);
    }
    domain?.as_array()?.iter().find_map(|leaf| {
        let leaf = leaf.as_array()?;
        match (
            leaf.first()?.as_str()?,
            leaf.get(1)?.as_str()?,
            leaf.get(2)?,
        ) {
            ("id", "in", Json::Array(ids)) => Some(ids.len() as u64),
            _ => None,
        }
    })
}

/// `common.version()` of a given major version.
pub fn version_info(version: u32) -> Json {
    let serie = format!("{version}.0");
    json!({
        "server_version": serie,
        "server_version_info": [version, 0, 0, "final", 0, ""],
        "server_serie": serie,
        "protocol_version": 1,
    })
}

/// Finds the database and counter name of a call, before faults and dispatch.
pub fn route(scope: &Scope, call: &RpcCall) -> Routed {
    let db_name = match (call.service.as_str(), call.method.as_str()) {
        ("common", "version") => None,
        _ => call.params.first().and_then(Json::as_str),
    };
    let db = match db_name {
        Some(name) => scope.database(name),
        None => scope.default_database(),
    };
    let object =
        call.service == "object" && matches!(call.method.as_str(), "execute_kw" | "execute");
    let method = if object {
        call.params
            .get(4)
            .and_then(Json::as_str)
            .unwrap_or(call.method.as_str())
            .to_string()
    } else {
        call.method.clone()
    };
    // execute_kw(db, uid, secret, model, method, args, kwargs): the domain is args[0].
    let records_asked = if object {
        records_asked(
            call.params.get(5).and_then(|args| args.get(0)),
            call.params.get(6),
        )
    } else {
        None
    };
    Routed {
        db,
        method,
        object,
        records_asked,
    }
}

fn type_error(method: &str, expected: usize, given: usize) -> OdooError {
    OdooError::TypeError(format!(
        "exp_{method}() takes {expected} positional arguments but {given} were given"
    ))
}

fn string_param(params: &[Json], i: usize) -> Result<&str, OdooError> {
    params
        .get(i)
        .and_then(Json::as_str)
        .ok_or_else(|| OdooError::TypeError(format!("argument {} must be a string", i + 1)))
}

/// Runs a routed call.
pub fn dispatch(
    scope: &Scope,
    routed: &Routed,
    call: RpcCall,
    ip: IpAddr,
) -> Result<Json, OdooError> {
    let p = &call.params;
    let need_db = |name: &str| -> Result<&Arc<Database>, OdooError> {
        routed
            .db
            .as_ref()
            .ok_or_else(|| OdooError::UnknownDatabase(name.to_string()))
    };
    match (call.service.as_str(), call.method.as_str()) {
        ("common", "version") => Ok(version_info(scope.version())),
        ("common", "login") | ("common", "authenticate") => {
            let want = if call.method == "login" { 3 } else { 4 };
            if p.len() != want {
                return Err(type_error(&call.method, want, p.len()));
            }
            let db = need_db(string_param(p, 0)?)?;
            let uid = db.authenticate(string_param(p, 1)?, string_param(p, 2)?, ip);
            Ok(uid.map_or(Json::Bool(false), |u| json!(u)))
        }
        ("common", "about") => Ok(json!("See http://openerp.com")),
        ("object", "execute_kw") | ("object", "execute") => {
            if p.len() < 5 {
                return Err(type_error(&call.method, 7, p.len()));
            }
            let db = need_db(string_param(p, 0)?)?;
            let uid = p[1].as_i64().unwrap_or(-1);
            let user = db.check(uid, string_param(p, 2)?)?;
            let model = string_param(p, 3)?;
            let method = string_param(p, 4)?;
            let args = if call.method == "execute_kw" {
                let positional = match p.get(5) {
                    Some(Json::Array(a)) => a.clone(),
                    None | Some(Json::Null) => Vec::new(),
                    Some(_) => {
                        return Err(OdooError::TypeError(
                            "execute_kw() argument 'args' must be a list".into(),
                        ))
                    }
                };
                let named = match p.get(6) {
                    Some(Json::Object(m)) => m.clone(),
                    None | Some(Json::Null) => Map::new(),
                    Some(_) => {
                        return Err(OdooError::TypeError(
                            "execute_kw() argument 'kwargs' must be a dict".into(),
                        ))
                    }
                };
                Args { positional, named }
            } else {
                Args {
                    positional: p[5..].to_vec(),
                    named: Map::new(),
                }
            };
            methods::execute(db, &user, model, method, args, None)
        }
        (service, method) => Err(OdooError::Server {
            name: "builtins.NameError".into(),
            message: format!("Method not available {method} on service {service}"),
        }),
    }
}
