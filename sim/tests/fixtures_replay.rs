//! Replays every captured real Odoo request (`fixtures/odoo-19.0` against a simulated
//! version-19 database `demo`, `fixtures/odoo-17.0` against a version-17 database `demo17`) and
//! checks that the answer has the fixture's structure: HTTP status, content type, value types,
//! struct keys, array-ness, fault codes and JSON error names and codes (values may differ),
//! plus what a version words differently: the XML declaration, error messages (numbers
//! aside) and the title and heading of HTML 404 pages.

mod common;

use serde_json::Value as Json;
use shared::odoo::xmlrpc::{decode_response, Limits, MethodResponse};
use std::path::PathBuf;

/// The fixtures of a version: the repository's copy, or for 19 `FIXTURES_DIR` when set.
fn fixtures_dir(version: u32) -> PathBuf {
    let repo =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../fixtures/odoo-{version}.0"));
    let dir = match std::env::var_os("FIXTURES_DIR") {
        Some(dir) if version == 19 => PathBuf::from(dir),
        _ => repo,
    };
    assert!(
        dir.is_dir(),
        "FIXTURES MISSING: no fixture directory at {} (set FIXTURES_DIR to the odoo-19.0 fixtures)",
        dir.display()
    );
    dir
}

/// The text between `open`'s end (`<title>` or `<h1 ...>`) and the next `close`.
fn element_text(html: &str, open: &str, close: &str) -> Option<String> {
    let start = html.find(open)?;
    let after = start + html[start..].find('>')? + 1;
    let end = after + html[after..].find(close)?;
    Some(html[after..end].trim().to_string())
}

/// What must be equal between two answers, beyond their shape.
fn wording(content_type: &str, body: &[u8], tree: &Json) -> Json {
    let text = String::from_utf8_lossy(body);
    if content_type.starts_with("text/html") {
        return serde_json::json!({
            "title": element_text(&text, "<title", "</title>"),
            "h1": element_text(&text, "<h1", "</h1>"),
        });
    }
    // Error messages with their numbers (ports, ids) masked.
    let message = tree
        .get("faultString")
        .or_else(|| tree.pointer("/error/data/message"))
        .or_else(|| tree.get("debug").and(tree.get("message")))
        .and_then(Json::as_str)
        .map(|m| {
            let last = m.trim_end().lines().last().unwrap_or_default();
            let mut masked = String::new();
            for c in last.chars() {
                if !c.is_ascii_digit() {
                    masked.push(c);
                } else if !masked.ends_with('#') {
                    masked.push('#');
                }
            }
            masked
        });
    let declaration = content_type
        .starts_with("text/xml")
        .then(|| text.lines().next().unwrap_or_default().to_string());
    // Whether `debug` is a traceback or only the exception line.
    let debug = tree
        .pointer("/error/data/debug")
        .or_else(|| tree.get("debug"))
        .and_then(Json::as_str)
        .map(|d| {
            d.lines()
                .next()
                .unwrap_or_default()
                .starts_with("Traceback")
        });
    serde_json::json!({"declaration": declaration, "message": message, "traceback": debug})
}

/// A response body as a comparable tree: XML-RPC faults become `{"faultCode", "faultString"}`.
fn tree(content_type: &str, body: &[u8]) -> Result<Json, String> {
    if body.is_empty() {
        return Ok(Json::Null);
    }
    if content_type.starts_with("text/xml") {
        match decode_response(body, &Limits::default()).map_err(|e| e.to_string())? {
            MethodResponse::Success(v) => Ok(v.to_json()),
            MethodResponse::Fault(f) => Ok(serde_json::json!({
                "faultCode": f.code, "faultString": f.message
            })),
        }
    } else if content_type.starts_with("text/html") {
        Ok(Json::String("html".into()))
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(n) if n.is_f64() => "float",
        Json::Number(_) => "int",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn is_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19 && b[4] == b'-' && b[7] == b'-' && b[10] == b' ' && b[13] == b':' && b[16] == b':'
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10 && b[4] == b'-' && b[7] == b'-'
}

/// Keys whose values must be equal, not just alike: fault codes, JSON error names and codes.
fn exact_key(key: &str, parent: &serde_json::Map<String, Json>) -> bool {
    key == "faultCode"
        || (key == "name" && parent.contains_key("debug"))
        || (key == "code" && parent.contains_key("data"))
}

/// Compares structure; pushes every difference with its path.
fn compare(path: &str, want: &Json, got: &Json, diffs: &mut Vec<String>) {
    match (want, got) {
        // An empty value is False in Odoo, whatever the field's type: a record whose field
        // is set in one answer and empty in the other has the same shape.
        (Json::Bool(false), g) if !g.is_boolean() => {}
        (w, Json::Bool(false)) if !w.is_boolean() => {}
        (Json::Object(w), Json::Object(g)) => {
            let mut wk: Vec<&String> = w.keys().collect();
            let mut gk: Vec<&String> = g.keys().collect();
            wk.sort();
            gk.sort();
            if wk != gk {
                diffs.push(format!("{path}: keys {wk:?} != {gk:?}"));
                return;
            }
            for (k, wv) in w {
                let gv = &g[k];
                if exact_key(k, w) && wv != gv {
                    diffs.push(format!("{path}.{k}: {wv} != {gv}"));
                }
                compare(&format!("{path}.{k}"), wv, gv, diffs);
            }
        }
        (Json::Array(w), Json::Array(g)) => {
            if w.is_empty() != g.is_empty() {
                diffs.push(format!(
                    "{path}: emptiness differs ({} vs {})",
                    w.len(),
                    g.len()
                ));
            }
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                compare(&format!("{path}[{i}]"), wv, gv, diffs);
            }
        }
        (Json::String(w), Json::String(g)) => {
            if is_datetime(w) && !is_datetime(g) {
                diffs.push(format!("{path}: {g:?} is not a datetime like {w:?}"));
            } else if is_date(w) && !is_date(g) {
                diffs.push(format!("{path}: {g:?} is not a date like {w:?}"));
            }
        }
        (w, g) if kind(w) == kind(g) => {}
        (w, g) => diffs.push(format!("{path}: {} ({w}) != {} ({g})", kind(w), kind(g))),
    }
}

