//! Golden tests for the XML-RPC codec on real Odoo 19 traffic.
//!
//! Every `xmlrpc_*.response` and `xmlrpc_*.request` in the shared fixtures must decode, with
//! concrete facts checked on the interesting ones; re-encoding what was decoded must decode to
//! the same value, and for responses must give back the server's exact bytes (the simulator
//! relies on the encoder writing Odoo's layout). The fixtures are the repository's
//! `fixtures/odoo-19.0` (or `FIXTURES_DIR`); if they cannot be found the tests fail rather than
//! silently pass.

use std::path::PathBuf;

use shared::odoo::xmlrpc::{
    decode_call, decode_response, encode_call, encode_fault, encode_response, Fault, Limits,
    MethodCall, MethodResponse, Value,
};

fn fixtures_dir() -> PathBuf {
    let dir = match std::env::var_os("FIXTURES_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/odoo-19.0"),
    };
    assert!(
        dir.is_dir(),
        "Odoo fixtures not found at {} (set FIXTURES_DIR to the odoo-19.0 fixtures directory)",
        dir.display()
    );
    dir
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// All fixture files named `xmlrpc_*<suffix>`, sorted; fails if there are none.
fn fixture_files(suffix: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fixtures_dir();
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            (name.starts_with("xmlrpc_") && name.ends_with(suffix)).then_some(name)
        })
        .map(|name| {
            let bytes = fixture(&name);
            (name, bytes)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the xmlrpc_*{suffix} fixtures in {}, found {}",
        dir.display(),
        files.len()
    );
    files
}

fn response(name: &str) -> MethodResponse {
    decode_response(&fixture(name), &Limits::default())
        .unwrap_or_else(|e| panic!("decoding {name}: {e}"))
}

fn success(name: &str) -> Value {
    match response(name) {
        MethodResponse::Success(v) => v,
        MethodResponse::Fault(f) => panic!("{name}: unexpected fault {f:?}"),
    }
}

fn fault(name: &str) -> Fault {
    match response(name) {
        MethodResponse::Fault(f) => f,
        MethodResponse::Success(v) => panic!("{name}: expected a fault, got {v:?}"),
    }
}

fn member<'v>(v: &'v Value, key: &str) -> &'v Value {
    match v {
        Value::Struct(members) => {
            &members
                .iter()
                .find(|(k, _)| k == key)
                .unwrap_or_else(|| panic!("no member {key:?} in {v:?}"))
                .1
        }
        other => panic!("expected a struct with {key:?}, got {other:?}"),
    }
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) => items,
        other => panic!("expected an array, got {other:?}"),
    }
}

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

#[test]
fn every_response_fixture_decodes_and_round_trips() {
    for (name, bytes) in fixture_files(".response") {
        let decoded = decode_response(&bytes, &Limits::default())
            .unwrap_or_else(|e| panic!("decoding {name}: {e}"));
        let encoded = match &decoded {
            MethodResponse::Success(v) => encode_response(v),
            MethodResponse::Fault(f) => encode_fault(f),
        };
        let again = decode_response(&encoded, &Limits::default())
            .unwrap_or_else(|e| panic!("decoding re-encoded {name}: {e}"));
        assert_eq!(again, decoded, "{name}: re-encode → decode differs");
        assert_eq!(
            String::from_utf8_lossy(&encoded),
            String::from_utf8_lossy(&bytes),
            "{name}: the encoder does not write Odoo's exact layout"
        );
    }
}

#[test]
fn every_request_fixture_decodes_and_round_trips() {
    for (name, bytes) in fixture_files(".request") {
        let call =
            decode_call(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!call.method.is_empty(), "{name}: empty method name");
        let encoded = encode_call(&call.method, &call.params);
        let again = decode_call(&encoded, &Limits::default())
            .unwrap_or_else(|e| panic!("decoding re-encoded {name}: {e}"));
        assert_eq!(again, call, "{name}: re-encode → decode differs");
        assert_eq!(
            String::from_utf8_lossy(&encoded),
            String::from_utf8_lossy(&bytes),
            "{name}: the encoder does not write Python's exact request layout"
        );
    }
}

