//! Behaviour of the simulated Odoo over real HTTP: whole-second datetime domains, one timestamp
//! per transaction, late commits, active_test, default order, no default limit, id keyset
//! paging, every domain operator, grouping, and the differences between Odoo versions.

mod common;

use chrono::{DateTime, NaiveDateTime, Utc};
use common::{spec, start, CallError, KEY};
use serde_json::{json, Value as Json};
use sim::{App, DatabaseSpec, Simulator, UserSpec};
use std::collections::BTreeSet;

fn at(s: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .expect("timestamp")
        .and_utc()
}

fn ids(rows: &[Json]) -> BTreeSet<i64> {
    rows.iter().filter_map(|r| r["id"].as_i64()).collect()
}

#[tokio::test]
async fn datetimes_compare_to_the_whole_second() {
    let h = start(spec("ws", 17, 0)).await;
    let mut made = Vec::new();
    for (name, t) in [
        ("WS-a", "2026-01-01 10:00:00.250000"),
        ("WS-b", "2026-01-01 10:00:00.900000"),
        ("WS-c", "2026-01-01 10:00:01.000000"),
        ("WS-d", "2026-01-01 09:59:59.999999"),
    ] {
        let mut tx = h.db.begin_at(at(t));
        made.push(tx.create("res.partner", json!({ "name": name })).unwrap());
        tx.commit();
    }
    let (a, b, c, d) = (made[0], made[1], made[2], made[3]);
    let s = "2026-01-01 10:00:00";
    let find = |op: &'static str| {
        let h = &h;
        async move {
            ids(&h
                .search_read(
                    "res.partner",
                    json!([["name", "=like", "WS-%"], ["write_date", op, s]]),
                    json!({"fields": ["write_date"]}),
                )
                .await)
        }
    };
    assert_eq!(find(">").await, BTreeSet::from([c]), "> S means >= S+1s");
    assert_eq!(
        find("=").await,
        BTreeSet::from([a, b]),
        "= S is the whole second"
    );
    assert_eq!(
        find("<=").await,
        BTreeSet::from([a, b, d]),
        "<= S means < S+1s"
    );
    assert_eq!(find("<").await, BTreeSet::from([d]));
    assert_eq!(find(">=").await, BTreeSet::from([a, b, c]));
    assert_eq!(find("!=").await, BTreeSet::from([c, d]));
    // Returned without microseconds; stored with them.
    let rows = h
        .search_read(
            "res.partner",
            json!([["id", "=", b]]),
            json!({"fields": ["write_date"]}),
        )
        .await;
    assert_eq!(rows[0]["write_date"], json!("2026-01-01 10:00:00"));
    assert_eq!(
        h.db.write_date("res.partner", b).unwrap(),
        at("2026-01-01 10:00:00.900000")
    );
}

#[tokio::test]
async fn one_timestamp_per_transaction() {
    let h = start(spec("tx", 19, 100)).await;
    let order = h.db.ids("sale.order").unwrap()[0];
    let mut tx = h.db.begin();
    let stamp = tx.stamp();
    let p1 = tx.create("res.partner", json!({"name": "T1"})).unwrap();
    let p2 = tx
        .create("res.partner", json!({"name": "T2", "parent_id": p1}))
        .unwrap();
    tx.update("sale.order", order, json!({"state": "cancel"}))
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    tx.commit();
    for (model, id) in [
        ("res.partner", p1),
        ("res.partner", p2),
        ("sale.order", order),
    ] {
        assert_eq!(h.db.write_date(model, id).unwrap(), stamp, "{model} {id}");
    }
    let rows = h
        .search_read(
            "res.partner",
            json!([["id", "=", p2]]),
            json!({"fields": ["parent_id"]}),
        )
        .await;
    assert_eq!(rows[0]["parent_id"], json!([p1, "T1"]));
}

