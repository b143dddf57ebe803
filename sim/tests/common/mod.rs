//! Helpers shared by the simulator's integration tests: start a simulator on a free loopback
//! port and call it over real HTTP (XML-RPC through the shared codec, JSON-RPC, JSON-2).

#![allow(dead_code)] // each test binary uses a different subset

use serde_json::{json, Value as Json};
use shared::odoo::xmlrpc::{decode_response, encode_call, Limits, MethodResponse, Value};
use sim::{DatabaseSpec, Db, SimServer, Simulator, UserSpec};

/// API key given to the admin of test databases (version 14 and later).
pub const KEY: &str = "test-api-key";

/// A running simulator with one database.
pub struct Harness {
    pub sim: Simulator,
    pub server: SimServer,
    pub db: Db,
    pub http: reqwest::Client,
}

/// A spec with the admin (admin/admin, uid 2, API key [`KEY`]) and `records` generated rows.
pub fn spec(name: &str, version: u32, records: usize) -> DatabaseSpec {
    let mut spec = DatabaseSpec::new(name, version);
    spec.users = vec![UserSpec::admin().with_api_key(KEY)];
    spec.data.records = records;
    spec
}

pub async fn start(spec: DatabaseSpec) -> Harness {
    let sim = Simulator::new();
    let db = sim.add_database(spec).expect("database");
    let server = sim.serve("127.0.0.1:0").await.expect("serve");
    Harness {
        sim,
        server,
        db,
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("client"),
    }
}

/// An XML-RPC fault or transport failure.
#[derive(Debug)]
pub enum CallError {
    Fault(i64, String),
    Http(String),
}

impl CallError {
    pub fn code(&self) -> i64 {
        match self {
            CallError::Fault(c, _) => *c,
            CallError::Http(_) => -1,
        }
    }
}

impl Harness {
    pub fn name(&self) -> String {
        self.db.name().to_string()
    }

    /// One XML-RPC call at the server root.
    pub async fn xmlrpc(
        &self,
        service: &str,
        method: &str,
        params: Vec<Json>,
    ) -> Result<Json, CallError> {
        self.xmlrpc_at(&self.server.url(), service, method, params)
            .await
    }

    pub async fn xmlrpc_at(
        &self,
        base: &str,
        service: &str,
        method: &str,
        params: Vec<Json>,
    ) -> Result<Json, CallError> {
        let values: Vec<Value> = params.iter().map(Value::from_json).collect();
        let resp = self
            .http
            .post(format!("{base}/xmlrpc/2/{service}"))
            .header("Content-Type", "text/xml")
            .body(encode_call(method, &values))
            .send()
            .await
            .map_err(|e| CallError::Http(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(CallError::Http(format!("status {}", resp.status())));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CallError::Http(e.to_string()))?;
        match decode_response(&bytes, &Limits::default()) {
            Ok(MethodResponse::Success(v)) => Ok(v.to_json()),
            Ok(MethodResponse::Fault(f)) => Err(CallError::Fault(f.code, f.message)),
            Err(e) => Err(CallError::Http(format!("undecodable: {e}"))),
        }
    }

    /// `execute_kw` as admin.
    pub async fn kw(
        &self,
        model: &str,
        method: &str,
        args: Json,
        kwargs: Json,
    ) -> Result<Json, CallError> {
        self.xmlrpc(
            "object",
            "execute_kw",
            vec![
                json!(self.name()),
                json!(2),
                json!("admin"),
                json!(model),
                json!(method),
                args,
                kwargs,
            ],
        )
        .await
    }

    /// `search_read` as admin, returning the records.
    pub async fn search_read(&self, model: &str, domain: Json, kwargs: Json) -> Vec<Json> {
        match self.kw(model, "search_read", json!([domain]), kwargs).await {
            Ok(Json::Array(rows)) => rows,
            other => panic!("search_read {model}: {other:?}"),
        }
    }

    /// `search` ids as admin.
    pub async fn search(&self, model: &str, domain: Json, kwargs: Json) -> Vec<i64> {
        match self.kw(model, "search", json!([domain]), kwargs).await {
            Ok(Json::Array(ids)) => ids.iter().filter_map(Json::as_i64).collect(),
            other => panic!("search {model}: {other:?}"),
        }
    }

    pub async fn count(&self, model: &str, domain: Json, kwargs: Json) -> i64 {
        match self
            .kw(model, "search_count", json!([domain]), kwargs)
            .await
        {
            Ok(n) => n.as_i64().expect("count"),
            other => panic!("search_count {model}: {other:?}"),
        }
    }

    /// A JSON-RPC call; returns the whole response object.
    pub async fn jsonrpc(&self, service: &str, method: &str, args: Json) -> Json {
        self.http
            .post(format!("{}/jsonrpc", self.server.url()))
            .json(&json!({"jsonrpc": "2.0", "method": "call", "params": {"service": service, "method": method, "args": args}, "id": 1}))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json")
    }

    /// `execute_kw` over JSON-RPC as admin: the result, or the error object as `Err`.
    pub async fn rpc_kw(
        &self,
        model: &str,
        method: &str,
        args: Json,
        kwargs: Json,
    ) -> Result<Json, Json> {
        let resp = self
            .jsonrpc(
                "object",
                "execute_kw",
                json!([self.name(), 2, "admin", model, method, args, kwargs]),
            )
            .await;
        match (resp.get("result"), resp.get("error")) {
            (Some(result), None) => Ok(result.clone()),
            (_, Some(error)) => Err(error.clone()),
            _ => Err(resp),
        }
    }

    /// A JSON-2 call with a key; returns status and body.
    pub async fn json2(&self, key: &str, model: &str, method: &str, body: Json) -> (u16, Json) {
        let resp = self
            .http
            .post(format!("{}/json/2/{model}/{method}", self.server.url()))
            .header("Authorization", format!("bearer {key}"))
            .header("X-Odoo-Database", self.name())
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Json::Null))
    }
}