#[test]
fn version_response() {
    let v = success("xmlrpc_common_version.response");
    assert_eq!(member(&v, "server_version"), &s("19.0"));
    assert_eq!(member(&v, "server_serie"), &s("19.0"));
    assert_eq!(member(&v, "protocol_version"), &Value::Int(1));
    assert_eq!(
        member(&v, "server_version_info"),
        &Value::Array(vec![
            Value::Int(19),
            Value::Int(0),
            Value::Int(0),
            s("final"),
            Value::Int(0),
            s(""),
        ])
    );
}

#[test]
fn authenticate_responses() {
    assert_eq!(
        success("xmlrpc_common_authenticate_ok.response"),
        Value::Int(2)
    );
    // A wrong password is not a fault: authenticate answers False.
    assert_eq!(
        success("xmlrpc_common_authenticate_bad_password.response"),
        Value::Bool(false)
    );
    let f = fault("xmlrpc_common_authenticate_unknown_db.response");
    assert_eq!(f.code, 1);
    assert!(f
        .message
        .starts_with("Traceback (most recent call last):\n"));
    assert!(f
        .message
        .contains("database \"no_such_db\" does not exist\n"));
}

#[test]
fn fault_codes() {
    let cases = [
        (
            "xmlrpc_fault_unknown_field.response",
            1,
            "Invalid field res.partner.no_such_field",
        ),
        (
            "xmlrpc_fault_unknown_model.response",
            2,
            "Object no.such.model doesn't exist",
        ),
        ("xmlrpc_fault_bad_password.response", 3, "Access Denied"),
        (
            "xmlrpc_fault_private_method.response",
            4,
            "Private methods (such as 'res.partner._search') cannot be called remotely.",
        ),
    ];
    for (name, code, text) in cases {
        let f = fault(name);
        assert_eq!(f.code, code, "{name}");
        assert!(f.message.contains(text), "{name}: {:?}", f.message);
    }
}

#[test]
fn partner_search_read() {
    let v = success("xmlrpc_object_search_read_partner.response");
    let records = items(&v);
    assert_eq!(records.len(), 5);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(member(r, "id"), &Value::Int(i as i64 + 1));
        let Value::Struct(members) = r else {
            unreachable!()
        };
        let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "id",
                "name",
                "email",
                "phone",
                "is_company",
                "parent_id",
                "country_id",
                "active",
                "write_date",
                "create_date",
                "city"
            ]
        );
    }
    let first = &records[0];
    assert_eq!(member(first, "name"), &s("YourCompany"));
    assert_eq!(member(first, "email"), &s("info@yourcompany.com"));
    assert_eq!(member(first, "is_company"), &Value::Bool(true));
    assert_eq!(member(first, "parent_id"), &Value::Bool(false));
    assert_eq!(
        member(first, "country_id"),
        &Value::Array(vec![Value::Int(233), s("United States")])
    );
    assert_eq!(member(first, "write_date"), &s("2026-11-24 18:26:56"));
    // OdooBot: empty fields come back as False, and it is archived.
    let bot = &records[1];
    assert_eq!(member(bot, "name"), &s("OdooBot"));
    for key in ["phone", "parent_id", "country_id", "city", "active"] {
        assert_eq!(member(bot, key), &Value::Bool(false), "OdooBot {key}");
    }
}

#[test]
fn read_group_counts() {
    let v = success("xmlrpc_object_read_group_partner_write_date_day.response");
    let groups = items(&v);
    assert_eq!(groups.len(), 1);
    assert_eq!(member(&groups[0], "__count"), &Value::Int(61));
    assert_eq!(member(&groups[0], "write_date:day"), &s("24 Nov 2026"));
    // Entities in the domain are decoded.
    let domain = items(member(&groups[0], "__domain"));
    assert_eq!(domain[0], s("&"));
    assert_eq!(items(&domain[1])[1], s(">="));
    assert_eq!(items(&domain[2])[1], s("<"));
    let range = member(member(&groups[0], "__range"), "write_date:day");
    assert_eq!(member(range, "from"), &s("2026-11-24 00:00:00"));

    let v = success("xmlrpc_object_formatted_read_group_partner.response");
    let groups = items(&v);
    assert_eq!(member(&groups[0], "__count"), &Value::Int(61));
    assert_eq!(
        member(&groups[0], "write_date:day"),
        &Value::Array(vec![s("2026-11-24 00:00:00"), s("24 Nov 2026")])
    );
}