#[tokio::test]
async fn every_odoo_19_fixture_has_the_same_shape() {
    replay(19, "demo").await;
}

#[tokio::test]
async fn every_odoo_17_fixture_has_the_same_shape() {
    replay(17, "demo17").await;
}

/// Replays the version's fixtures against a simulated database of that version and name.
async fn replay(version: u32, db_name: &str) {
    let dir = fixtures_dir(version);
    let h = common::start(common::spec(db_name, version, 300)).await;
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("read fixtures")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".request").map(str::to_string))
        .collect();
    names.sort();
    assert!(
        names.len() >= 30,
        "only {} fixtures in {}",
        names.len(),
        dir.display()
    );

    let mut failures = Vec::new();
    for name in &names {
        let read =
            |ext: &str| std::fs::read(dir.join(format!("{name}.{ext}"))).expect("fixture file");
        let meta: Json = serde_json::from_slice(&read("meta.json")).expect("meta json");
        let request = read("request");
        let expected = read("response");
        let path = meta["path"].as_str().expect("path");
        let url = format!("{}{path}", h.server.url());
        let mut req = match meta["method"].as_str() {
            Some("GET") => h.http.get(&url),
            _ => h.http.post(&url).body(request),
        };
        if let Some(headers) = meta["request_headers"].as_object() {
            for (k, v) in headers {
                req = req.header(k.as_str(), v.as_str().unwrap_or_default());
            }
        }
        if path.starts_with("/json/2/") {
            let key = match name.as_str() {
                "json2_error_bad_key" => "no-such-key",
                "json2_error_password_as_key" => "admin",
                _ => common::KEY,
            };
            req = req.header("Authorization", format!("bearer {key}"));
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp.bytes().await.expect("body");

        let mut diffs = Vec::new();
        if Some(u64::from(status)) != meta["status"].as_u64() {
            diffs.push(format!("status {status} != {}", meta["status"]));
        }
        let want_ct = meta["content_type"].as_str().unwrap_or("");
        if content_type != want_ct {
            diffs.push(format!("content type {content_type:?} != {want_ct:?}"));
        }
        match (tree(want_ct, &expected), tree(&content_type, &body)) {
            (Ok(want), Ok(got)) => {
                compare("$", &want, &got, &mut diffs);
                let (want_words, got_words) = (
                    wording(want_ct, &expected, &want),
                    wording(&content_type, &body, &got),
                );
                if want_words != got_words {
                    diffs.push(format!("wording {want_words} != {got_words}"));
                }
            }
            (Err(e), _) => diffs.push(format!("fixture response unreadable: {e}")),
            (_, Err(e)) => diffs.push(format!(
                "simulator response unreadable: {e}: {}",
                String::from_utf8_lossy(&body)
            )),
        }
        if !diffs.is_empty() {
            failures.push(format!("{name}:\n  {}", diffs.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ in shape:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}

#[test]
fn shape_comparison_catches_differences() {
    let mut d = Vec::new();
    compare(
        "$",
        &serde_json::json!({"a": [1, "x"], "b": 1.5}),
        &serde_json::json!({"a": [1, "y"], "b": false}),
        &mut d,
    );
    assert!(d.is_empty(), "{d:?}");
    compare(
        "$",
        &serde_json::json!({"a": 1}),
        &serde_json::json!({"b": 1}),
        &mut d,
    );
    compare("$", &serde_json::json!([1]), &serde_json::json!([]), &mut d);
    compare(
        "$",
        &serde_json::json!("2026-11-24 18:26:56"),
        &serde_json::json!("x"),
        &mut d,
    );
    compare(
        "$",
        &serde_json::json!({"faultCode": 1}),
        &serde_json::json!({"faultCode": 2}),
        &mut d,
    );
    assert_eq!(d.len(), 4, "{d:?}");
}

#[test]
fn wording_catches_declarations_messages_and_pages() {
    let fault = |decl: &str, message: &str| {
        let body = format!("{decl}\n<methodResponse/>");
        let tree =
            serde_json::json!({"faultCode": 1, "faultString": format!("Traceback\n{message}\n")});
        wording("text/xml; charset=utf-8", body.as_bytes(), &tree)
    };
    let single = "<?xml version='1.0'?>";
    let double = "<?xml version=\"1.0\"?>";
    assert_eq!(
        fault(single, "port 5432 failed"),
        fault(single, "port 5433 failed")
    );
    assert_ne!(fault(single, "x"), fault(double, "x"));
    assert_ne!(fault(single, "in leaf"), fault(single, "in condition"));
    let page = |h1: &str| {
        let body =
            format!("<html><head><title>Odoo</title></head><h1 class=\"x\">{h1}</h1></html>");
        wording("text/html;charset=utf-8", body.as_bytes(), &Json::Null)
    };
    assert_eq!(page("Error 404")["h1"], "Error 404");
    assert_ne!(page("Error 404"), page("Not Found"));
}