#[tokio::test]
async fn late_committing_transaction_appears_with_its_old_timestamp() {
    let h = start(spec("late", 19, 50)).await;
    let mut slow = h.db.begin_at(Utc::now() - chrono::Duration::minutes(10));
    let late = slow
        .create("res.partner", json!({"name": "Late Co"}))
        .unwrap();
    let before = h
        .count(
            "res.partner",
            json!([]),
            json!({"context": {"active_test": false}}),
        )
        .await;
    assert!(h
        .search("res.partner", json!([["id", "=", late]]), json!({}))
        .await
        .is_empty());

    let quick =
        h.db.create("res.partner", json!({"name": "Quick Co"}))
            .unwrap();
    assert!(
        quick > late,
        "ids are reserved when the row is inserted, not at commit"
    );
    let window_start = h.db.write_date("res.partner", quick).unwrap();
    slow.commit();

    let after = h
        .count(
            "res.partner",
            json!([]),
            json!({"context": {"active_test": false}}),
        )
        .await;
    assert_eq!(after, before + 2);
    let late_wd = h.db.write_date("res.partner", late).unwrap();
    assert!(late_wd < window_start - chrono::Duration::minutes(9));
    // A reader that already moved past the old time misses it without a lookback.
    let s = window_start.format("%Y-%m-%d %H:%M:%S").to_string();
    let seen = h
        .search("res.partner", json!([["write_date", ">=", s]]), json!({}))
        .await;
    assert!(seen.contains(&quick) && !seen.contains(&late));
    // A rollback leaves nothing behind.
    let mut dropped = h.db.begin();
    let gone = dropped
        .create("res.partner", json!({"name": "Never"}))
        .unwrap();
    drop(dropped);
    assert!(h
        .search(
            "res.partner",
            json!([["id", "=", gone]]),
            json!({"context": {"active_test": false}})
        )
        .await
        .is_empty());
}

#[tokio::test]
async fn archived_rows_need_active_test_false() {
    let h = start(spec("arch", 19, 200)).await;
    let id =
        h.db.create("res.partner", json!({"name": "Arch Co"}))
            .unwrap();
    h.db.archive("res.partner", id).unwrap();
    let dom = json!([["name", "=", "Arch Co"]]);
    assert!(h
        .search("res.partner", dom.clone(), json!({}))
        .await
        .is_empty());
    assert_eq!(
        h.search(
            "res.partner",
            dom.clone(),
            json!({"context": {"active_test": false}})
        )
        .await,
        vec![id]
    );
    // A domain on `active` itself disables the implicit filter.
    let archived = h
        .search("res.partner", json!([["active", "=", false]]), json!({}))
        .await;
    assert!(archived.contains(&id) && archived.contains(&2));
    let all = h
        .count(
            "res.partner",
            json!([]),
            json!({"context": {"active_test": false}}),
        )
        .await;
    assert_eq!(all as usize, h.db.snapshot("res.partner").unwrap().len());
    h.db.unarchive("res.partner", id).unwrap();
    assert_eq!(h.search("res.partner", dom, json!({})).await, vec![id]);
    // sale.order has no `active`: nothing hidden, and the field is unknown.
    let err = h
        .kw(
            "sale.order",
            "search",
            json!([[["active", "=", true]]]),
            json!({}),
        )
        .await;
    assert!(matches!(err, Err(CallError::Fault(1, _))), "{err:?}");
}

#[tokio::test]
async fn default_order_and_no_default_limit() {
    let h = start(spec("order", 19, 2400)).await;
    let rows = h
        .search_read("sale.order", json!([]), json!({"fields": ["date_order"]}))
        .await;
    assert_eq!(
        rows.len(),
        h.db.count("sale.order").unwrap(),
        "no default limit"
    );
    assert!(rows.len() > 500);
    for w in rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let (da, db) = (
            a["date_order"].as_str().unwrap(),
            b["date_order"].as_str().unwrap(),
        );
        assert!(
            da > db || (da == db && a["id"].as_i64() > b["id"].as_i64()),
            "{a} then {b}"
        );
    }
    let ids = h
        .search(
            "res.partner",
            json!([]),
            json!({"order": "id desc", "limit": 3, "offset": 1}),
        )
        .await;
    let all = h
        .search("res.partner", json!([]), json!({"order": "id desc"}))
        .await;
    assert_eq!(ids, all[1..4].to_vec());
    let err = h
        .kw(
            "res.partner",
            "search",
            json!([[]]),
            json!({"order": "nope asc"}),
        )
        .await;
    assert!(matches!(err, Err(CallError::Fault(1, _))));
}

