//! The dashboard's money end to end, on both stores: invoices of every kind (customer
//! invoices, credit notes, vendor bills, vendor refunds, a sales receipt) and sales orders in
//! several currencies are created in the simulated Odoo, synced by the engine, and the
//! dashboard must show receivables and payables (open, overdue) and sales totals per
//! currency, exactly, rounded to each currency's minor unit; the records route filters
//! invoices by `moveType`.

mod common;

use chrono::{Duration, Utc};
use common::{error_code, json, odoo_with, spawn, Backend};
use serde_json::{json, Value};

/// `YYYY-MM-DD`, `days` from today (UTC).
fn day(days: i64) -> String {
    (Utc::now().date_naive() + Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// An invoice as Odoo stores it (amounts are unsigned whatever the type).
fn invoice(
    move_type: &str,
    currency: (i64, &str),
    state: &str,
    payment: &str,
    residual: f64,
    due_in_days: i64,
) -> Value {
    json!({
        "name": format!("{move_type}-{residual}"),
        "move_type": move_type,
        "currency_id": [currency.0, currency.1],
        "state": state,
        "payment_state": payment,
        "amount_total": residual.max(1.0),
        "amount_residual": residual,
        "invoice_date": day(-40),
        "invoice_date_due": day(due_in_days),
    })
}

const USD: (i64, &str) = (1, "USD");
const EUR: (i64, &str) = (125, "EUR");
const JPY: (i64, &str) = (113, "JPY");
const GBP: (i64, &str) = (147, "GBP");

async fn money_figures(backend: Backend) {
    let odoo = odoo_with(17, |spec| {
        // Only the documents below: no generated orders or invoices.
        spec.data.per_model.insert("sale.order".into(), 0);
        spec.data.per_model.insert("account.move".into(), 0);
    })
    .await;
    let posted = |t, c, r, due| invoice(t, c, "posted", "not_paid", r, due);
    let mut ids = std::collections::BTreeMap::<String, Vec<i64>>::new();
    for doc in [
        posted("out_invoice", USD, 1000.10, -10),
        invoice("out_invoice", USD, "posted", "partial", 500.20, 10),
        posted("out_refund", USD, 300.05, -5),
        posted("in_invoice", USD, 2000.00, -1),
        posted("in_refund", USD, 150.25, 3),
        invoice("out_invoice", USD, "posted", "paid", 0.0, -3),
        invoice("out_invoice", USD, "draft", "not_paid", 700.0, -3),
        posted("out_invoice", EUR, 400.00, 30),
        posted("out_refund", EUR, 100.00, 30),
        posted("in_invoice", EUR, 80.10, -2),
        posted("in_refund", EUR, 0.10, -2),
        posted("out_receipt", EUR, 50.00, -1),
        posted("out_invoice", JPY, 1000.4, 1),
        posted("out_invoice", JPY, 234.3, 1),
    ] {
        let move_type = doc["move_type"].as_str().expect("type").to_string();
        let id = odoo.db.create("account.move", doc).expect("invoice");
        ids.entry(move_type).or_default().push(id);
    }
    let now = Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
    for (currency, state, total) in [
        (USD, "sale", 0.1),
        (USD, "sale", 0.2),
        (USD, "sale", 1382227.34),
        (GBP, "sale", 5120.0),
        (GBP, "cancel", 99.0),
    ] {
        odoo.db
            .create(
                "sale.order",
                json!({"name": format!("S-{total}"), "state": state, "amount_total": total,
                    "currency_id": [currency.0, currency.1], "date_order": now}),
            )
            .expect("order");
    }

    let app = spawn(backend).await;
    json(app.save_connection("alice", &odoo.connection()).await, 200).await;
    app.run_sync("alice").await;
    let dashboard = json(app.get("/odoo/dashboard", "alice").await, 200).await;

    let tally = |count: u64, amount: f64| json!({"count": count, "amount": amount});
    let zero = || tally(0, 0.0);
    let invoices = &dashboard["modules"]["invoices"];
    assert_eq!(
        invoices["receivables"],
        json!({
            "USD": {
                "open": {"amount": 1200.25, "invoices": tally(2, 1500.3),
                    "refunds": tally(1, 300.05), "receipts": zero()},
                "overdue": {"amount": 700.05, "invoices": tally(1, 1000.1),
                    "refunds": tally(1, 300.05), "receipts": zero()},
            },
            "EUR": {
                "open": {"amount": 350.0, "invoices": tally(1, 400.0),
                    "refunds": tally(1, 100.0), "receipts": tally(1, 50.0)},
                "overdue": {"amount": 50.0, "invoices": zero(), "refunds": zero(),
                    "receipts": tally(1, 50.0)},
            },
            "JPY": {
                "open": {"amount": 1235.0, "invoices": tally(2, 1235.0),
                    "refunds": zero(), "receipts": zero()},
                "overdue": {"amount": 0.0, "invoices": zero(), "refunds": zero(),
                    "receipts": zero()},
            },
        }),
        "{invoices}"
    );
    assert_eq!(
        invoices["payables"],
        json!({
            "USD": {
                "open": {"amount": 1849.75, "invoices": tally(1, 2000.0),
                    "refunds": tally(1, 150.25), "receipts": zero()},
                "overdue": {"amount": 2000.0, "invoices": tally(1, 2000.0),
                    "refunds": zero(), "receipts": zero()},
            },
            "EUR": {
                "open": {"amount": 80.0, "invoices": tally(1, 80.1),
                    "refunds": tally(1, 0.1), "receipts": zero()},
                "overdue": {"amount": 80.0, "invoices": tally(1, 80.1),
                    "refunds": tally(1, 0.1), "receipts": zero()},
            },
        }),
        "{invoices}"
    );
    assert_eq!(
        invoices["byMoveType"],
        json!({"out_invoice": 7, "out_refund": 2, "in_invoice": 2, "in_refund": 2,
            "out_receipt": 1})
    );
    // The keys from before: open customer invoices of every currency.
    assert_eq!(invoices["openCount"], 5);
    assert_eq!(invoices["overdueCount"], 1);
    assert_eq!(invoices["openAmount"], 3135.0);
    assert_eq!(invoices["overdueAmount"], 1000.1);

    let sales = &dashboard["modules"]["sales"];
    assert_eq!(
        sales["totalByCurrency"],
        json!({"USD": 1382227.64, "GBP": 5120.0})
    );
    assert_eq!(sales["totalAmount"], 1387347.64);
    let months = sales["revenueByMonth"].as_array().expect("months");
    let this_month = months.last().expect("this month");
    assert_eq!(this_month["orders"], 4);
    assert_eq!(
        this_month["byCurrency"],
        json!({"USD": 1382227.64, "GBP": 5120.0})
    );

    // Records by moveType: receivables' documents only, in odooId order.
    let page = json(
        app.get(
            "/odoo/records/invoices?moveType=out_refund,out_receipt",
            "alice",
        )
        .await,
        200,
    )
    .await;
    let got: Vec<i64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["odooId"].as_i64().expect("id"))
        .collect();
    let mut want = [ids["out_refund"].clone(), ids["out_receipt"].clone()].concat();
    want.sort_unstable();
    assert_eq!(got, want);
    for bad in [
        "/odoo/records/invoices?moveType=entry",
        "/odoo/records/sales?moveType=out_invoice",
    ] {
        let response = app.get(bad, "alice").await;
        assert_eq!(error_code(response, 400).await, "invalid_field", "{bad}");
    }
}

#[tokio::test]
async fn money_per_currency_on_sqlite() {
    money_figures(Backend::Sqlite).await;
}

#[tokio::test]
async fn money_per_currency_on_mongodb() {
    money_figures(Backend::Mongo).await;
}
