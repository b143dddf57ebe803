//! Custom (Odoo Studio) fields over real HTTP: `fields_get` lists them as manual stored fields,
//! reads return them empty on existing records without moving their `write_date` (adding a
//! column is not a write), a write to them moves `write_date` like any write, domains filter
//! on them, and databases can declare them up front.

mod common;

use chrono::{Duration, Utc};
use common::{spec, start, Harness, KEY};
use serde_json::{json, Value as Json};
use sim::{CustomField, CustomFieldKind, DatabaseSpec, SimError};

/// A database whose generated records were all written at least a day ago, so a write now
/// shows as a different `write_date` even at whole seconds.
fn dated(name: &str, version: u32) -> DatabaseSpec {
    let mut s = spec(name, version, 100);
    s.data.end = Some(Utc::now() - Duration::days(1));
    s
}

/// `read` over the three protocols (JSON-2 only where the version has it); asserts they agree.
async fn read_everywhere(h: &Harness, model: &str, id: i64, fields: &[&str]) -> Json {
    let xml = h
        .kw(model, "read", json!([[id], fields]), json!({}))
        .await
        .expect("XML-RPC read");
    let rpc = h
        .rpc_kw(model, "read", json!([[id], fields]), json!({}))
        .await
        .expect("JSON-RPC read");
    assert_eq!(xml, rpc, "XML-RPC and JSON-RPC disagree");
    if h.db.version() >= 19 {
        let (status, j2) = h
            .json2(KEY, model, "read", json!({"ids": [id], "fields": fields}))
            .await;
        assert_eq!(status, 200);
        assert_eq!(xml, j2, "JSON-2 disagrees");
    }
    xml[0].clone()
}