#[tokio::test]
async fn keyset_paging_by_id_sees_every_row_once() {
    let h = start(spec("page", 19, 3000)).await;
    let ctx = json!({"active_test": false});
    let total = h
        .count("res.partner", json!([]), json!({"context": ctx}))
        .await as usize;
    let mut seen = Vec::new();
    let mut last = 0;
    loop {
        let page = h
            .search_read(
                "res.partner",
                json!([["id", ">", last]]),
                json!({"fields": ["id", "write_date"], "order": "id asc", "limit": 200, "context": ctx}),
            )
            .await;
        seen.extend(page.iter().filter_map(|r| r["id"].as_i64()));
        match page.last() {
            Some(r) if page.len() == 200 => last = r["id"].as_i64().unwrap(),
            _ => break,
        }
    }
    assert_eq!(seen.len(), total);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), total);
}

#[tokio::test]
async fn every_domain_operator() {
    let h = start(spec("ops", 19, 0)).await;
    let co =
        h.db.create(
            "res.partner",
            json!({"name": "OP Acme Corp", "is_company": true, "city": "Paris", "country_id": 75}),
        )
        .unwrap();
    let p1 =
        h.db.create(
            "res.partner",
            json!({"name": "OP Ann", "parent_id": co, "email": "ann@x.com", "city": "Paris"}),
        )
        .unwrap();
    let p2 =
        h.db.create(
            "res.partner",
            json!({"name": "OP bob", "parent_id": co, "email": "Bob@Y.com"}),
        )
        .unwrap();
    let p3 =
        h.db.create("res.partner", json!({"name": "OP Cy_1", "country_id": 233}))
            .unwrap();
    let all = BTreeSet::from([co, p1, p2, p3]);
    let case = |dom: Json| {
        let h = &h;
        async move {
            let mut d = vec![json!(["name", "=like", "OP %"])];
            d.extend(dom.as_array().cloned().unwrap_or_default());
            h.search("res.partner", Json::Array(d), json!({}))
                .await
                .into_iter()
                .collect::<BTreeSet<_>>()
        }
    };
    let set = |v: &[i64]| v.iter().copied().collect::<BTreeSet<_>>();
    assert_eq!(case(json!([["city", "=", "Paris"]])).await, set(&[co, p1]));
    assert_eq!(
        case(json!([["city", "!=", "Paris"]])).await,
        set(&[p2, p3]),
        "!= also matches NULL"
    );
    assert_eq!(case(json!([["city", "=", false]])).await, set(&[p2, p3]));
    assert_eq!(case(json!([["city", "!=", false]])).await, set(&[co, p1]));
    assert_eq!(case(json!([["id", "<", p2]])).await, set(&[co, p1]));
    assert_eq!(case(json!([["id", "<=", p2]])).await, set(&[co, p1, p2]));
    assert_eq!(case(json!([["id", ">", p2]])).await, set(&[p3]));
    assert_eq!(case(json!([["id", ">=", p2]])).await, set(&[p2, p3]));
    assert_eq!(
        case(json!([["id", "in", [p1, p3, 999_999]]])).await,
        set(&[p1, p3])
    );
    assert_eq!(
        case(json!([["id", "not in", [p1, p3]]])).await,
        set(&[co, p2])
    );
    assert_eq!(case(json!([["email", "like", "x.c"]])).await, set(&[p1]));
    assert_eq!(
        case(json!([["email", "like", "bob"]])).await,
        set(&[]),
        "like is case-sensitive"
    );
    assert_eq!(case(json!([["email", "ilike", "BOB"]])).await, set(&[p2]));
    assert_eq!(
        case(json!([["email", "not ilike", "bob"]])).await,
        set(&[co, p1, p3])
    );
    assert_eq!(
        case(json!([["name", "=like", "OP A%"]])).await,
        set(&[co, p1])
    );
    assert_eq!(
        case(json!([["name", "=like", "OP Cy_1"]])).await,
        set(&[p3])
    );
    assert_eq!(case(json!([["name", "=ilike", "op b%"]])).await, set(&[p2]));
    assert_eq!(case(json!([["is_company", "=", true]])).await, set(&[co]));
    // many2one compares by id, by name with text, and to False when empty.
    assert_eq!(case(json!([["parent_id", "=", co]])).await, set(&[p1, p2]));
    assert_eq!(
        case(json!([["parent_id", "in", [co]]])).await,
        set(&[p1, p2])
    );
    assert_eq!(
        case(json!([["parent_id", "=", false]])).await,
        set(&[co, p3])
    );
    assert_eq!(
        case(json!([["parent_id", "ilike", "acme"]])).await,
        set(&[p1, p2])
    );
    assert_eq!(case(json!([["country_id", "=", 233]])).await, set(&[p3]));
    // Prefix operators, nested, with implicit & between terms.
    assert_eq!(
        case(json!(["|", ["id", "=", p1], ["id", "=", p3]])).await,
        set(&[p1, p3])
    );
    assert_eq!(
        case(json!(["!", ["id", "=", p1]])).await,
        set(&[co, p2, p3])
    );
    assert_eq!(
        case(json!([
            "|",
            "&",
            ["city", "=", "Paris"],
            ["is_company", "=", false],
            ["id", "=", p3]
        ]))
        .await,
        set(&[p1, p3])
    );
    assert_eq!(
        case(json!(["&", ["id", ">", 0], ["id", "!=", co]])).await,
        set(&[p1, p2, p3])
    );
    assert_eq!(case(json!([])).await, all);
    // Bad domains are Odoo's ValueError: fault 1.
    for bad in [
        json!(["&", ["id", "=", 1]]),
        json!([["id", "~~", 1]]),
        json!([["id", "="]]),
        json!(["|"]),
    ] {
        let r = h.kw("res.partner", "search", json!([bad]), json!({})).await;
        assert!(
            matches!(r, Err(CallError::Fault(1, ref m)) if m.contains("ValueError")),
            "{bad}: {r:?}"
        );
    }
}

