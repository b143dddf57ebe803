//! The models behind line-level mirroring over real HTTP (XML-RPC, JSON-RPC, JSON-2): which of
//! product.product, the sales order lines and the invoice lines each version has and under
//! which names, the invoice-line domains the engine reads with selecting exactly the product
//! lines, lines adding up to their documents, `fields_get` telling stored fields from
//! computed and delegated ones, and `ir.model` listing the database's models.

mod common;

use chrono::{Duration, Utc};
use common::{spec, start, CallError, Harness, KEY};
use serde_json::{json, Map, Value as Json};
use sim::{App, DatabaseSpec, UserSpec};
use std::collections::{BTreeMap, BTreeSet};

/// A database whose generated records were all written at least a day ago.
fn dated(name: &str, version: u32, records: usize) -> DatabaseSpec {
    let mut s = spec(name, version, records);
    s.data.end = Some(Utc::now() - Duration::days(1));
    s
}

/// `fields_get` over XML-RPC with the given attributes.
async fn fields(h: &Harness, model: &str, attributes: &[&str]) -> Map<String, Json> {
    match h
        .kw(
            model,
            "fields_get",
            json!([]),
            json!({ "attributes": attributes }),
        )
        .await
    {
        Ok(Json::Object(m)) => m,
        other => panic!("fields_get {model}: {other:?}"),
    }
}

