//! Fault injection, revoked credentials, login throttling and call counters, seen from a real
//! HTTP client.

mod common;

use common::{spec, start, CallError, KEY};
use serde_json::{json, Value as Json};
use sim::{FaultKind, FaultRule, LoginThrottle, Trigger, TOO_MANY_FAILURES};
use std::time::{Duration, Instant};

fn rule(kind: FaultKind, trigger: Trigger) -> FaultRule {
    FaultRule::new(kind, trigger)
}

async fn raw_post(h: &common::Harness, method: &str) -> Result<reqwest::Response, reqwest::Error> {
    let body = shared::odoo::xmlrpc::encode_call(
        "execute_kw",
        &[
            json!(h.name()),
            json!(2),
            json!("admin"),
            json!("res.partner"),
            json!(method),
            json!([[]]),
        ]
        .iter()
        .map(shared::odoo::xmlrpc::Value::from_json)
        .collect::<Vec<_>>(),
    );
    h.http
        .post(format!("{}/xmlrpc/2/object", h.server.url()))
        .timeout(Duration::from_millis(800))
        .body(body)
        .send()
        .await
}

#[tokio::test]
async fn http_errors_by_schedule() {
    let h = start(spec("f1", 19, 50)).await;
    h.db.add_fault(rule(FaultKind::ServiceUnavailable, Trigger::Next(2)));
    for _ in 0..2 {
        assert_eq!(
            raw_post(&h, "search_count")
                .await
                .unwrap()
                .status()
                .as_u16(),
            503
        );
    }
    assert_eq!(
        raw_post(&h, "search_count")
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    h.db.clear_faults();

    h.db.add_fault(
        rule(
            FaultKind::TooManyRequests {
                retry_after_secs: 7,
            },
            Trigger::Always,
        )
        .on_methods(&["search"]),
    );
    let r = raw_post(&h, "search").await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("7")
    );
    assert_eq!(
        raw_post(&h, "search_count")
            .await
            .unwrap()
            .status()
            .as_u16(),
        200,
        "method filter"
    );
    h.db.clear_faults();

    h.db.add_fault(rule(
        FaultKind::BadGateway,
        Trigger::Calls { first: 2, last: 3 },
    ));
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(
                raw_post(&h, "search_count")
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        v
    };
    assert_eq!(statuses, [200, 502, 502, 200]);
    h.db.clear_faults();

    h.db.add_fault(rule(FaultKind::GatewayTimeout, Trigger::Rate(1.0)));
    assert_eq!(
        raw_post(&h, "search_count")
            .await
            .unwrap()
            .status()
            .as_u16(),
        504
    );
    h.db.clear_faults();
    h.db.add_fault(rule(FaultKind::GatewayTimeout, Trigger::Rate(0.0)));
    assert_eq!(
        raw_post(&h, "search_count")
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn broken_connections_and_bodies() {
    let h = start(spec("f2", 19, 50)).await;
    h.db.add_fault(rule(FaultKind::ConnectionReset, Trigger::Next(1)));
    let err = raw_post(&h, "search_read").await.expect_err("reset");
    assert!(!err.is_timeout(), "{err}");
    assert_eq!(
        raw_post(&h, "search_read").await.unwrap().status().as_u16(),
        200
    );

    h.db.add_fault(rule(
        FaultKind::Hang(Duration::from_secs(30)),
        Trigger::Next(1),
    ));
    let t = Instant::now();
    let err = raw_post(&h, "search_read").await.expect_err("hang");
    assert!(err.is_timeout(), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));

    h.db.add_fault(rule(FaultKind::TruncatedBody, Trigger::Next(1)));
    let resp = raw_post(&h, "search_read").await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.bytes().await.is_err(), "the body breaks off");

    h.db.add_fault(rule(FaultKind::MalformedBody, Trigger::Next(1)));
    let r = h
        .kw(
            "res.partner",
            "search_read",
            json!([[]]),
            json!({"limit": 1}),
        )
        .await;
    assert!(
        matches!(r, Err(CallError::Http(ref m)) if m.contains("undecodable")),
        "{r:?}"
    );

    h.db.add_fault(rule(
        FaultKind::Latency(Duration::from_millis(250)),
        Trigger::Next(1),
    ));
    let t = Instant::now();
    assert!(h
        .kw("res.partner", "search_count", json!([[]]), json!({}))
        .await
        .is_ok());
    assert!(t.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn server_fault_hits_model_calls_only() {
    let h = start(spec("f3", 19, 50)).await;
    h.db.add_fault(rule(FaultKind::ServerFault, Trigger::Always));
    let uid = h
        .xmlrpc(
            "common",
            "authenticate",
            vec![json!("f3"), json!("admin"), json!("admin"), json!({})],
        )
        .await;
    assert_eq!(uid.unwrap(), json!(2));
    let r = h
        .kw("res.partner", "search_count", json!([[]]), json!({}))
        .await;
    assert!(
        matches!(r, Err(CallError::Fault(1, ref m)) if m.starts_with("Traceback")),
        "{r:?}"
    );
    let j = h
        .jsonrpc(
            "object",
            "execute_kw",
            json!(["f3", 2, "admin", "res.partner", "search_count", [[]]]),
        )
        .await;
    assert_eq!(j["error"]["code"], json!(0));
    assert!(j["error"]["data"]["name"]
        .as_str()
        .unwrap()
        .starts_with("psycopg2"));
    let (status, body) = h
        .json2(KEY, "res.partner", "search_count", json!({"domain": []}))
        .await;
    assert_eq!(status, 500);
    assert!(body["debug"].is_string());
}

#[tokio::test]
async fn revoked_credentials_stop_working() {
    let h = start(spec("f4", 17, 50)).await;
    let auth = |secret: &'static str| {
        let h = &h;
        async move {
            h.xmlrpc(
                "common",
                "authenticate",
                vec![json!("f4"), json!("admin"), json!(secret), json!({})],
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(auth(KEY).await, json!(2));
    h.db.revoke_credentials("admin").unwrap();
    assert_eq!(auth("admin").await, json!(false));
    assert_eq!(auth(KEY).await, json!(false));
    let r = h
        .kw("res.partner", "search_count", json!([[]]), json!({}))
        .await;
    assert!(
        matches!(r, Err(CallError::Fault(3, ref m)) if m == "Access Denied"),
        "{r:?}"
    );
    let j = h
        .jsonrpc(
            "object",
            "execute_kw",
            json!(["f4", 2, "admin", "res.partner", "search_count", [[]]]),
        )
        .await;
    assert_eq!(
        j["error"]["data"]["name"],
        json!("odoo.exceptions.AccessDenied")
    );
    assert_eq!(
        j["error"]["code"],
        json!(200),
        "before 19 the JSON-RPC error code is 200"
    );
    h.db.restore_credentials("admin").unwrap();
    assert_eq!(auth("admin").await, json!(2));
    h.db.revoke_api_key(KEY);
    assert_eq!(auth(KEY).await, json!(false));
}

#[tokio::test]
async fn login_throttling_after_repeated_failures() {
    let h = start(spec("f5", 19, 50)).await;
    let auth = |secret: &'static str| {
        let h = &h;
        async move {
            h.xmlrpc(
                "common",
                "authenticate",
                vec![json!("f5"), json!("admin"), json!(secret), json!({})],
            )
            .await
            .unwrap()
        }
    };
    h.db.set_login_throttle(Some(LoginThrottle {
        max_failures: 3,
        cooldown: Duration::from_millis(400),
    }));
    for _ in 0..3 {
        assert_eq!(auth("wrong").await, json!(false));
    }
    // On cooldown even the right password fails: Odoo's authenticate turns the refusal into False.
    assert_eq!(auth("admin").await, json!(false));
    let web: Json = h
        .http
        .post(format!("{}/web/session/authenticate", h.server.url()))
        .json(&json!({"jsonrpc": "2.0", "params": {"db": "f5", "login": "admin", "password": "admin"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(web["error"]["data"]["message"], json!(TOO_MANY_FAILURES));
    // execute_kw checks credentials without the cooldown, as Odoo does.
    assert!(h
        .kw("res.partner", "search_count", json!([[]]), json!({}))
        .await
        .is_ok());
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(auth("admin").await, json!(2), "cooldown over");
}

#[tokio::test]
async fn counters_by_method_over_rust_and_http() {
    let h = start(spec("f6", 19, 50)).await;
    h.xmlrpc(
        "common",
        "authenticate",
        vec![json!("f6"), json!("admin"), json!("admin"), json!({})],
    )
    .await
    .unwrap();
    for _ in 0..2 {
        h.count("res.partner", json!([]), json!({})).await;
    }
    for _ in 0..3 {
        h.search_read("res.partner", json!([]), json!({"limit": 1}))
            .await;
    }
    h.json2(KEY, "res.partner", "search_count", json!({})).await;
    let s = h.db.stats();
    assert_eq!(
        (
            s.get("authenticate"),
            s.get("search_count"),
            s.get("search_read"),
            s.total
        ),
        (1, 3, 3, 7)
    );
    let url = format!("{}/__sim/stats/f6", h.server.url());
    let http: Json = h.http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(http["total"], json!(7));
    assert_eq!(http["methods"]["search_read"], json!(3));
    let reset: Json = h
        .http
        .post(format!("{url}/reset"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reset["total"], json!(0));
    assert_eq!(h.db.stats().total, 0);
    let all: Json = h
        .http
        .get(format!("{}/__sim/stats", h.server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(all["databases"]["f6"].is_object());
}

#[tokio::test]
async fn unknown_database_is_fault_1() {
    let h = start(spec("f7", 19, 10)).await;
    let r = h
        .xmlrpc(
            "common",
            "authenticate",
            vec![json!("nope"), json!("admin"), json!("admin"), json!({})],
        )
        .await;
    assert!(
        matches!(r, Err(CallError::Fault(1, ref m)) if m.contains("database \"nope\" does not exist")),
        "{r:?}"
    );
    assert_eq!(
        h.sim.server_stats().get("authenticate"),
        1,
        "counted on the server"
    );
}
