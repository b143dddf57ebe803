//! The API over real HTTP against real stores (SQLite in a temp dir, a real `mongod`) and
//! the Odoo simulator: every route with good and bad input, tokens that are missing,
//! expired, forged, unsigned or another tenant's, the exact status JSON, the dashboard gate
//! flipping after a sync, ETag/304, the event stream, SSRF refusals, operator routes,
//! metrics, the OpenAPI document, and no Odoo secret in storage or logs.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use common::*;
use futures::StreamExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};
use shared::store::{BatchKind, SyncStatus};

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A connection stored directly (no Odoo behind it), for tests of status and operators.

// ---------------------------------------------------------------------------------------------
// health, docs, fallbacks

#[tokio::test]
async fn health_readiness_metrics_and_openapi_answer() {
    let app = spawn(Backend::Sqlite).await;
    let health = json(
        app.http.get(app.at("/health")).send().await.expect("req"),
        200,
    )
    .await;
    assert_eq!(health["status"], "ok");
    let ready = json(
        app.http.get(app.at("/ready")).send().await.expect("req"),
        200,
    )
    .await;
    assert_eq!(ready["status"], "ready");

    let metrics = app.http.get(app.at("/metrics")).send().await.expect("req");
    assert_eq!(metrics.status(), 200);
    assert!(metrics.headers()["content-type"]
        .to_str()
        .expect("text")
        .starts_with("text/plain"));
    let text = metrics.text().await.expect("body");
    for name in [
        "odoo_sync_http_requests_total",
        "odoo_sync_tenants{status=\"not_started\"}",
        "odoo_sync_batches{status=\"permanently_failed\"}",
        "odoo_sync_leases_live",
        "odoo_sync_records_synced{module=\"sales\"}",
        "odoo_sync_verify_corrected_records{module=\"contacts\"}",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }

    let doc = json(
        app.http
            .get(app.at("/openapi.json"))
            .send()
            .await
            .expect("req"),
        200,
    )
    .await;
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths = keys(&doc["paths"]);
    for path in [
        "/odoo/save-connection",
        "/odoo/status",
        "/odoo/status/events",
        "/odoo/dashboard",
        "/odoo/records/{module}",
        "/odoo/connection",
        "/admin/tenants",
        "/admin/tenants/{userId}/retry",
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(paths.contains(path), "{path} not documented: {paths:?}");
    }
    let schemas = keys(&doc["components"]["schemas"]);
    for schema in [
        "ErrorBody",
        "StatusBody",
        "DashboardBody",
        "SaveConnectionRequest",
    ] {
        assert!(schemas.contains(schema), "{schema} missing: {schemas:?}");
    }
    assert!(doc["components"]["securitySchemes"]["tenant"].is_object());
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = spawn(Backend::Sqlite).await;
    let missing = app.http.get(app.at("/nope")).send().await.expect("req");
    assert_eq!(error_code(missing, 404).await, "not_found");
    let wrong = app
        .http
        .put(app.at("/odoo/status"))
        .bearer_auth(token("alice"))
        .send()
        .await
        .expect("req");
    assert_eq!(error_code(wrong, 405).await, "method_not_allowed");
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app = spawn(Backend::Sqlite).await;
    let preflight = |origin: &'static str| {
        app.http
            .request(Method::OPTIONS, app.at("/odoo/status"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let allowed = preflight(CORS_ORIGIN).await.expect("req");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        CORS_ORIGIN
    );
    let other = preflight("https://evil.example").await.expect("req");
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

// ---------------------------------------------------------------------------------------------
// authentication

fn signed(claims: &Value, secret: &str, algorithm: Algorithm) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signs")
}

#[tokio::test]
async fn tenant_routes_refuse_missing_and_bad_tokens() {
    let app = spawn(Backend::Sqlite).await;
    let exp = (Utc::now().timestamp() + 600) as u64;
    let none_alg = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"alice","exp":{exp}}}"#))
    );
    let bad_tokens: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("malformed", Some("Bearer not-a-jwt".into())),
        ("empty", Some("Bearer ".into())),
        ("basic scheme", Some(format!("Basic {}", token("alice")))),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                signed(
                    &json!({"sub": "alice", "exp": 1_000}),
                    JWT_SECRET,
                    Algorithm::HS256
                )
            )),
        ),
        (
            "wrong secret",
            Some(format!(
                "Bearer {}",
                signed(
                    &json!({"sub": "alice", "exp": exp}),
                    "another-secret-that-is-long-enough-987654321",
                    Algorithm::HS256
                )
            )),
        ),
        (
            "HS512",
            Some(format!(
                "Bearer {}",
                signed(
                    &json!({"sub": "alice", "exp": exp}),
                    JWT_SECRET,
                    Algorithm::HS512
                )
            )),
        ),
        ("alg none", Some(format!("Bearer {none_alg}"))),
        (
            "no exp",
            Some(format!(
                "Bearer {}",
                signed(&json!({"sub": "alice"}), JWT_SECRET, Algorithm::HS256)
            )),
        ),
        (
            "bad sub",
            Some(format!(
                "Bearer {}",
                signed(
                    &json!({"sub": "a b/c", "exp": exp}),
                    JWT_SECRET,
                    Algorithm::HS256
                )
            )),
        ),
    ];
    let routes = [
        (Method::GET, "/odoo/status"),
        (Method::GET, "/odoo/status/events"),
        (Method::GET, "/odoo/dashboard"),
        (Method::GET, "/odoo/records/sales"),
        (Method::DELETE, "/odoo/connection"),
        (Method::POST, "/odoo/save-connection"),
    ];
    for (method, path) in routes {
        for (what, header) in &bad_tokens {
            let mut request = app.http.request(method.clone(), app.at(path));
            if let Some(header) = header {
                request = request.header("Authorization", header);
            }
            let response = request
                .header("Content-Type", "application/json")
                .body("{}")
                .send()
                .await
                .expect("req");
            assert_eq!(
                response
                    .headers()
                    .get("www-authenticate")
                    .map(|v| v.as_bytes()),
                Some(&b"Bearer"[..]),
                "{method} {path} with {what}"
            );
            let code = error_code(response, 401).await;
            assert_eq!(code, "unauthorized", "{method} {path} with {what}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// status

#[tokio::test]
async fn status_has_exactly_the_designed_keys() {
    let app = spawn(Backend::Sqlite).await;
    let status = json(app.get("/odoo/status", "alice").await, 200).await;
    assert_eq!(
        keys(&status),
        set(&["connectionInfoAvailable", "syncStatus", "progress"])
    );
    assert_eq!(status["connectionInfoAvailable"], false);
    assert_eq!(status["syncStatus"], "not_started");
    assert_eq!(
        status["progress"],
        json!({"totalBatches": 0, "completedBatches": 0, "failedBatches": 0,
            "pendingBatches": 0, "progressPercentage": 0})
    );
}

#[tokio::test]
async fn status_etag_gives_304_until_it_changes() {
    let app = spawn(Backend::Sqlite).await;
    let first = app.get("/odoo/status", "alice").await;
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().expect("text").to_string();
    assert!(etag.starts_with('"'), "{etag}");
    assert!(first.headers()["cache-control"]
        .to_str()
        .expect("text")
        .contains("no-cache"));

    let again = app
        .http
        .get(app.at("/odoo/status"))
        .bearer_auth(token("alice"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("req");
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().expect("text"), etag);
    assert!(again.bytes().await.expect("body").is_empty());

    app.store
        .save_connection(&tenant("alice"), &fake_connection(), Utc::now())
        .await
        .expect("save");
    let changed = app
        .http
        .get(app.at("/odoo/status"))
        .bearer_auth(token("alice"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("req");
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().expect("text"), etag);
    let body: Value = changed.json().await.expect("json");
    assert_eq!(body["connectionInfoAvailable"], true);
}

/// Reads SSE `data:` lines of `status` events until `count` arrived.
async fn read_events(response: reqwest::Response, count: usize) -> Vec<Value> {
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    while events.len() < count {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event in time")
            .expect("the stream goes on")
            .expect("bytes");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.lines().any(|l| l == "event: status") {
                let data: String = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                events.push(serde_json::from_str(&data).expect("JSON data"));
            }
        }
    }
    events
}

#[tokio::test]
async fn status_events_stream_each_change() {
    let app = spawn(Backend::Sqlite).await;
    let response = app.get("/odoo/status/events", "alice").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("text")
        .starts_with("text/event-stream"));
    let store = app.store.clone();
    let changer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        store
            .save_connection(&tenant("alice"), &fake_connection(), Utc::now())
            .await
            .expect("save");
    });
    let events = read_events(response, 2).await;
    changer.await.expect("task");
    assert_eq!(events[0]["connectionInfoAvailable"], false);
    assert_eq!(events[1]["connectionInfoAvailable"], true);
    assert_eq!(events[1]["syncStatus"], "not_started");
}

// ---------------------------------------------------------------------------------------------
// save-connection input

#[tokio::test]
async fn save_connection_names_the_bad_field() {
    let app = spawn(Backend::Sqlite).await;
    let good = json!({"url": "https://acme.odoo.com", "db": "acme", "username": "admin",
        "password": "pw"});
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = good.clone();
        body.as_object_mut().expect("object").remove(key);
        body
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("missing url", without("url"), "url"),
        ("missing db", without("db"), "db"),
        ("missing username", without("username"), "username"),
        ("neither secret", without("password"), "password"),
        ("both secrets", with("apiKey", json!("k")), "apiKey"),
        ("unknown field", with("port", json!(8069)), "port"),
        ("url type", with("url", json!(42)), "url"),
        ("ftp url", with("url", json!("ftp://acme.com")), "url"),
        (
            "url with credentials",
            with("url", json!("https://u:p@acme.com")),
            "url",
        ),
        ("empty url", with("url", json!("")), "url"),
        ("bad db", with("db", json!("acme; drop")), "db"),
        ("long db", with("db", json!("d".repeat(64))), "db"),
        ("empty username", with("username", json!("  ")), "username"),
        (
            "long password",
            with("password", json!("p".repeat(2000))),
            "password",
        ),
        ("empty password", with("password", json!("")), "password"),
    ];
    for (what, body, field) in cases {
        let response = app.save_connection("alice", &body).await;
        let error = json(response, 400).await;
        assert_eq!(error["field"], field, "{what}: {error}");
        assert!(
            error["error"].is_string() && error["message"].is_string(),
            "{what}"
        );
        assert!(
            !error.to_string().contains("\"pw\""),
            "{what}: the secret is not echoed: {error}"
        );
    }

    let raw = |body: &'static str, content_type: &'static str| {
        app.http
            .post(app.at("/odoo/save-connection"))
            .bearer_auth(token("alice"))
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let broken = raw("{\"url\": ", "application/json").await.expect("req");
    assert_eq!(error_code(broken, 400).await, "invalid_body");
    let not_object = raw("[1, 2]", "application/json").await.expect("req");
    assert_eq!(error_code(not_object, 400).await, "invalid_body");
    let form = raw("url=x", "application/x-www-form-urlencoded")
        .await
        .expect("req");
    assert_eq!(error_code(form, 415).await, "unsupported_media_type");
    let huge = app
        .http
        .post(app.at("/odoo/save-connection"))
        .bearer_auth(token("alice"))
        .header("Content-Type", "application/json")
        .body(format!("{{\"url\": \"{}\"}}", "x".repeat(200_000)))
        .send()
        .await
        .expect("req");
    assert_eq!(error_code(huge, 413).await, "payload_too_large");
    assert!(
        app.store
            .tenant(&tenant("alice"))
            .await
            .expect("store")
            .is_none(),
        "nothing is stored for bad input"
    );
}

// ---------------------------------------------------------------------------------------------
// save-connection against Odoo

#[tokio::test]
async fn odoo_refusals_are_422_and_unreachable_is_502() {
    let app = spawn(Backend::Sqlite).await;
    let odoo = odoo().await;
    let mut wrong_key = odoo.connection();
    wrong_key["apiKey"] = json!("not-the-key");
    assert_eq!(
        error_code(app.save_connection("alice", &wrong_key).await, 422).await,
        "odoo_authentication_failed"
    );
    let mut wrong_password = odoo.connection();
    wrong_password
        .as_object_mut()
        .expect("obj")
        .remove("apiKey");
    wrong_password["password"] = json!("wrong-password");
    assert_eq!(
        error_code(app.save_connection("alice", &wrong_password).await, 422).await,
        "odoo_authentication_failed"
    );
    let mut unknown_db = odoo.connection();
    unknown_db["db"] = json!("nosuchdb");
    let code = error_code(app.save_connection("alice", &unknown_db).await, 422).await;
    assert!(
        code == "odoo_unknown_database" || code == "odoo_authentication_failed",
        "{code}"
    );

    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let mut unreachable = odoo.connection();
    unreachable["url"] = json!(format!("http://127.0.0.1:{port}"));
    assert_eq!(
        error_code(app.save_connection("alice", &unreachable).await, 502).await,
        "odoo_unreachable"
    );
    assert!(app
        .store
        .connection(&tenant("alice"))
        .await
        .expect("store")
        .is_none());
}

async fn redirect_server(target: String) -> String {
    let router = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move { axum::response::Redirect::temporary(&target) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

#[tokio::test]
async fn private_and_metadata_urls_are_refused() {
    let strict = spawn_with(Options {
        allowed_private_hosts: Vec::new(),
        ..Options::default()
    })
    .await;
    let odoo = odoo().await;
    let port = odoo.server.addr().port();
    for url in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://10.0.0.7:8069".to_string(),
        "http://192.168.1.10".to_string(),
        "http://[::ffff:127.0.0.1]:8069".to_string(),
        "http://0.0.0.0:8069".to_string(),
    ] {
        let mut body = odoo.connection();
        body["url"] = json!(url);
        let error = json(strict.save_connection("alice", &body).await, 400).await;
        assert_eq!(error["error"], "url_not_allowed", "{url}: {error}");
        assert_eq!(error["field"], "url");
    }

    // 127.0.0.1 is allowed (the simulator), but a redirect from it to another private name
    // or to the metadata address is not followed.
    let app = spawn(Backend::Sqlite).await;
    for target in [
        format!("http://localhost:{port}/xmlrpc/2/common"),
        "http://169.254.169.254/latest/meta-data".to_string(),
        format!("http://[::1]:{port}/"),
    ] {
        let redirecting = redirect_server(target.clone()).await;
        let mut body = odoo.connection();
        body["url"] = json!(redirecting);
        let error = json(app.save_connection("alice", &body).await, 400).await;
        assert_eq!(
            error["error"], "url_not_allowed",
            "redirect to {target}: {error}"
        );
    }
    assert!(app
        .store
        .tenant(&tenant("alice"))
        .await
        .expect("store")
        .is_none());
}

// ---------------------------------------------------------------------------------------------
// the whole journey

async fn journey(backend: Backend) {
    let app = spawn(backend).await;
    let odoo = odoo().await;

    let dashboard = app.get("/odoo/dashboard", "alice").await;
    assert_eq!(error_code(dashboard, 403).await, "sync_not_ready");

    let saved = json(app.save_connection("alice", &odoo.connection()).await, 200).await;
    assert_eq!(saved["connectionInfoAvailable"], true);
    assert_eq!(saved["syncStatus"], "not_started");
    assert_eq!(saved["odooVersion"], "17.0");
    let modules: BTreeSet<String> = saved["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .map(|m| m.as_str().expect("text").to_string())
        .collect();
    assert_eq!(
        modules,
        set(&["contacts", "employees", "invoices", "sales"])
    );

    let status = json(app.get("/odoo/status", "alice").await, 200).await;
    assert_eq!(status["connectionInfoAvailable"], true);
    assert_eq!(status["syncStatus"], "not_started");
    let dashboard = app.get("/odoo/dashboard", "alice").await;
    assert_eq!(error_code(dashboard, 403).await, "sync_not_ready");

    app.run_sync("alice").await;

    let status = json(app.get("/odoo/status", "alice").await, 200).await;
    assert_eq!(status["syncStatus"], "done", "{status}");
    assert_eq!(status["progress"]["progressPercentage"], 100);
    assert_eq!(
        status["progress"]["totalBatches"],
        status["progress"]["completedBatches"]
    );
    assert!(status.get("error").is_none());
    assert_eq!(
        keys(&status),
        set(&[
            "connectionInfoAvailable",
            "syncStatus",
            "progress",
            "odooVersion"
        ])
    );

    // The gate has flipped.
    let figures = json(app.get("/odoo/dashboard", "alice").await, 200).await;
    let sales = &figures["modules"]["sales"];
    let sale_orders = odoo.db.count("sale.order").expect("count") as u64;
    assert_eq!(sales["records"], sale_orders);
    assert_eq!(
        sales["revenueByMonth"].as_array().expect("months").len(),
        12
    );
    assert!(sales["byState"].is_object());
    assert!(figures["modules"]["invoices"]["openAmount"].is_number());
    assert!(figures["modules"]["contacts"]["companies"].is_number());
    assert!(figures["modules"]["employees"]["byDepartment"].is_object());
    assert!(figures["lastSyncAt"].is_string());
    assert!(!figures["recentActivity"]
        .as_array()
        .expect("list")
        .is_empty());

    // Records, page by page.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/odoo/records/sales?limit=7&cursor={c}"),
            None => "/odoo/records/sales?limit=7".into(),
        };
        let page = json(app.get(&path, "alice").await, 200).await;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 7);
        seen.extend(items.iter().map(|r| r["odooId"].as_i64().expect("id")));
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, sale_orders);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "ascending odooId");

    let confirmed = json(
        app.get("/odoo/records/sales?state=sale&limit=500", "alice")
            .await,
        200,
    )
    .await;
    assert!(confirmed["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|r| r["state"] == "sale"));
    let future = json(
        app.get(
            "/odoo/records/contacts?changedSince=2999-01-01T00:00:00Z",
            "alice",
        )
        .await,
        200,
    )
    .await;
    assert_eq!(future["items"], json!([]));
    assert_eq!(future["nextCursor"], Value::Null);
    let archived = json(
        app.get("/odoo/records/contacts?active=false&limit=500", "alice")
            .await,
        200,
    )
    .await;
    assert!(archived["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|r| r["active"] == false));
    for (path, field) in [
        ("/odoo/records/sales?limit=0", "limit"),
        ("/odoo/records/sales?limit=501", "limit"),
        ("/odoo/records/sales?limit=many", "limit"),
        ("/odoo/records/sales?cursor=zzz", "cursor"),
        ("/odoo/records/sales?changedSince=yesterday", "changedSince"),
        ("/odoo/records/sales?active=maybe", "active"),
        ("/odoo/records/sales?colour=red", "colour"),
    ] {
        let error = json(app.get(path, "alice").await, 400).await;
        assert_eq!(error["field"], field, "{path}: {error}");
    }
    assert_eq!(
        error_code(app.get("/odoo/records/widgets", "alice").await, 404).await,
        "unknown_module"
    );

    // Another tenant sees none of it.
    let other = json(app.get("/odoo/status", "bob").await, 200).await;
    assert_eq!(other["connectionInfoAvailable"], false);
    assert_eq!(other["syncStatus"], "not_started");
    assert_eq!(
        error_code(app.get("/odoo/dashboard", "bob").await, 403).await,
        "sync_not_ready"
    );
    let theirs = json(app.get("/odoo/records/sales", "bob").await, 200).await;
    assert_eq!(theirs["items"], json!([]));

    // The secret is nowhere in storage nor in the logs.
    assert_secret_absent(&app).await;
    let logs = captured_logs();
    assert!(!logs.is_empty(), "logs were captured");
    assert!(
        !logs.contains(ODOO_KEY),
        "the Odoo key leaked into the logs"
    );

    // Deleting forgets the connection and the mirror; bob's delete touched nothing.
    let deleted = app
        .http
        .delete(app.at("/odoo/connection"))
        .bearer_auth(token("bob"))
        .send()
        .await
        .expect("req");
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        json(app.get("/odoo/status", "alice").await, 200).await["syncStatus"],
        "done"
    );
    let deleted = app
        .http
        .delete(app.at("/odoo/connection"))
        .bearer_auth(token("alice"))
        .send()
        .await
        .expect("req");
    assert_eq!(deleted.status(), 204);
    let status = json(app.get("/odoo/status", "alice").await, 200).await;
    assert_eq!(status["connectionInfoAvailable"], false);
    assert_eq!(status["syncStatus"], "not_started");
    let records = json(app.get("/odoo/records/sales", "alice").await, 200).await;
    assert_eq!(records["items"], json!([]));
    assert_eq!(
        error_code(app.get("/odoo/dashboard", "alice").await, 403).await,
        "sync_not_ready"
    );
}

/// Every byte the store keeps, searched for the Odoo key.
async fn assert_secret_absent(app: &TestApp) {
    match &app.backing {
        Backing::Dir(dir) => {
            let mut files = 0;
            for entry in std::fs::read_dir(dir.path()).expect("dir") {
                let path = entry.expect("entry").path();
                let bytes = std::fs::read(&path).expect("read");
                files += 1;
                assert!(
                    !bytes
                        .windows(ODOO_KEY.len())
                        .any(|w| w == ODOO_KEY.as_bytes()),
                    "the Odoo key is stored in clear in {}",
                    path.display()
                );
            }
            assert!(files > 0);
        }
        Backing::Mongo(server) => {
            let client = server.client().await.expect("client");
            let mut documents = 0;
            for db_name in client.list_database_names().await.expect("databases") {
                let db = client.database(&db_name);
                for collection in db.list_collection_names().await.expect("collections") {
                    let mut cursor = db
                        .collection::<mongodb::bson::Document>(&collection)
                        .find(mongodb::bson::doc! {})
                        .await
                        .expect("find");
                    while let Some(doc) = cursor.next().await {
                        let doc = doc.expect("doc");
                        documents += 1;
                        let text = mongodb::bson::Bson::Document(doc)
                            .into_relaxed_extjson()
                            .to_string();
                        assert!(
                            !text.contains(ODOO_KEY),
                            "the Odoo key is stored in clear in {db_name}.{collection}"
                        );
                    }
                }
            }
            assert!(documents > 0);
        }
    }
}

#[tokio::test]
async fn journey_on_sqlite() {
    journey(Backend::Sqlite).await;
}

#[tokio::test]
async fn journey_on_mongodb() {
    journey(Backend::Mongo).await;
}

#[tokio::test]
async fn a_blocked_tenant_shows_an_error_object() {
    let app = spawn(Backend::Sqlite).await;
    let odoo = odoo().await;
    json(app.save_connection("alice", &odoo.connection()).await, 200).await;
    app.run_sync("alice").await;
    // The key is revoked in Odoo: the next step blocks the tenant.
    odoo.db.revoke_api_key(ODOO_KEY);
    let id = tenant("alice");
    let stored = app
        .store
        .connection(&id)
        .await
        .expect("store")
        .expect("saved");
    let info = shared::crypto::connection_info(&stored, &app.keyring).expect("opens");
    let engine =
        shared::sync::SyncEngine::new(app.store.clone(), engine_options()).expect("engine");
    let step = engine.prepare(&id, &info, None).await.expect("step");
    assert!(matches!(step, shared::sync::Step::Blocked(_)), "{step:?}");
    let status = json(app.get("/odoo/status", "alice").await, 200).await;
    assert_eq!(status["error"]["code"], "authentication_failed", "{status}");
    assert!(status["error"]["message"].is_string());
    assert!(!status.to_string().contains(ODOO_KEY));
}

#[tokio::test]
async fn odoo_19_over_xml_rpc_warns_that_odoo_20_removes_it() {
    let app = spawn(Backend::Sqlite).await;
    let odoo = odoo_with(19, |spec| spec.data.records = 60).await;
    // A password: JSON-2 takes only API keys, so the sync goes over XML-RPC.
    let mut with_password = odoo.connection();
    with_password["password"] = json!("admin");
    with_password
        .as_object_mut()
        .expect("object")
        .remove("apiKey");
    json(app.save_connection("alice", &with_password).await, 200).await;
    app.run_sync("alice").await;
    // An API key: JSON-2.
    json(app.save_connection("bob", &odoo.connection()).await, 200).await;
    app.run_sync("bob").await;

    let status = json(app.get("/odoo/status", "alice").await, 200).await;
    assert_eq!(status["syncStatus"], "done", "{status}");
    let warnings = status["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{status}");
    assert_eq!(warnings[0]["code"], "protocol_removed_in_odoo_20");
    let message = warnings[0]["message"].as_str().expect("message");
    assert!(
        message.contains("version 20") && message.contains("API key"),
        "{message}"
    );

    let status = json(app.get("/odoo/status", "bob").await, 200).await;
    assert_eq!(status["syncStatus"], "done", "{status}");
    assert!(status.get("warnings").is_none(), "{status}");

    let alice = json(app.admin(Method::GET, "/admin/tenants/alice").await, 200).await;
    assert_eq!(alice["protocol"], "xmlrpc");
    assert_eq!(alice["warnings"][0]["code"], "protocol_removed_in_odoo_20");
    let bob = json(app.admin(Method::GET, "/admin/tenants/bob").await, 200).await;
    assert_eq!(bob["protocol"], "json2");
    assert_eq!(bob["warnings"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// operators

#[tokio::test]
async fn admin_routes_need_the_admin_token() {
    let app = spawn(Backend::Sqlite).await;
    let none = app
        .http
        .get(app.at("/admin/tenants"))
        .send()
        .await
        .expect("req");
    assert_eq!(error_code(none, 401).await, "unauthorized");
    let wrong = app
        .http
        .get(app.at("/admin/tenants"))
        .bearer_auth("not-the-admin-token")
        .send()
        .await
        .expect("req");
    assert_eq!(error_code(wrong, 401).await, "unauthorized");
    let tenant_token = app
        .http
        .post(app.at("/admin/tenants/alice/pause"))
        .bearer_auth(token("alice"))
        .send()
        .await
        .expect("req");
    assert_eq!(error_code(tenant_token, 401).await, "unauthorized");

    let disabled = spawn_with(Options {
        admin_token: None,
        ..Options::default()
    })
    .await;
    let refused = disabled
        .http
        .get(disabled.at("/admin/tenants"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("req");
    assert_eq!(error_code(refused, 403).await, "admin_disabled");

    let page = app.http.get(app.at("/admin")).send().await.expect("req");
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .expect("html")
        .contains("<table id=\"tenants\""));
}

#[tokio::test]
async fn operators_list_retry_pause_resume_and_resync() {
    let app = spawn(Backend::Sqlite).await;
    let alice = tenant("alice");
    // A worker planned two batches and gave one up.
    tenant_with_a_failed_batch(&app.store, "alice").await;
    app.store.ensure_tenant(&tenant("bob")).await.expect("bob");

    let page = json(app.admin(Method::GET, "/admin/tenants").await, 200).await;
    let tenants = page["tenants"].as_array().expect("tenants");
    assert_eq!(tenants.len(), 2);
    assert_eq!(tenants[0]["userId"], "alice");
    assert_eq!(tenants[0]["failedBatches"], 1);
    assert_eq!(tenants[0]["syncStatus"], "in_progress");
    assert_eq!(tenants[0]["progress"]["failedBatches"], 1);
    assert_eq!(page["nextCursor"], Value::Null);
    let first = json(app.admin(Method::GET, "/admin/tenants?limit=1").await, 200).await;
    assert_eq!(first["nextCursor"], "alice");
    let second = json(
        app.admin(Method::GET, "/admin/tenants?limit=1&after=alice")
            .await,
        200,
    )
    .await;
    assert_eq!(second["tenants"][0]["userId"], "bob");

    let detail = json(app.admin(Method::GET, "/admin/tenants/alice").await, 200).await;
    assert_eq!(
        detail["failures"][0]["lastError"],
        "Odoo server error (boom)"
    );
    assert_eq!(detail["failures"][0]["status"], "permanently_failed");

    let retried = json(
        app.admin(Method::POST, "/admin/tenants/alice/retry").await,
        200,
    )
    .await;
    assert_eq!(retried["retriedBatches"], 1);
    let counts = app
        .store
        .batch_counts(&alice, BatchKind::Initial)
        .await
        .expect("counts");
    assert_eq!((counts.permanently_failed, counts.failed), (0, 1));

    json(
        app.admin(Method::POST, "/admin/tenants/alice/pause").await,
        200,
    )
    .await;
    let status = json(app.get("/odoo/status", "alice").await, 200).await;
    assert_eq!(status["error"]["code"], "paused");
    let listed = json(app.admin(Method::GET, "/admin/tenants").await, 200).await;
    assert_eq!(listed["tenants"][0]["paused"], true);
    json(
        app.admin(Method::POST, "/admin/tenants/alice/resume").await,
        200,
    )
    .await;
    let status = json(app.get("/odoo/status", "alice").await, 200).await;
    assert!(status.get("error").is_none(), "{status}");

    json(
        app.admin(Method::POST, "/admin/tenants/alice/resync").await,
        200,
    )
    .await;
    let state = app
        .store
        .tenant(&alice)
        .await
        .expect("store")
        .expect("tenant");
    assert_eq!(state.sync_status, SyncStatus::NotStarted);
    assert!(app.store.batches(&alice).await.expect("batches").is_empty());
    assert!(app.store.connection(&alice).await.expect("store").is_some());

    assert_eq!(
        error_code(
            app.admin(Method::POST, "/admin/tenants/bob/resync").await,
            409
        )
        .await,
        "no_connection"
    );
    assert_eq!(
        error_code(
            app.admin(Method::POST, "/admin/tenants/nobody/pause").await,
            404
        )
        .await,
        "unknown_tenant"
    );
    assert_eq!(
        error_code(app.admin(Method::GET, "/admin/tenants/nobody").await, 404).await,
        "unknown_tenant"
    );
    let bad = json(app.admin(Method::GET, "/admin/tenants/bad%20id").await, 400).await;
    assert_eq!(bad["field"], "userId");
    let bad_limit = json(app.admin(Method::GET, "/admin/tenants?limit=0").await, 400).await;
    assert_eq!(bad_limit["field"], "limit");
}

/// Seeds `count` tenants named `prefix-NN` that never started.
async fn plain_tenants(app: &TestApp, prefix: &str, count: usize) {
    for i in 1..=count {
        app.store
            .ensure_tenant(&tenant(&format!("{prefix}-{i:02}")))
            .await
            .expect("tenant");
    }
}

fn user_ids(page: &Value) -> Vec<String> {
    page["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .map(|t| t["userId"].as_str().expect("userId").to_string())
        .collect()
}

#[tokio::test]
async fn operators_search_filter_and_page_tenants() {
    let app = spawn(Backend::Sqlite).await;
    plain_tenants(&app, "acme", 12).await;
    plain_tenants(&app, "zeta", 2).await;
    // One of two windows given up on, the other still to run.
    tenant_with_a_failed_batch(&app.store, "bob").await;
    app.store
        .ensure_tenant(&tenant("carol"))
        .await
        .expect("carol");
    json(
        app.admin(Method::POST, "/admin/tenants/carol/pause").await,
        200,
    )
    .await;

    // A prefix, paged: the total counts every page, the cursor ends on the last page.
    let first = json(
        app.admin(Method::GET, "/admin/tenants?search=acme-&limit=5")
            .await,
        200,
    )
    .await;
    assert_eq!(
        user_ids(&first),
        ["acme-01", "acme-02", "acme-03", "acme-04", "acme-05"]
    );
    assert_eq!(first["total"], 12);
    assert_eq!(first["nextCursor"], "acme-05");
    let second = json(
        app.admin(
            Method::GET,
            "/admin/tenants?search=acme-&limit=5&after=acme-05",
        )
        .await,
        200,
    )
    .await;
    assert_eq!(user_ids(&second)[0], "acme-06");
    assert_eq!(second["total"], 12);
    let third = json(
        app.admin(
            Method::GET,
            "/admin/tenants?search=acme-&limit=5&after=acme-10",
        )
        .await,
        200,
    )
    .await;
    assert_eq!(user_ids(&third), ["acme-11", "acme-12"]);
    assert_eq!(third["nextCursor"], Value::Null);
    // An empty search is no search.
    let all = json(app.admin(Method::GET, "/admin/tenants?search=").await, 200).await;
    assert_eq!(all["total"], 16);

    // Filters: what an operator acts on.
    let failed = json(
        app.admin(Method::GET, "/admin/tenants?status=failed").await,
        200,
    )
    .await;
    assert_eq!(user_ids(&failed), ["bob"]);
    assert_eq!(failed["total"], 1);
    // Done and given-up windows apart: the status's percentage counts the failed window as
    // finished (DESIGN.md 4.3, unchanged); syncedPercentage does not.
    let bob = &failed["tenants"][0];
    assert_eq!(bob["progress"]["progressPercentage"], 50, "{bob}");
    assert_eq!(bob["progress"]["failedBatches"], 1);
    assert_eq!(bob["syncedPercentage"], 0, "{bob}");
    let blocked = json(
        app.admin(Method::GET, "/admin/tenants?status=blocked")
            .await,
        200,
    )
    .await;
    assert_eq!(user_ids(&blocked), ["carol"]);
    let in_progress = json(
        app.admin(Method::GET, "/admin/tenants?status=in_progress")
            .await,
        200,
    )
    .await;
    assert_eq!(user_ids(&in_progress), ["bob"]);
    let not_started = json(
        app.admin(Method::GET, "/admin/tenants?status=not_started&search=z")
            .await,
        200,
    )
    .await;
    assert_eq!(user_ids(&not_started), ["zeta-01", "zeta-02"]);
    let none = json(
        app.admin(Method::GET, "/admin/tenants?status=done").await,
        200,
    )
    .await;
    assert_eq!(
        (none["total"].clone(), none["tenants"].clone()),
        (json!(0), json!([]))
    );

    // Bad parameters: a 400 naming each.
    for (query, field) in [
        ("status=paused", "status"),
        ("status=", "status"),
        ("search=bad%20id", "search"),
        (&*format!("search={}", "a".repeat(129)), "search"),
        ("after=bad%20id", "after"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("sort=userId", "sort"),
    ] {
        let bad = json(
            app.admin(Method::GET, &format!("/admin/tenants?{query}"))
                .await,
            400,
        )
        .await;
        assert_eq!(bad["field"], field, "{query}: {bad}");
        assert!(
            bad["message"].as_str().is_some_and(|m| m.contains(field)),
            "{query}: {bad}"
        );
    }
    // The queue listings check their limit before they look for a queue.
    for path in [
        "/admin/queue/waiting?limit=0",
        "/admin/queue/dead?limit=101",
    ] {
        let bad = json(app.admin(Method::GET, path).await, 400).await;
        assert_eq!(bad["field"], "limit", "{path}: {bad}");
    }
    for path in ["/admin/queue/waiting", "/admin/queue/workers"] {
        assert_eq!(
            error_code(app.admin(Method::GET, path).await, 409).await,
            "no_queue",
            "{path}"
        );
    }
}

#[tokio::test]
async fn operators_search_and_filter_on_mongodb() {
    let app = spawn(Backend::Mongo).await;
    plain_tenants(&app, "acme", 3).await;
    tenant_with_failed_batches(&app.store, "bob", 3).await;
    let page = json(
        app.admin(Method::GET, "/admin/tenants?search=acme&limit=2")
            .await,
        200,
    )
    .await;
    assert_eq!(user_ids(&page), ["acme-01", "acme-02"]);
    assert_eq!(
        (page["total"].clone(), page["nextCursor"].clone()),
        (json!(3), json!("acme-02"))
    );
    let failed = json(
        app.admin(Method::GET, "/admin/tenants?status=failed").await,
        200,
    )
    .await;
    assert_eq!(user_ids(&failed), ["bob"]);
    let bob = &failed["tenants"][0];
    assert_eq!(bob["progress"]["progressPercentage"], 75, "{bob}");
    assert_eq!(bob["syncedPercentage"], 0, "{bob}");
}