fn keys(field: &Json) -> Vec<String> {
    field["selection"]
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| p[0].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn ids(rows: &[Json]) -> BTreeSet<i64> {
    rows.iter().filter_map(|r| r["id"].as_i64()).collect()
}

fn cents(v: &Json) -> i64 {
    (v.as_f64().unwrap_or(0.0) * 100.0).round() as i64
}

#[tokio::test]
async fn each_version_has_its_models_and_field_names() {
    for version in [12, 13, 16, 17, 19] {
        let h = start(dated(&format!("v{version}"), version, 200)).await;
        // Products: the type's values and the image fields follow the version.
        let p = fields(&h, "product.product", &["type", "store", "selection"]).await;
        let types = keys(&p["type"]);
        let want: &[&str] = if version >= 18 {
            &["consu", "service", "combo"]
        } else {
            &["consu", "service", "product"]
        };
        assert_eq!(types, want, "v{version} product types");
        assert_eq!(p.contains_key("is_storable"), version >= 18, "v{version}");
        assert_eq!(
            p.contains_key("detailed_type"),
            (15..=17).contains(&version),
            "v{version}"
        );
        let (stored_image, shown_image) = if version >= 13 {
            ("image_variant_1920", "image_1920")
        } else {
            ("image_variant", "image")
        };
        assert_eq!(
            (
                &p[stored_image]["type"],
                &p[stored_image]["store"],
                &p[shown_image]["store"]
            ),
            (&json!("binary"), &json!(true), &json!(false)),
            "v{version} images"
        );
        // Template fields are delegated (_inherits): not stored on product.product.
        assert_eq!(p["name"]["store"], json!(false));
        assert_eq!(p["default_code"]["store"], json!(true));
        assert_eq!(p["display_name"]["store"], json!(false));

        // Sales order lines: the unit of measure was renamed in 19.
        let l = fields(&h, "sale.order.line", &["type", "relation", "selection"]).await;
        let (uom, not_uom) = if version >= 19 {
            ("product_uom_id", "product_uom")
        } else {
            ("product_uom", "product_uom_id")
        };
        assert_eq!(l[uom]["relation"], json!("uom.uom"), "v{version}");
        assert!(!l.contains_key(not_uom), "v{version} has no {not_uom}");
        assert_eq!(l["order_id"]["relation"], json!("sale.order"));
        assert_eq!(
            keys(&l["display_type"]).contains(&"line_subsection".to_string()),
            version >= 19
        );

        // Invoice lines: account.invoice.line on 12, account.move.line from 13.
        let (lines, gone) = if version >= 13 {
            ("account.move.line", "account.invoice.line")
        } else {
            ("account.invoice.line", "account.move.line")
        };
        assert!(matches!(
            h.kw(gone, "search_count", json!([[]]), json!({})).await,
            Err(CallError::Fault(2, _))
        ));
        assert!(h.count(lines, json!([]), json!({})).await > 0, "v{version}");
        let f = fields(&h, lines, &["type", "selection", "required"]).await;
        let display = keys(&f["display_type"]);
        match version {
            12 | 13 => assert_eq!(display, ["line_section", "line_note"]),
            16 => {
                assert!(display.contains(&"product".to_string()));
                assert!(!display.contains(&"discount".to_string()));
            }
            17 => assert!(display.contains(&"discount".to_string())),
            _ => assert!(display.contains(&"non_deductible_tax".to_string())),
        }
        assert_eq!(f["display_type"]["required"], json!(version >= 16));
        assert_eq!(f.contains_key("exclude_from_invoice_tab"), version == 13);
        assert_eq!(f.contains_key("parent_state"), version >= 13);
        assert_eq!(
            f.contains_key("invoice_id"),
            version == 12,
            "v{version} invoice_id"
        );

        // The same answers over JSON-RPC, and over JSON-2 where the version has it.
        let via_json = h
            .rpc_kw(
                "sale.order.line",
                "fields_get",
                json!([[uom]]),
                json!({"attributes": ["string"]}),
            )
            .await
            .expect("JSON-RPC fields_get");
        let unit = if version >= 19 {
            "Unit"
        } else {
            "Unit of Measure"
        };
        assert_eq!(via_json[uom]["string"], json!(unit));
        if version >= 19 {
            let (status, body) = h
                .json2(
                    KEY,
                    lines,
                    "search_count",
                    json!({"domain": [["display_type", "=", "product"]]}),
                )
                .await;
            assert_eq!(status, 200);
            assert!(body.as_i64().unwrap_or(0) > 0);
        }
        h.server.shutdown().await.expect("shutdown");
    }
}

/// The domain the engine reads invoice product lines with, per version.
fn product_line_domain(version: u32) -> Json {
    let types = json!(["out_invoice", "out_refund", "in_invoice", "in_refund"]);
    match version {
        12 => json!([["display_type", "=", false]]),
        13 => json!([
            ["exclude_from_invoice_tab", "=", false],
            ["display_type", "=", false],
            ["move_id.type", "in", types]
        ]),
        14 | 15 => json!([
            ["exclude_from_invoice_tab", "=", false],
            ["display_type", "=", false],
            ["move_id.move_type", "in", types]
        ]),
        _ => json!([["display_type", "=", "product"]]),
    }
}

#[tokio::test]
async fn invoice_line_domains_select_exactly_the_product_lines() {
    for version in 12..=19 {
        let h = start(dated(&format!("d{version}"), version, 300)).await;
        let (lines, parent, link) = if version >= 13 {
            ("account.move.line", "account.move", "move_id")
        } else {
            ("account.invoice.line", "account.invoice", "invoice_id")
        };
        let all = h.db.snapshot(lines).expect("lines");
        let docs: BTreeMap<i64, Json> =
            h.db.snapshot(parent)
                .expect("documents")
                .into_iter()
                .filter_map(|d| d["id"].as_i64().map(|id| (id, d)))
                .collect();
        let type_field = if version == 13 { "type" } else { "move_type" };
        let entry = |line: &Json| {
            line[link][0]
                .as_i64()
                .and_then(|id| docs.get(&id))
                .is_some_and(|d| d[type_field] == json!("entry"))
        };
        // Independent of display_type: generated product lines are the ones with a product;
        // from 16 Odoo also calls the lines of journal entries "product" lines.
        let want: BTreeSet<i64> = all
            .iter()
            .filter(|l| l["product_id"] != json!(false) || (version >= 16 && entry(l)))
            .filter_map(|l| l["id"].as_i64())
            .collect();
        assert!(!want.is_empty() && want.len() < all.len(), "v{version}");

        let domain = product_line_domain(version);
        let got = h
            .search(lines, domain.clone(), json!({"order": "id"}))
            .await
            .into_iter()
            .collect::<BTreeSet<i64>>();
        assert_eq!(got, want, "v{version}: XML-RPC search");
        let count = h.count(lines, domain.clone(), json!({})).await;
        assert_eq!(count as usize, want.len(), "v{version}: search_count");
        let via_json = h
            .rpc_kw(
                lines,
                "search_read",
                json!([domain]),
                json!({"fields": ["id"]}),
            )
            .await
            .expect("JSON-RPC search_read");
        assert_eq!(
            ids(via_json.as_array().expect("rows")),
            want,
            "v{version}: JSON-RPC"
        );
        if version >= 19 {
            let (status, body) = h
                .json2(
                    KEY,
                    lines,
                    "search",
                    json!({ "domain": product_line_domain(version) }),
                )
                .await;
            assert_eq!(status, 200);
            let j2: BTreeSet<i64> = body
                .as_array()
                .map(|a| a.iter().filter_map(Json::as_i64).collect())
                .unwrap_or_default();
            assert_eq!(j2, want, "v{version}: JSON-2");
        }

        // What the domain leaves out: tax and receivable/payable lines (13+), sections, notes.
        let left: Vec<&Json> = all
            .iter()
            .filter(|l| l["id"].as_i64().is_some_and(|id| !want.contains(&id)))
            .collect();
        if version >= 16 {
            let kinds: BTreeSet<&str> = left
                .iter()
                .filter_map(|l| l["display_type"].as_str())
                .collect();
            assert!(
                kinds.contains("tax") && kinds.contains("payment_term"),
                "v{version}: {kinds:?}"
            );
            assert!(!kinds.contains("product"));
        } else if version >= 13 {
            assert!(left
                .iter()
                .any(|l| l["exclude_from_invoice_tab"] == json!(true)));
        }

        // The product lines of each invoice add up to its total.
        let mut totals: BTreeMap<i64, i64> = BTreeMap::new();
        for l in all.iter().filter(|l| l["product_id"] != json!(false)) {
            if let Some(doc) = l[link][0].as_i64() {
                *totals.entry(doc).or_default() += cents(&l["price_total"]);
            }
        }
        assert!(!totals.is_empty());
        for (doc, total) in totals {
            assert_eq!(
                total,
                cents(&docs[&doc]["amount_total"]),
                "v{version}: {parent} {doc}"
            );
        }
        h.server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test]
async fn dotted_paths_follow_many2one_fields() {
    let h = start(dated("paths", 17, 300)).await;
    let invoices = h
        .search(
            "account.move",
            json!([["move_type", "=", "out_invoice"]]),
            json!({}),
        )
        .await;
    let by_path = h
        .search(
            "account.move.line",
            json!([["move_id.move_type", "=", "out_invoice"]]),
            json!({}),
        )
        .await;
    let by_id = h
        .search(
            "account.move.line",
            json!([["move_id", "in", invoices]]),
            json!({}),
        )
        .await;
    assert!(!by_path.is_empty());
    assert_eq!(by_path, by_id);
    // Two hops, and a negation around a path.
    let partner = h
        .search_read(
            "account.move.line",
            json!([["id", "=", by_path[0]]]),
            json!({"fields": ["partner_id"]}),
        )
        .await[0]["partner_id"][1]
        .as_str()
        .expect("partner")
        .to_string();
    let two_hops = h
        .search(
            "sale.order.line",
            json!([["order_id.partner_id.name", "=", partner]]),
            json!({}),
        )
        .await;
    let direct = h
        .search(
            "sale.order.line",
            json!([["order_partner_id.name", "=", partner]]),
            json!({}),
        )
        .await;
    assert_eq!(two_hops, direct);
    let total = h.count("account.move.line", json!([]), json!({})).await;
    let not_out = h
        .count(
            "account.move.line",
            json!(["!", ["move_id.move_type", "=", "out_invoice"]]),
            json!({}),
        )
        .await;
    assert_eq!(not_out + by_path.len() as i64, total);
    // A path through a field that does not exist is Odoo's invalid-field error.
    assert!(matches!(
        h.kw(
            "account.move.line",
            "search",
            json!([[["move_id.no_such_field", "=", 1]]]),
            json!({})
        )
        .await,
        Err(CallError::Fault(1, _))
    ));
}

#[tokio::test]
async fn sale_lines_add_up_to_their_orders_and_sections_stay_out() {
    for version in [12, 17, 19] {
        let h = start(dated(&format!("s{version}"), version, 400)).await;
        let orders: BTreeMap<i64, Json> =
            h.db.snapshot("sale.order")
                .expect("orders")
                .into_iter()
                .filter_map(|o| o["id"].as_i64().map(|id| (id, o)))
                .collect();
        let all = h.db.snapshot("sale.order.line").expect("lines");
        let product_lines = h
            .search_read(
                "sale.order.line",
                json!([["display_type", "=", false]]),
                json!({"fields": ["order_id", "product_id", "price_subtotal", "price_total", "display_name"]}),
            )
            .await;
        // Every line the domain leaves out is a section or a note, and there are some.
        let kept = ids(&product_lines);
        let left: Vec<&Json> = all
            .iter()
            .filter(|l| l["id"].as_i64().is_some_and(|id| !kept.contains(&id)))
            .collect();
        assert!(!left.is_empty(), "v{version}: no section or note generated");
        assert!(left.iter().all(|l| {
            matches!(
                l["display_type"].as_str(),
                Some("line_section" | "line_note")
            ) && l["product_id"] == json!(false)
        }));
        let mut untaxed: BTreeMap<i64, i64> = BTreeMap::new();
        let mut total: BTreeMap<i64, i64> = BTreeMap::new();
        for l in &product_lines {
            assert_ne!(l["product_id"], json!(false));
            let order = l["order_id"][0].as_i64().expect("order");
            let name = orders[&order]["name"].as_str().expect("order name");
            assert_eq!(
                l["order_id"][1],
                json!(name),
                "the pair shows the order's name"
            );
            assert!(l["display_name"]
                .as_str()
                .is_some_and(|d| d.starts_with(&format!("{name} - "))));
            *untaxed.entry(order).or_default() += cents(&l["price_subtotal"]);
            *total.entry(order).or_default() += cents(&l["price_total"]);
        }
        assert_eq!(untaxed.len(), orders.len(), "every order has product lines");
        for (order, o) in &orders {
            assert_eq!(untaxed[order], cents(&o["amount_untaxed"]), "v{version}");
            assert_eq!(total[order], cents(&o["amount_total"]), "v{version}");
        }
        h.server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test]
async fn products_show_their_code_and_follow_renames() {
    let h = start(dated("prod", 17, 300)).await;
    let active = h.count("product.product", json!([]), json!({})).await;
    let all = h
        .count(
            "product.product",
            json!([]),
            json!({"context": {"active_test": false}}),
        )
        .await;
    assert!(active > 0 && all > active, "some products are archived");
    let coded = h
        .search_read(
            "product.product",
            json!([["default_code", "!=", false]]),
            json!({"fields": ["name", "default_code", "display_name", "product_tmpl_id"], "limit": 1}),
        )
        .await;
    let p = &coded[0];
    let shown = format!(
        "[{}] {}",
        p["default_code"].as_str().expect("code"),
        p["name"].as_str().expect("name")
    );
    assert_eq!(p["display_name"], json!(shown));
    assert_eq!(p["product_tmpl_id"][1], json!(shown));

    // A line of that product shows the same name, and follows a new code without a write.
    let id = p["id"].as_i64().expect("id");
    let line = h.db.create(
        "sale.order.line",
        json!({"order_id": h.db.ids("sale.order").expect("orders")[0], "name": "x", "product_id": id, "product_uom_qty": 1.0, "price_unit": 1.0}),
    );
    let line = line.expect("line");
    let before = h.db.write_date("sale.order.line", line).expect("date");
    h.db.update("product.product", id, json!({"default_code": "RENAMED"}))
        .expect("rename");
    let read = h
        .kw(
            "sale.order.line",
            "read",
            json!([[line], ["product_id"]]),
            json!({}),
        )
        .await
        .expect("read");
    let name = p["name"].as_str().expect("name");
    assert_eq!(
        read[0]["product_id"],
        json!([id, format!("[RENAMED] {name}")])
    );
    assert_eq!(
        h.db.write_date("sale.order.line", line).expect("date"),
        before
    );
    // The product's own template pair shows the new name as well.
    let product = h
        .search_read(
            "product.product",
            json!([["id", "=", id]]),
            json!({"fields": ["product_tmpl_id", "display_name"]}),
        )
        .await;
    assert_eq!(product[0]["product_tmpl_id"][1], product[0]["display_name"]);
}

#[tokio::test]
async fn ir_model_lists_the_installed_models_to_any_user() {
    for (version, apps) in [
        (12, vec![App::Contacts, App::Sale, App::Account]),
        (17, vec![App::Contacts, App::Sale, App::Account, App::Hr]),
        (19, vec![App::Contacts]),
    ] {
        let mut s = dated(&format!("m{version}"), version, 50);
        s.apps = apps.clone();
        // A user without Settings: ir.model is readable by every internal user.
        s.users.push(UserSpec::new(7, "clerk", "pw"));
        let h = start(s).await;
        let resp = h
            .xmlrpc(
                "object",
                "execute_kw",
                vec![
                    json!(h.name()),
                    json!(7),
                    json!("pw"),
                    json!("ir.model"),
                    json!("search_read"),
                    json!([[]]),
                    json!({"fields": ["model", "name", "transient", "state", "modules"]}),
                ],
            )
            .await
            .expect("clerk reads ir.model");
        let rows = resp.as_array().expect("rows").clone();
        let by_model: BTreeMap<&str, &Json> = rows
            .iter()
            .filter_map(|r| r["model"].as_str().map(|m| (m, r)))
            .collect();
        for r in &rows {
            assert_eq!(
                (&r["state"], &r["transient"]),
                (&json!("base"), &json!(false))
            );
        }
        assert!(by_model.contains_key("ir.model") && by_model.contains_key("res.partner"));
        let sale = apps.contains(&App::Sale);
        assert_eq!(by_model.contains_key("sale.order.line"), sale, "v{version}");
        assert_eq!(by_model.contains_key("product.product"), sale, "v{version}");
        if sale {
            assert_eq!(
                by_model["sale.order.line"]["name"],
                json!("Sales Order Line")
            );
            assert_eq!(by_model["sale.order.line"]["modules"], json!("sale"));
            assert!(by_model["product.product"]["modules"]
                .as_str()
                .is_some_and(|m| m.contains("product") && m.contains("sale")));
        }
        let account = apps.contains(&App::Account);
        assert_eq!(
            by_model.contains_key("account.invoice.line"),
            account && version == 12
        );
        assert_eq!(
            by_model.contains_key("account.move.line"),
            account && version >= 13
        );
        assert!(!by_model.contains_key("hr.employee") || apps.contains(&App::Hr));
        let count = h.count("ir.model", json!([]), json!({})).await;
        assert_eq!(count as usize, rows.len());
        let lines = h
            .search(
                "ir.model",
                json!([["model", "like", "line"]]),
                json!({"order": "model"}),
            )
            .await;
        assert_eq!(lines.len(), usize::from(sale) + usize::from(account));
        h.server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test]
async fn fields_get_attributes_tell_stored_from_computed() {
    for version in [16, 17] {
        let h = start(dated(&format!("f{version}"), version, 20)).await;
        let all = match h
            .kw(
                "product.product",
                "fields_get",
                json!([["display_name", "name", "image_1920", "default_code"]]),
                json!({}),
            )
            .await
        {
            Ok(Json::Object(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(all.len(), 4);
        let attrs = |f: &str, a: &str| all[f][a].clone();
        // display_name became searchable in 17 (its search method).
        assert_eq!(attrs("display_name", "searchable"), json!(version >= 17));
        assert_eq!(attrs("display_name", "sortable"), json!(false));
        // A delegated field is searchable and sortable through the template.
        assert_eq!(
            (attrs("name", "store"), attrs("name", "sortable")),
            (json!(false), json!(true))
        );
        assert_eq!(
            (
                attrs("image_1920", "searchable"),
                attrs("image_1920", "type")
            ),
            (json!(false), json!("binary"))
        );
        assert_eq!(attrs("default_code", "manual"), json!(false));
        let only = fields(&h, "product.product", &["store"]).await;
        assert!(only
            .values()
            .all(|f| f.as_object().is_some_and(|o| o.len() == 1)));
        h.server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test]
async fn bursts_of_products_and_lines_share_one_write_date() {
    let h = start(dated("bursts", 16, 100)).await;
    for (model, parent) in [
        ("product.product", None),
        ("sale.order.line", Some("order_id")),
        ("account.move.line", Some("move_id")),
    ] {
        let before = h.db.count(model).expect("count");
        let ids = h.db.burst(model, 4, 7).expect("burst");
        assert_eq!(ids.len(), 4);
        assert_eq!(h.db.count(model).expect("count"), before + 4);
        let rows = h
            .search_read(
                model,
                json!([["id", "in", ids]]),
                json!({"context": {"active_test": false}}),
            )
            .await;
        assert_eq!(rows.len(), 4, "{model}");
        let stamps: BTreeSet<&str> = rows
            .iter()
            .filter_map(|r| r["write_date"].as_str())
            .collect();
        assert_eq!(stamps.len(), 1, "{model}: one transaction");
        if let Some(link) = parent {
            assert!(rows.iter().all(|r| r[link][0].is_i64()), "{model}");
        }
    }
}