#[tokio::test]
async fn read_fields_get_and_grouping() {
    let h = start(spec("grp", 19, 400)).await;
    let ids = h.db.burst("res.partner", 1500, 3).unwrap();
    let stamp = h.db.write_date("res.partner", ids[0]).unwrap();
    assert!(ids
        .iter()
        .all(|i| h.db.write_date("res.partner", *i).unwrap() == stamp));

    let rows = h
        .kw(
            "res.partner",
            "read",
            json!([[ids[1], ids[0]]]),
            json!({"fields": ["name"]}),
        )
        .await
        .unwrap();
    assert_eq!(rows[0]["id"], json!(ids[1]));
    assert_eq!(rows[0].as_object().unwrap().len(), 2);
    let missing = h
        .kw("res.partner", "read", json!([[999_999]]), json!({}))
        .await;
    assert!(
        matches!(missing, Err(CallError::Fault(2, _))),
        "{missing:?}"
    );

    let fg = h
        .kw(
            "sale.order",
            "fields_get",
            json!([]),
            json!({"attributes": ["type", "relation"]}),
        )
        .await
        .unwrap();
    assert_eq!(
        fg["partner_id"],
        json!({"relation": "res.partner", "type": "many2one"})
    );
    assert_eq!(fg["amount_total"], json!({"type": "monetary"}));

    let ctx = json!({"active_test": false});
    let total = h
        .count("res.partner", json!([]), json!({"context": ctx}))
        .await;
    let groups = h
        .kw(
            "res.partner",
            "read_group",
            json!([[], ["id:count"], ["write_date:hour"]]),
            json!({"lazy": false, "context": ctx}),
        )
        .await
        .unwrap();
    let groups = groups.as_array().unwrap();
    assert_eq!(
        groups
            .iter()
            .map(|g| g["__count"].as_i64().unwrap())
            .sum::<i64>(),
        total
    );
    let burst_hour = stamp.format("%H:00 %d %b").to_string();
    let g = groups
        .iter()
        .find(|g| g["write_date:hour"] == json!(burst_hour))
        .expect("burst hour");
    assert!(g["__count"].as_i64().unwrap() >= 1500);
    let from = g["__range"]["write_date:hour"]["from"]
        .as_str()
        .unwrap()
        .to_string();
    let in_hour = h
        .count(
            "res.partner",
            g["__domain"].clone(),
            json!({"context": ctx}),
        )
        .await;
    assert_eq!(
        in_hour,
        g["__count"].as_i64().unwrap(),
        "__domain selects the group ({from})"
    );

    let lazy = h
        .kw(
            "sale.order",
            "read_group",
            json!([[], ["amount_total:sum"], ["state", "partner_id"]]),
            json!({}),
        )
        .await
        .unwrap();
    let first = &lazy[0];
    assert!(
        first.get("state_count").is_some() && first.get("__context").is_some(),
        "{first}"
    );

    let f = h
        .kw(
            "res.partner",
            "formatted_read_group",
            json!([]),
            json!({"groupby": ["write_date:day"], "aggregates": ["__count"], "context": ctx}),
        )
        .await
        .unwrap();
    let f = f.as_array().unwrap();
    assert_eq!(
        f.iter()
            .map(|g| g["__count"].as_i64().unwrap())
            .sum::<i64>(),
        total
    );
    assert!(f[0]["write_date:day"]
        .as_array()
        .is_some_and(|p| p.len() == 2));
}