#[tokio::test]
async fn a_studio_field_shows_empty_then_holds_what_is_written() {
    for version in [12, 17, 19] {
        let h = start(dated(&format!("c{version}"), version)).await;
        let order = h.db.ids("sale.order").expect("orders")[0];
        let before = h.db.write_date("sale.order", order).expect("date");
        let read_before = read_everywhere(&h, "sale.order", order, &["write_date"]).await;

        h.db.add_custom_field("sale.order", "x_studio_region", CustomFieldKind::Char)
            .expect("add field");

        let f = h
            .kw(
                "sale.order",
                "fields_get",
                json!([["x_studio_region"]]),
                json!({"attributes": ["type", "string", "store", "manual", "required"]}),
            )
            .await
            .expect("fields_get");
        assert_eq!(
            f["x_studio_region"],
            json!({"manual": true, "required": false, "store": true, "string": "Region", "type": "char"}),
            "v{version}"
        );
        // Listed among all fields too, and absent from other models.
        let all = h
            .rpc_kw(
                "sale.order",
                "fields_get",
                json!([]),
                json!({"attributes": ["type"]}),
            )
            .await
            .expect("JSON-RPC fields_get");
        assert!(all.get("x_studio_region").is_some());
        let partner = h
            .rpc_kw(
                "res.partner",
                "fields_get",
                json!([]),
                json!({"attributes": ["type"]}),
            )
            .await
            .expect("fields_get");
        assert!(partner.get("x_studio_region").is_none());

        // Existing records read it as False and keep their write_date.
        let row =
            read_everywhere(&h, "sale.order", order, &["x_studio_region", "write_date"]).await;
        assert_eq!(row["x_studio_region"], json!(false));
        assert_eq!(row["write_date"], read_before["write_date"]);
        assert_eq!(h.db.write_date("sale.order", order).expect("date"), before);
        let everyone = h.count("sale.order", json!([]), json!({})).await;
        let unset = h
            .count(
                "sale.order",
                json!([["x_studio_region", "=", false]]),
                json!({}),
            )
            .await;
        assert_eq!(unset, everyone);

        // A write sets it and moves write_date, as any write does.
        h.db.update("sale.order", order, json!({"x_studio_region": "EMEA"}))
            .expect("write");
        assert!(h.db.write_date("sale.order", order).expect("date") > before);
        let row =
            read_everywhere(&h, "sale.order", order, &["x_studio_region", "write_date"]).await;
        assert_eq!(row["x_studio_region"], json!("EMEA"));
        assert_ne!(row["write_date"], read_before["write_date"]);
        let emea = h
            .search(
                "sale.order",
                json!([["x_studio_region", "=", "EMEA"]]),
                json!({}),
            )
            .await;
        assert_eq!(emea, vec![order]);
        // search_read without a field list returns it too.
        let rows = h
            .search_read("sale.order", json!([["id", "=", order]]), json!({}))
            .await;
        assert_eq!(rows[0]["x_studio_region"], json!("EMEA"));
        h.server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test]
async fn every_kind_reads_as_odoo_does() {
    let h = start(dated("kinds", 17)).await;
    let partner = h.db.ids("res.partner").expect("partners")[0];
    let user = h.db.ids("res.users").expect("users")[0];
    let kinds = [
        ("x_studio_score", CustomFieldKind::Integer, json!(0)),
        ("x_studio_ratio", CustomFieldKind::Float, json!(0.0)),
        ("x_studio_vip", CustomFieldKind::Boolean, json!(false)),
        ("x_studio_since", CustomFieldKind::Date, json!(false)),
        (
            "x_studio_tier",
            CustomFieldKind::Selection(vec![
                ("gold".into(), "Gold".into()),
                ("silver".into(), "Silver".into()),
            ]),
            json!(false),
        ),
        (
            "x_studio_owner",
            CustomFieldKind::Many2one("res.users".into()),
            json!(false),
        ),
    ];
    for (name, kind, _) in &kinds {
        h.db.add_custom_field("res.partner", name, kind.clone())
            .expect("add");
    }
    let names: Vec<&str> = kinds.iter().map(|(n, _, _)| *n).collect();
    let row = read_everywhere(&h, "res.partner", partner, &names).await;
    for (name, _, empty) in &kinds {
        assert_eq!(&row[*name], empty, "{name}");
    }
    let f = h
        .kw(
            "res.partner",
            "fields_get",
            json!([names]),
            json!({"attributes": ["type", "relation", "selection"]}),
        )
        .await
        .expect("fields_get");
    assert_eq!(f["x_studio_owner"]["relation"], json!("res.users"));
    assert_eq!(
        f["x_studio_tier"]["selection"],
        json!([["gold", "Gold"], ["silver", "Silver"]])
    );
    assert_eq!(f["x_studio_ratio"]["type"], json!("float"));

    h.db.update(
        "res.partner",
        partner,
        json!({"x_studio_score": 7, "x_studio_tier": "gold", "x_studio_owner": user, "x_studio_since": "2024-02-29"}),
    )
    .expect("write");
    let row = read_everywhere(&h, "res.partner", partner, &names).await;
    assert_eq!(row["x_studio_score"], json!(7));
    assert_eq!(row["x_studio_tier"], json!("gold"));
    assert_eq!(row["x_studio_since"], json!("2024-02-29"));
    assert_eq!(row["x_studio_owner"][0], json!(user));
    assert!(row["x_studio_owner"][1].is_string());
    // Values outside a selection are refused, like Odoo's ValueError on write.
    assert!(h
        .db
        .update("res.partner", partner, json!({"x_studio_tier": "bronze"}))
        .is_err());
}

#[tokio::test]
async fn custom_fields_declared_up_front_and_refused_ones() {
    let mut s = dated("upfront", 19);
    s.custom_fields = vec![
        CustomField::new("sale.order", "x_studio_channel", CustomFieldKind::Char)
            .with_label("Sales Channel"),
        "sale.order.line:x_studio_margin:monetary"
            .parse()
            .expect("spec"),
    ];
    let h = start(s).await;
    let f = h
        .kw(
            "sale.order",
            "fields_get",
            json!([["x_studio_channel"]]),
            json!({"attributes": ["string", "manual"]}),
        )
        .await
        .expect("fields_get");
    assert_eq!(
        f["x_studio_channel"],
        json!({"manual": true, "string": "Sales Channel"})
    );
    let rows = h
        .search_read(
            "sale.order.line",
            json!([]),
            json!({"fields": ["x_studio_margin"], "limit": 5}),
        )
        .await;
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r["x_studio_margin"] == json!(0.0)));

    for (model, name, kind) in [
        ("sale.order", "studio_region", CustomFieldKind::Char),
        ("sale.order", "x_studio_channel", CustomFieldKind::Char),
        ("no.such.model", "x_a", CustomFieldKind::Char),
        (
            "sale.order",
            "x_b",
            CustomFieldKind::Many2one("no.such.model".into()),
        ),
    ] {
        let err = h.db.add_custom_field(model, name, kind);
        assert!(
            matches!(err, Err(SimError::InvalidCustomField { .. })),
            "{model}.{name}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_transaction_open_across_the_change_commits_full_rows() {
    let h = start(dated("tx", 17)).await;
    let mut tx = h.db.begin();
    let id = tx
        .create("res.partner", json!({"name": "Before the column"}))
        .expect("create");
    h.db.add_custom_field("res.partner", "x_studio_code", CustomFieldKind::Char)
        .expect("add");
    tx.commit();
    let rows = h
        .search_read(
            "res.partner",
            json!([["id", "=", id]]),
            json!({"fields": ["name", "x_studio_code"]}),
        )
        .await;
    assert_eq!(rows[0]["x_studio_code"], json!(false));
    assert_eq!(rows[0]["name"], json!("Before the column"));
}
