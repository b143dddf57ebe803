//! The modules a tenant syncs through the API: save-connection naming modules and a protocol,
//! `GET /odoo/modules`, records of optional modules, and `PUT /odoo/modules` enabling one
//! after the first sync without starting over. On both stores, against the simulator.

mod common;

use common::*;
use serde_json::{json, Value};

fn module<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no module {name} in {body}"))
}

async fn put_modules(app: &TestApp, user: &str, body: &Value) -> reqwest::Response {
    app.http
        .put(app.at("/odoo/modules"))
        .bearer_auth(token(user))
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn modules_journey(backend: Backend) {
    let app = spawn(backend).await;
    let odoo = odoo_with(19, |_| {}).await;

    let mut body = odoo.connection();
    body["modules"] = json!(["sales", "payroll"]);
    let refused = app.save_connection("bob", &body).await;
    let error = json(refused, 400).await;
    assert_eq!(error["field"], "modules", "{error}");
    assert!(error["message"].as_str().expect("text").contains("payroll"));
    body["modules"] = json!(["sales"]);
    body["protocol"] = json!("json3");
    let error = json(app.save_connection("bob", &body).await, 400).await;
    assert_eq!(error["field"], "protocol", "{error}");
    let no_connection = put_modules(&app, "bob", &json!({"modules": ["sales"]})).await;
    assert_eq!(error_code(no_connection, 404).await, "no_connection");

    body["modules"] = json!(["sales", "sale_lines"]);
    body["protocol"] = json!("json2");
    let saved = json(app.save_connection("bob", &body).await, 200).await;
    assert_eq!(saved["protocol"], "json2");
    assert_eq!(saved["modules"], json!(["sales", "sale_lines"]));
    let before = json(app.get("/odoo/modules", "bob").await, 200).await;
    assert_eq!(module(&before, "sale_lines")["state"], "pending");

    app.run_sync("bob").await;
    let status = json(app.get("/odoo/status", "bob").await, 200).await;
    assert_eq!(status["syncStatus"], "done", "{status}");
    let after = json(app.get("/odoo/modules", "bob").await, 200).await;
    assert_eq!(
        after["modules"].as_array().expect("list").len(),
        2,
        "{after}"
    );
    let lines = module(&after, "sale_lines");
    assert_eq!(lines["state"], "synced");
    assert_eq!(lines["origin"], "optional");
    assert_eq!(lines["model"], "sale.order.line");
    assert_eq!(lines["collection"], "odoosaleorderlines");
    assert!(lines["fields"]
        .as_array()
        .expect("fields")
        .contains(&json!("product_uom_id")));
    let product_lines = odoo
        .db
        .snapshot("sale.order.line")
        .expect("lines")
        .iter()
        .filter(|l| l["display_type"] == json!(false))
        .count() as u64;
    assert!(product_lines > 0);
    assert_eq!(lines["records"], product_lines);
    let page = json(
        app.get("/odoo/records/sale_lines?limit=5", "bob").await,
        200,
    )
    .await;
    let first = &page["items"][0];
    assert!(
        first["orderId"].is_i64() && first["orderName"].is_string(),
        "{first}"
    );
    assert!(first["raw"]["product_uom_id"].is_array(), "{first}");
    let unknown = app.get("/odoo/records/payroll", "bob").await;
    assert_eq!(error_code(unknown, 404).await, "unknown_module");

    // Products enabled after the first sync: planned and caught up, the status stays done.
    let refused = put_modules(&app, "bob", &json!({"modules": ["sales", "nope"]})).await;
    assert_eq!(error_code(refused, 400).await, "invalid_field");
    let changed = put_modules(
        &app,
        "bob",
        &json!({"modules": ["sales", "sale_lines", "products"]}),
    )
    .await;
    let changed = json(changed, 200).await;
    let pending = module(&changed, "products");
    assert_eq!(pending["state"], "pending", "{changed}");
    assert!(pending["reason"]
        .as_str()
        .expect("reason")
        .contains("next sync step"));
    app.run_until_idle("bob").await;
    let status = json(app.get("/odoo/status", "bob").await, 200).await;
    assert_eq!(status["syncStatus"], "done", "{status}");
    let after = json(app.get("/odoo/modules", "bob").await, 200).await;
    let products = module(&after, "products");
    assert_eq!(products["state"], "synced", "{after}");
    assert_eq!(
        products["records"],
        odoo.db.count("product.product").expect("count") as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_journey_on_sqlite() {
    modules_journey(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_journey_on_mongodb() {
    modules_journey(Backend::Mongo).await;
}