#[tokio::test]
async fn version_12_has_account_invoice_and_no_api_keys() {
    let h = start(spec("v12", 12, 300)).await;
    let inv = h
        .search_read(
            "account.invoice",
            json!([
                ["type", "in", ["out_invoice", "out_refund"]],
                ["state", "in", ["open", "paid"]]
            ]),
            json!({"fields": ["number", "type", "state", "residual", "date_invoice"], "limit": 5}),
        )
        .await;
    assert!(!inv.is_empty());
    assert!(inv.iter().all(|r| r["number"].is_string()));
    assert!(matches!(
        h.kw("account.move", "search_count", json!([[]]), json!({}))
            .await,
        Err(CallError::Fault(2, _))
    ));
    assert!(matches!(
        h.kw("hr.employee.public", "search_count", json!([[]]), json!({}))
            .await,
        Err(CallError::Fault(2, _))
    ));
    let uid = h
        .xmlrpc(
            "common",
            "authenticate",
            vec![json!("v12"), json!("admin"), json!(KEY), json!({})],
        )
        .await
        .unwrap();
    assert_eq!(uid, json!(false), "no API keys before 14");
    let v = h.xmlrpc("common", "version", vec![]).await.unwrap();
    assert_eq!(v["server_version_info"][0], json!(12));
    let (status, _) = h.json2(KEY, "res.partner", "search_count", json!({})).await;
    assert_eq!(status, 404, "no JSON-2 before 19");
}

