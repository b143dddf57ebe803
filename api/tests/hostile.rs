//! Hostile and careless clients (issue 10), over real HTTP against a real store: Odoo errors
//! that quote the secret (save-connection, an engine step's stored blocking error, errors
//! stored before scrubbing), slow, idle and too many connections, oversized heads and
//! `Expect: 100-continue`, made-up methods in metrics, shared and capped status streams,
//! IPv6 transition addresses and ports of allowed hosts, duplicate `Authorization`
//! headers, save-connection's rate limits and the connection test's deadline.
//!
//! Nothing here waits a fixed time for something to happen: the deadlines are generous
//! upper bounds, polled or awaited, so a loaded machine only makes them slower.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::echo_odoo::{self, Echo, QUOTED_SECRET};
use common::*;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use shared::config::ApiLimits;
use shared::crypto::{connection_info, stored_connection};
use shared::odoo::{ConnectionInfo, Credential};
use shared::store::TenantError;
use shared::sync::{Step, SyncEngine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest any step below may take on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// Every form the secret could travel in: raw, XML-escaped, JSON-escaped (plain and
/// `\uXXXX`), URL-encoded; and its first characters, which a cut could leave behind.
fn secret_forms() -> Vec<String> {
    let json = serde_json::to_string(QUOTED_SECRET).expect("json");
    vec![
        QUOTED_SECRET.to_string(),
        QUOTED_SECRET
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;"),
        json[1..json.len() - 1].to_string(),
        json[1..json.len() - 1].replace('ë', "\\u00eb"),
        url::form_urlencoded::byte_serialize(QUOTED_SECRET.as_bytes()).collect(),
        QUOTED_SECRET[..7].to_string(),
        "9f3b1c7d2e8a".to_string(),
    ]
}

fn assert_no_secret(what: &str, text: &str) {
    for form in secret_forms() {
        assert!(
            !text.contains(&form),
            "{what} carries the secret as {form:?}: {text}"
        );
    }
}

fn connection_body(url: &str, echo: Echo) -> Value {
    let mut body = json!({"url": url, "db": "acme", "username": "admin"});
    let field = if echo.uses_api_key() {
        "apiKey"
    } else {
        "password"
    };
    body[field] = json!(QUOTED_SECRET);
    body
}

#[tokio::test]
async fn odoo_errors_quoting_the_secret_are_scrubbed_from_save_connection() {
    let app = spawn(Backend::Sqlite).await;
    for echo in Echo::ALL {
        let url = echo_odoo::serve(echo).await;
        let response = app
            .save_connection("alice", &connection_body(&url, echo))
            .await;
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert!(status == 422 || status == 502, "{echo:?}: {status} {text}");
        let body: Value = serde_json::from_str(&text).expect("JSON error");
        let message = body["message"].as_str().expect("message");
        assert!(
            message.contains("[REDACTED]"),
            "{echo:?}: Odoo's quote should reach the message, scrubbed: {message}"
        );
        assert_no_secret(&format!("{echo:?} response"), &text);
        assert_no_secret(&format!("{echo:?} message"), message);
    }
    assert_no_secret("the logs", &captured_logs());
}

/// A stored connection to `url` with the quoted secret as its password.
fn echo_connection(
    url: &str,
    keyring: &shared::crypto::Keyring,
) -> shared::store::StoredConnection {
    let info = ConnectionInfo::parse(
        url,
        "acme",
        "admin",
        Credential::password(QUOTED_SECRET).expect("valid"),
    )
    .expect("valid connection");
    stored_connection(&info, keyring, Utc::now()).expect("seals")
}

#[tokio::test]
async fn a_blocking_error_stored_by_an_engine_step_carries_no_secret() {
    let app = spawn(Backend::Sqlite).await;
    let url = echo_odoo::serve(Echo::XmlRpcAccessDenied).await;
    let id = tenant("bob");
    app.store
        .save_connection(&id, &echo_connection(&url, &app.keyring), Utc::now())
        .await
        .expect("save");
    let stored = app
        .store
        .connection(&id)
        .await
        .expect("store")
        .expect("saved");
    let info = connection_info(&stored, &app.keyring).expect("opens");
    // The step a worker runs first for a tenant: prepare, which logs in.
    let engine = SyncEngine::new(app.store.clone(), engine_options()).expect("engine");
    let step = engine.prepare(&id, &info, None).await.expect("prepare");
    let Step::Blocked(error) = step else {
        panic!("expected the tenant to be blocked, got {step:?}");
    };
    assert!(error.message.contains("[REDACTED]"), "{}", error.message);
    assert_no_secret("the step's error", &error.message);
    let state = app.store.tenant(&id).await.expect("store").expect("tenant");
    let blocked = state.blocked.expect("blocked");
    assert_no_secret("the stored error", &blocked.message);

    let status = json(app.get("/odoo/status", "bob").await, 200).await;
    assert_eq!(status["error"]["code"], "authentication_failed", "{status}");
    assert_no_secret("GET /odoo/status", &status.to_string());
    let detail = app.admin(Method::GET, "/admin/tenants/bob").await;
    assert_no_secret(
        "GET /admin/tenants/bob",
        &detail.text().await.expect("body"),
    );
    assert_no_secret("the logs", &captured_logs());
}

#[tokio::test]
async fn errors_stored_before_scrubbing_are_scrubbed_when_read() {
    let app = spawn(Backend::Sqlite).await;
    let id = tenant("carol");
    app.store
        .save_connection(
            &id,
            &echo_connection("https://acme.example.com", &app.keyring),
            Utc::now(),
        )
        .await
        .expect("save");
    let old = TenantError {
        code: "authentication_failed".into(),
        message: format!(
            "Odoo refused the credentials: Access Denied for '{QUOTED_SECRET}' ({})",
            QUOTED_SECRET.replace('&', "&amp;").replace('<', "&lt;")
        ),
        at: Utc::now(),
    };
    app.store
        .set_operator_block(&id, Some(&old), Utc::now())
        .await
        .expect("block");

    let status = json(app.get("/odoo/status", "carol").await, 200).await;
    let message = status["error"]["message"].as_str().expect("message");
    assert!(message.contains("[REDACTED]"), "{message}");
    assert_no_secret("GET /odoo/status", &status.to_string());
    for path in ["/admin/tenants", "/admin/tenants/carol"] {
        let text = app
            .admin(Method::GET, path)
            .await
            .text()
            .await
            .expect("body");
        assert!(text.contains("[REDACTED]"), "{path}: {text}");
        assert_no_secret(path, &text);
    }
    let mut events = app
        .http
        .get(app.at("/odoo/status/events"))
        .bearer_auth(token("carol"))
        .send()
        .await
        .expect("stream");
    assert_eq!(events.status(), 200);
    let event = next_event(&mut events).await;
    assert!(event.contains("[REDACTED]"), "{event}");
    assert_no_secret("the status event", &event);
}

/// The text of the stream until the end of its next event.
async fn next_event(response: &mut reqwest::Response) -> String {
    let mut text = String::new();
    let reading = async {
        while let Some(chunk) = response.chunk().await.expect("stream chunk") {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("event: status") && text.contains("\n\n") {
                break;
            }
        }
    };
    tokio::time::timeout(PATIENCE, reading)
        .await
        .expect("an event arrives");
    text
}

async fn spawn_limited(limits: ApiLimits) -> TestApp {
    spawn_with(Options {
        limits,
        ..Options::default()
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.url.trim_start_matches("http://").to_string();
    TcpStream::connect(address).await.expect("connect")
}

/// Everything the server sends until it closes the connection (or `PATIENCE` runs out).
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut out))
        .await
        .expect("the server closes the connection");
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads until a whole response: its head and `Content-Length` bytes of body (or close).
async fn read_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let reading = async {
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(PATIENCE, reading)
        .await
        .expect("a response arrives");
    String::from_utf8_lossy(&out).into_owned()
}

fn json_body_of(response: &str) -> Value {
    let (_, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {response}"))
}

#[tokio::test]
async fn oversized_expect_continue_is_refused_before_the_body() {
    let app = spawn(Backend::Sqlite).await;
    let mut stream = connect(&app).await;
    let head = format!(
        "POST /odoo/save-connection HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 10485760\r\nExpect: 100-continue\r\n\r\n",
        token("alice")
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let response = read_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(!response.contains("100 Continue"), "{response}");
    assert_eq!(json_body_of(&response)["error"], "payload_too_large");
}

#[tokio::test]
async fn slow_heads_and_bodies_and_idle_connections_are_cut_off() {
    let app = spawn_limited(ApiLimits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        ..test_limits()
    })
    .await;
    // Half a request head, then nothing: the connection is closed.
    let mut slow_head = connect(&app).await;
    slow_head
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let answer = read_to_close(&mut slow_head).await;
    assert!(!answer.contains("200 OK"), "{answer}");

    // A whole head, a tenth of the body: 408 in the JSON shape.
    let mut slow_body = connect(&app).await;
    let head = format!(
        "POST /odoo/save-connection HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"url\":",
        token("alice")
    );
    slow_body.write_all(head.as_bytes()).await.expect("write");
    let response = read_response(&mut slow_body).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert_eq!(json_body_of(&response)["error"], "request_timeout");

    // A keep-alive connection that answered a request and then sits idle is closed.
    let mut idle = connect(&app).await;
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let rest = read_to_close(&mut idle).await;
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
}

#[tokio::test]
async fn connections_over_the_cap_get_a_json_503() {
    let app = spawn_limited(ApiLimits {
        max_connections: 2,
        header_timeout: Duration::from_secs(300),
        ..test_limits()
    })
    .await;
    // Two connections that send nothing hold both places.
    let held = [connect(&app).await, connect(&app).await];
    let mut third = connect(&app).await;
    third
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let response = read_to_close(&mut third).await;
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert_eq!(json_body_of(&response)["error"], "too_many_connections");
    // Once a place is free, requests are served again.
    drop(held);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let health = app.http.get(app.at("/health")).send().await;
        if health.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn http_layer_errors_answer_in_the_json_shape_where_they_can() {
    let app = spawn(Backend::Sqlite).await;
    let long_uri = format!("/health?pad={}", "a".repeat(10 * 1024));
    let response = app.http.get(app.at(&long_uri)).send().await.expect("req");
    assert_eq!(error_code(response, 414).await, "uri_too_long");
    let mut request = app.http.get(app.at("/health"));
    for i in 0..5 {
        request = request.header(format!("x-pad-{i}"), "b".repeat(8 * 1024));
    }
    let response = request.send().await.expect("req");
    assert_eq!(error_code(response, 431).await, "headers_too_large");
    // A malformed request line is answered by hyper itself (an empty 400, see README).
    let mut stream = connect(&app).await;
    stream
        .write_all(b"THIS IS NOT HTTP\r\n\r\n")
        .await
        .expect("write");
    let response = read_to_close(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
}

#[tokio::test]
async fn made_up_methods_and_paths_do_not_grow_metrics() {
    let app = spawn(Backend::Sqlite).await;
    for i in 0..40 {
        let method = Method::from_bytes(format!("MADEUP{i}").as_bytes()).expect("a token");
        let _ = app
            .http
            .request(method, app.at(&format!("/odoo/status/nope-{i}")))
            .send()
            .await
            .expect("req");
    }
    let text = app
        .http
        .get(app.at("/metrics"))
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("body");
    assert!(!text.contains("MADEUP"), "raw methods leak into labels");
    assert!(!text.contains("nope-"), "raw paths leak into labels");
    assert!(
        text.contains(r#"method="other""#),
        "made-up methods are counted as other"
    );
}

/// A gauge's value in the metrics text.
async fn gauge(app: &TestApp, name: &str) -> i64 {
    let text = app
        .http
        .get(app.at("/metrics"))
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("body");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("odoo_sync_{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

async fn open_stream(app: &TestApp, user: &str) -> reqwest::Response {
    app.http
        .get(app.at("/odoo/status/events"))
        .bearer_auth(token(user))
        .send()
        .await
        .expect("stream")
}

#[tokio::test]
async fn status_streams_share_one_watcher_per_tenant_and_are_capped() {
    let app = spawn_limited(ApiLimits {
        status_streams_per_tenant: 3,
        status_streams_max: 4,
        ..test_limits()
    })
    .await;
    let mut alice = Vec::new();
    for _ in 0..3 {
        let mut stream = open_stream(&app, "alice").await;
        assert_eq!(stream.status(), 200);
        next_event(&mut stream).await;
        alice.push(stream);
    }
    assert_eq!(gauge(&app, "status_streams").await, 3);
    assert_eq!(gauge(&app, "status_watchers").await, 1);
    let refused = open_stream(&app, "alice").await;
    assert_eq!(refused.status(), 429);
    assert_eq!(error_code(refused, 429).await, "too_many_streams");

    let mut bob = open_stream(&app, "bob").await;
    assert_eq!(bob.status(), 200);
    next_event(&mut bob).await;
    assert_eq!(gauge(&app, "status_watchers").await, 2);
    let full = open_stream(&app, "dave").await;
    assert_eq!(error_code(full, 503).await, "streams_exhausted");

    // Closed streams give their places back, and a tenant without streams is not watched.
    drop(alice);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while gauge(&app, "status_watchers").await != 1 || gauge(&app, "status_streams").await != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "alice's streams stay counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut again = open_stream(&app, "alice").await;
    assert_eq!(again.status(), 200);
    next_event(&mut again).await;
}

#[tokio::test]
async fn ipv6_transition_addresses_and_other_ports_of_allowed_hosts_are_refused() {
    let odoo = odoo().await;
    let port = odoo.server.addr().port();
    let app = spawn_with(Options {
        allowed_private_hosts: vec![format!("127.0.0.1:{port}")],
        ..Options::default()
    })
    .await;
    let saved = app.save_connection("alice", &odoo.connection()).await;
    assert_eq!(saved.status(), 200, "the named port is allowed");
    let other_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    for url in [
        format!("http://127.0.0.1:{other_port}"),
        "http://[64:ff9b:1::a00:1]:8069".to_string(),
        "http://[2002:a9fe:a9fe::1]/".to_string(),
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/".to_string(),
        "http://[::ffff:0:7f00:1]/".to_string(),
        "http://[100::1]/".to_string(),
        "http://[2001:10::1]/".to_string(),
        "http://[fec0::1]/".to_string(),
    ] {
        let mut body = odoo.connection();
        body["url"] = json!(url);
        let error = json(app.save_connection("alice", &body).await, 400).await;
        assert_eq!(error["error"], "url_not_allowed", "{url}: {error}");
    }
}

#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let app = spawn(Backend::Sqlite).await;
    let response = app
        .http
        .get(app.at("/odoo/status"))
        .header("Authorization", format!("Bearer {}", token("alice")))
        .header("Authorization", format!("Bearer {}", token("bob")))
        .send()
        .await
        .expect("req");
    assert_eq!(error_code(response, 401).await, "unauthorized");
    let one = app.get("/odoo/status", "alice").await;
    assert_eq!(one.status(), 200);
}

#[tokio::test]
async fn save_connection_is_rate_limited_per_tenant_and_overall() {
    let app = spawn_limited(ApiLimits {
        save_connection_per_tenant_per_minute: 2,
        save_connection_per_minute: 3,
        ..ApiLimits::default()
    })
    .await;
    // Nothing listens there: each allowed call fails fast with 502, and still counts.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let body = json!({"url": format!("http://{dead}"), "db": "acme", "username": "admin",
        "password": "pw"});
    for _ in 0..2 {
        let response = app.save_connection("alice", &body).await;
        assert_ne!(response.status(), 429);
    }
    let limited = app.save_connection("alice", &body).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(error_code(limited, 429).await, "rate_limited");
    assert_ne!(app.save_connection("bob", &body).await.status(), 429);
    let overall = app.save_connection("carol", &body).await;
    assert_eq!(error_code(overall, 429).await, "rate_limited_overall");
}

#[tokio::test]
async fn the_connection_test_gives_up_at_its_deadline() {
    let app = spawn_limited(ApiLimits {
        probe_timeout: Duration::from_secs(1),
        ..test_limits()
    })
    .await;
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let mut body = connection_body(&url, Echo::XmlRpcTraceback);
    body["password"] = json!("pw");
    let error = json(app.save_connection("alice", &body).await, 502).await;
    assert_eq!(error["error"], "odoo_unreachable", "{error}");
    let message = error["message"].as_str().expect("message");
    assert!(message.contains("within 1 s"), "{message}");
}

#[tokio::test]
async fn status_streams_end_when_the_server_stops() {
    let (store, _backing) = store_for(Backend::Sqlite).await;
    let settings = test_settings(test_limits());
    let app = api::Application::build(settings, store, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("starts");
    let url = format!("http://{}", app.address());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let mut stream = client
        .get(format!("{url}/odoo/status/events"))
        .bearer_auth(token("alice"))
        .send()
        .await
        .expect("stream");
    next_event(&mut stream).await;
    let _ = stop.send(());
    // The server finishes (it would wait on the stream for ever otherwise) and the stream ends.
    tokio::time::timeout(PATIENCE, serving)
        .await
        .expect("the server stops")
        .expect("task")
        .expect("serve");
    let rest = tokio::time::timeout(PATIENCE, stream.bytes_stream().count()).await;
    assert!(rest.is_ok(), "the stream ended");
}
