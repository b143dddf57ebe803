//! The simulator's throughput ceiling: generates a 50,000-record database, then fetches every
//! res.partner in 200-record `search_read` pages over XML-RPC on loopback (id keyset paging,
//! as the engine does), with 1 and 4 concurrent clients, and prints records per second.
//!
//! Run: `cargo run --release -p sim --example bench_search_read`

use serde_json::json;
use shared::odoo::xmlrpc::{decode_response, encode_call, Limits, MethodResponse, Value};
use sim::{DatabaseSpec, Simulator};
use std::time::{Duration, Instant};

const PAGE: i64 = 200;
const FIELDS: [&str; 10] = [
    "name",
    "email",
    "phone",
    "is_company",
    "parent_id",
    "country_id",
    "active",
    "write_date",
    "create_date",
    "city",
];

fn page_request(last_id: i64) -> Vec<u8> {
    let params: Vec<Value> = [
        json!("bench"),
        json!(2),
        json!("admin"),
        json!("res.partner"),
        json!("search_read"),
        json!([[["id", ">", last_id]]]),
        json!({"fields": FIELDS, "order": "id asc", "limit": PAGE, "context": {"active_test": false}}),
    ]
    .iter()
    .map(Value::from_json)
    .collect();
    encode_call("execute_kw", &params)
}

/// Fetches pages starting after each of `starts` (ids known in advance, so the client does no
/// decoding work in the timed loop); returns records received.
async fn client(
    http: reqwest::Client,
    url: String,
    starts: Vec<i64>,
    per_page: Vec<usize>,
) -> usize {
    let mut n = 0;
    for (start, rows) in starts.into_iter().zip(per_page) {
        let body = http
            .post(&url)
            .body(page_request(start))
            .send()
            .await
            .expect("send")
            .bytes()
            .await
            .expect("body");
        assert!(body.len() > 100);
        n += rows;
    }
    n
}

#[tokio::main]
async fn main() {
    let mut spec = DatabaseSpec::new("bench", 17);
    spec.data.records = 0;
    spec.data.per_model = [
        ("res.partner", 20_000),
        ("sale.order", 12_500),
        ("account.move", 12_500),
        ("hr.employee", 5_000),
    ]
    .into_iter()
    .map(|(m, n)| (m.to_string(), n))
    .collect();
    let t = Instant::now();
    let sim = Simulator::new();
    let db = sim.add_database(spec).expect("database");
    let gen = t.elapsed();
    let total: usize = ["res.partner", "sale.order", "account.move", "hr.employee"]
        .iter()
        .map(|m| db.count(m).expect("count"))
        .sum();
    println!(
        "generated {total} records in {:.0} ms",
        gen.as_secs_f64() * 1000.0
    );

    let server = sim.serve("127.0.0.1:0").await.expect("serve");
    let url = format!("{}/xmlrpc/2/object", server.url());
    let http = reqwest::Client::builder()
        .no_gzip()
        .pool_max_idle_per_host(8)
        .build()
        .expect("client");

    // Page boundaries, and a check that a page decodes to 200 records.
    let ids = db.ids("res.partner").expect("ids");
    let mut starts = vec![0i64];
    let mut sizes = Vec::new();
    for chunk in ids.chunks(PAGE as usize) {
        sizes.push(chunk.len());
        starts.push(*chunk.last().expect("chunk"));
    }
    starts.pop();
    let first = http
        .post(&url)
        .body(page_request(0))
        .send()
        .await
        .expect("send")
        .bytes()
        .await
        .expect("body");
    match decode_response(&first, &Limits::default()) {
        Ok(MethodResponse::Success(Value::Array(rows))) => assert_eq!(rows.len(), PAGE as usize),
        other => panic!("unexpected first page: {other:?}"),
    }

    for clients in [1usize, 4] {
        let t = Instant::now();
        let mut rounds = 0;
        let mut records = 0;
        while t.elapsed() < Duration::from_secs(3) {
            let mut tasks = Vec::new();
            for c in 0..clients {
                let s: Vec<i64> = starts.iter().copied().skip(c).step_by(clients).collect();
                let z: Vec<usize> = sizes.iter().copied().skip(c).step_by(clients).collect();
                tasks.push(tokio::spawn(client(http.clone(), url.clone(), s, z)));
            }
            for task in tasks {
                records += task.await.expect("task");
            }
            rounds += 1;
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "search_read, {PAGE}-record pages of 10 fields over XML-RPC, {clients} client(s): {:.0} records/s ({} full passes over {} partners, {:.0} pages/s)",
            records as f64 / secs,
            rounds,
            ids.len(),
            records as f64 / secs / PAGE as f64
        );
    }
    server.shutdown().await.expect("shutdown");
}