#[tokio::test]
async fn version_13_uses_type_and_14_move_type() {
    let sim = Simulator::new();
    for (name, v) in [("v13", 13), ("v14", 14), ("v18", 18)] {
        let mut s = spec(name, v, 300);
        s.users.push(UserSpec::new(7, "clerk", "clerk"));
        sim.add_database(s).unwrap();
    }
    let server = sim.serve("127.0.0.1:0").await.unwrap();
    let h = common::Harness {
        db: sim.db("v13").unwrap(),
        sim: sim.clone(),
        server,
        http: reqwest::Client::new(),
    };
    let kw = |db: &'static str, model: &'static str, domain: Json, fields: Json| {
        let h = &h;
        async move {
            h.xmlrpc(
                "object",
                "execute_kw",
                vec![
                    json!(db),
                    json!(2),
                    json!("admin"),
                    json!(model),
                    json!("search_read"),
                    json!([domain]),
                    json!({"fields": fields, "limit": 3}),
                ],
            )
            .await
        }
    };
    let r13 = kw(
        "v13",
        "account.move",
        json!([["type", "!=", "entry"]]),
        json!(["type", "invoice_payment_state"]),
    )
    .await
    .unwrap();
    assert!(r13[0]["type"].is_string() && r13[0]["invoice_payment_state"].is_string());
    assert!(matches!(
        kw(
            "v13",
            "account.move",
            json!([["move_type", "!=", "entry"]]),
            json!([])
        )
        .await,
        Err(CallError::Fault(1, _))
    ));
    let r14 = kw(
        "v14",
        "account.move",
        json!([["move_type", "!=", "entry"]]),
        json!(["move_type", "payment_state"]),
    )
    .await
    .unwrap();
    assert!(r14[0]["move_type"].is_string() && r14[0]["payment_state"].is_string());
    assert!(matches!(
        kw("v14", "account.move", json!([]), json!(["type"])).await,
        Err(CallError::Fault(1, _))
    ));
    // Each database's own URL answers version with its version; JSON-2 is 19 only.
    let v = h
        .xmlrpc_at(&h.server.db_url("v14"), "common", "version", vec![])
        .await
        .unwrap();
    assert_eq!(v["server_serie"], json!("14.0"));
    let other_db = h
        .xmlrpc_at(
            &h.server.db_url("v14"),
            "common",
            "authenticate",
            vec![json!("v13"), json!("admin"), json!("admin"), json!({})],
        )
        .await;
    assert!(
        matches!(other_db, Err(CallError::Fault(1, _))),
        "a database URL serves only that database"
    );
    let resp = h
        .http
        .post(format!(
            "{}/json/2/res.partner/search_count",
            h.server.db_url("v18")
        ))
        .header("Authorization", format!("bearer {KEY}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    // API keys work as passwords from 14.
    let uid = h
        .xmlrpc(
            "common",
            "authenticate",
            vec![json!("v14"), json!("admin"), json!(KEY), json!({})],
        )
        .await
        .unwrap();
    assert_eq!(uid, json!(2));

    // Users without HR rights read hr.employee.public (13+), without Settings no modules.
    let clerk = |db: &'static str, model: &'static str| {
        let h = &h;
        async move {
            h.xmlrpc(
                "object",
                "execute_kw",
                vec![
                    json!(db),
                    json!(7),
                    json!("clerk"),
                    json!(model),
                    json!("search_count"),
                    json!([[]]),
                ],
            )
            .await
        }
    };
    assert!(matches!(
        clerk("v18", "hr.employee").await,
        Err(CallError::Fault(4, _))
    ));
    let public = clerk("v18", "hr.employee.public").await.unwrap();
    assert_eq!(
        public.as_i64().unwrap() as usize,
        h.sim
            .db("v18")
            .unwrap()
            .snapshot("hr.employee")
            .unwrap()
            .iter()
            .filter(|r| r["active"] == json!(true))
            .count()
    );
    assert!(matches!(
        clerk("v18", "ir.module.module").await,
        Err(CallError::Fault(4, _))
    ));
}

#[tokio::test]
async fn apps_decide_which_models_exist() {
    let mut s: DatabaseSpec = spec("apps", 19, 100);
    s.apps = vec![App::Contacts];
    let h = start(s).await;
    assert!(matches!(
        h.kw("sale.order", "search_count", json!([[]]), json!({}))
            .await,
        Err(CallError::Fault(2, _))
    ));
    let (status, body) = h
        .json2(KEY, "hr.employee", "search_count", json!({"domain": []}))
        .await;
    assert_eq!(
        (status, body["name"].as_str()),
        (404, Some("werkzeug.exceptions.NotFound"))
    );
    let mods = h
        .search_read(
            "ir.module.module",
            json!([["state", "=", "installed"]]),
            json!({"fields": ["name"]}),
        )
        .await;
    let names: BTreeSet<&str> = mods.iter().filter_map(|m| m["name"].as_str()).collect();
    assert!(names.contains("base") && names.contains("contacts") && !names.contains("sale"));
}

#[tokio::test]
async fn json2_named_arguments_and_errors() {
    let h = start(spec("j2", 19, 100)).await;
    let (s, body) = h.json2(KEY, "res.partner", "search_read", json!({"domain": [["id", "<=", 3]], "fields": ["name"], "order": "id asc", "context": {"active_test": false}})).await;
    assert_eq!(s, 200);
    assert_eq!(ids(body.as_array().unwrap()), BTreeSet::from([1, 2, 3]));
    let (s, body) = h
        .json2(
            KEY,
            "res.partner",
            "read",
            json!({"ids": [1], "fields": ["name"]}),
        )
        .await;
    assert_eq!((s, body[0]["name"].as_str()), (200, Some("YourCompany")));
    let (s, body) = h
        .json2(
            KEY,
            "res.partner",
            "search",
            json!({"domain": [], "bogus": 1}),
        )
        .await;
    assert_eq!(
        (s, body["name"].as_str()),
        (422, Some("werkzeug.exceptions.UnprocessableEntity"))
    );
    let (s, _) = h
        .json2(
            KEY,
            "res.partner",
            "search",
            json!({"ids": [1], "domain": []}),
        )
        .await;
    assert_eq!(s, 422);
    let (s, body) = h
        .json2(KEY, "res.partner", "no_such_method", json!({}))
        .await;
    assert_eq!(s, 404, "{body}");
    let (s, body) = h
        .json2(
            "admin",
            "res.partner",
            "search_count",
            json!({"domain": []}),
        )
        .await;
    assert_eq!((s, body["message"].as_str()), (401, Some("Invalid apikey")));
    // One database: the header may be left out.
    let resp = h
        .http
        .post(format!("{}/json/2/res.users/context_get", h.server.url()))
        .header("Authorization", format!("Bearer {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.json::<Json>().await.unwrap()["uid"], json!(2));
}

#[tokio::test]
async fn responses_are_gzipped_when_asked() {
    let h = start(spec("gz", 19, 300)).await;
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let resp = raw
        .post(format!("{}/jsonrpc", h.server.url()))
        .header("Accept-Encoding", "gzip")
        .json(&json!({"jsonrpc": "2.0", "method": "call", "params": {"service": "object", "method": "execute_kw", "args": ["gz", 2, "admin", "res.partner", "search_read", [[]], {"limit": 50}]}, "id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    // And decoded transparently by a client that asks for it.
    let rows = h
        .search_read("res.partner", json!([]), json!({"limit": 50}))
        .await;
    assert_eq!(rows.len(), 50);
}

#[tokio::test]
async fn generation_is_deterministic() {
    let make = |name: &str| {
        let mut s = spec(name, 17, 2000);
        s.data.end = Some(at("2026-06-01 00:00:00.0"));
        s.data.seed = 42;
        let sim = Simulator::new();
        let db = sim.add_database(s).unwrap();
        ["res.partner", "sale.order", "account.move", "hr.employee"]
            .iter()
            .map(|m| db.snapshot(m).unwrap())
            .collect::<Vec<_>>()
    };
    let (a, b) = (make("d1"), make("d2"));
    assert_eq!(a, b);
    assert!(a.iter().map(Vec::len).sum::<usize>() >= 2000);
}

#[tokio::test]
async fn versions_before_19_answer_like_the_captured_17() {
    for version in [12, 13, 14, 16, 17, 18, 19] {
        let h = start(spec(&format!("v{version}"), version, 20)).await;
        let modern = version >= 19;
        // No /web/version and no JSON-2 before 19: Odoo's HTML 404 page.
        let web = h
            .http
            .get(format!("{}/web/version", h.server.url()))
            .send()
            .await
            .expect("send");
        let json2 = h
            .http
            .post(format!(
                "{}/json/2/res.partner/search_count",
                h.server.url()
            ))
            .header("Authorization", format!("bearer {KEY}"))
            .json(&json!({"domain": []}))
            .send()
            .await
            .expect("send");
        for (what, resp) in [("/web/version", web), ("/json/2", json2)] {
            let content_type = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if modern {
                assert_eq!(resp.status().as_u16(), 200, "{version} {what}");
            } else {
                assert_eq!(resp.status().as_u16(), 404, "{version} {what}");
                assert_eq!(content_type, "text/html;charset=utf-8", "{version} {what}");
            }
        }
        // Python's XML declaration before 19, Odoo's own from 19.
        let body = h
            .http
            .post(format!("{}/xmlrpc/2/common", h.server.url()))
            .body("<?xml version='1.0'?><methodCall><methodName>version</methodName><params></params></methodCall>")
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("body");
        let declaration = if modern {
            "<?xml version=\"1.0\"?>"
        } else {
            "<?xml version='1.0'?>"
        };
        assert!(body.starts_with(declaration), "{version}: {body}");
        // formatted_read_group only from 19; 17's wordings before.
        let grouped = h
            .kw(
                "res.partner",
                "formatted_read_group",
                json!([[]]),
                json!({"groupby": ["write_date:day"], "aggregates": ["__count"]}),
            )
            .await;
        match grouped {
            Ok(_) => assert!(modern, "{version}: formatted_read_group answered"),
            Err(CallError::Fault(1, message)) => {
                assert!(!modern, "{version}: {message}");
                assert!(
                    message.ends_with("AttributeError: The method 'formatted_read_group' does not exist on the model 'res.partner'\n"),
                    "{version}: {message}"
                );
            }
            Err(e) => panic!("{version}: {e:?}"),
        }
        let private = h.kw("res.partner", "_search", json!([[]]), json!({})).await;
        let want = if modern {
            "Private methods (such as 'res.partner._search') cannot be called remotely."
        } else {
            "Private methods (such as _search) cannot be called remotely."
        };
        assert!(
            matches!(&private, Err(CallError::Fault(4, m)) if m == want),
            "{version}: {private:?}"
        );
        h.server.shutdown().await.expect("shutdown");
    }
}