#[test]
fn scalar_results_and_ids() {
    assert_eq!(
        success("xmlrpc_object_search_count_partner.response"),
        Value::Int(61)
    );
    let ids = success("xmlrpc_object_search_ids_partner.response");
    let ids = items(&ids);
    assert_eq!(ids.len(), 61);
    assert_eq!(ids[0], Value::Int(1));
    assert!(ids.iter().all(|v| matches!(v, Value::Int(_))));
}

#[test]
fn doubles_and_many2one_in_invoices() {
    let v = success("xmlrpc_object_search_read_invoice.response");
    let first = &items(&v)[0];
    assert_eq!(member(first, "amount_total"), &Value::Double(31750.0));
    assert!(matches!(member(first, "partner_id"), Value::Array(pair) if pair.len() == 2));
}

#[test]
fn fields_get_and_modules() {
    let v = success("xmlrpc_object_fields_get_partner.response");
    assert_eq!(member(member(&v, "parent_id"), "type"), &s("many2one"));
    assert_eq!(
        member(member(&v, "parent_id"), "relation"),
        &s("res.partner")
    );
    assert_eq!(member(member(&v, "name"), "required"), &Value::Bool(false));

    let v = success("xmlrpc_object_installed_modules.response");
    let names: Vec<&Value> = items(&v).iter().map(|m| member(m, "name")).collect();
    assert_eq!(
        names,
        [
            &s("account"),
            &s("hr"),
            &s("contacts"),
            &s("base"),
            &s("sale")
        ]
    );
}

#[test]
fn requests_decode_to_calls() {
    let call = decode_call(
        &fixture("xmlrpc_common_version.request"),
        &Limits::default(),
    )
    .expect("version request");
    assert_eq!(
        call,
        MethodCall {
            method: "version".into(),
            params: vec![],
        }
    );

    let call = decode_call(
        &fixture("xmlrpc_object_search_read_partner.request"),
        &Limits::default(),
    )
    .expect("search_read request");
    assert_eq!(call.method, "execute_kw");
    assert_eq!(call.params.len(), 7);
    assert_eq!(call.params[0], s("demo"));
    assert_eq!(call.params[1], Value::Int(2));
    assert_eq!(call.params[3], s("res.partner"));
    assert_eq!(call.params[4], s("search_read"));
    assert_eq!(
        call.params[5],
        Value::Array(vec![Value::Array(vec![])]),
        "one positional argument: the empty domain"
    );
    let kwargs = &call.params[6];
    assert_eq!(items(member(kwargs, "fields")).len(), 10);
    assert_eq!(member(kwargs, "order"), &s("id asc"));
    assert_eq!(member(kwargs, "limit"), &Value::Int(5));
    assert_eq!(
        member(member(kwargs, "context"), "active_test"),
        &Value::Bool(false)
    );

    let call = decode_call(
        &fixture("xmlrpc_object_search_read_write_date_window.request"),
        &Limits::default(),
    )
    .expect("window request");
    let domain = items(&items(&call.params[5])[0]);
    assert_eq!(
        domain[0],
        Value::Array(vec![s("write_date"), s(">="), s("2020-01-01 00:00:00")])
    );
    assert_eq!(items(&domain[1])[1], s("<"));
    assert_eq!(
        domain[2],
        Value::Array(vec![s("id"), s(">"), Value::Int(10)])
    );
}

#[test]
fn responses_are_not_calls_and_vice_versa() {
    let response = fixture("xmlrpc_common_version.response");
    assert!(decode_call(&response, &Limits::default()).is_err());
    let request = fixture("xmlrpc_common_version.request");
    assert!(decode_response(&request, &Limits::default()).is_err());
}

#[test]
fn json_view_of_partner_records() {
    let v = success("xmlrpc_object_search_read_partner.response");
    let json = v.to_json();
    assert_eq!(json, serde_json::Value::from(v.clone()));
    assert_eq!(json[0]["id"], 1);
    assert_eq!(
        json[0]["country_id"],
        serde_json::json!([233, "United States"])
    );
    assert_eq!(json[1]["parent_id"], false);
    assert_eq!(
        Value::from_json(&json[0]["country_id"]),
        *member(&items(&v)[0], "country_id")
    );
}
