//! The sync engine end to end: the simulator as Odoo, real SQLite and MongoDB stores. Every
//! scenario ends with the mirror equal to the simulator's data (ids, writeDate, values,
//! active, deletedAt) and nothing duplicated.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::config::Settings;
use shared::modules::Module;
use shared::odoo::{
    ClientSettings, ConnectionInfo, Context, Credential, OdooClient, RetryPolicy, SearchOptions,
    ServerVersion,
};
use shared::store::mongo::MongoStore;
use shared::store::sqlite::SqliteStore;
use shared::store::{
    Batch, BatchKind, BatchStatus, BatchWindow, EncryptedSecret, FieldValue, SharedStore,
    StoredConnection, SyncStatus, TenantId,
};
use shared::sync::{EngineOptions, FollowUp, Step, SyncEngine};
use sim::{
    App, BurstSpec, CustomField, CustomFieldKind, DatabaseSpec, Db, FaultKind, FaultRule,
    SimServer, Simulator, Trigger, UserSpec,
};

const KEY: &str = "engine-test-api-key-123";

/// Keeps the store's backing server or directory alive for the test.
enum Backing {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Mongo(#[allow(dead_code)] testkit::MongoServer),
}

async fn sqlite_store() -> (SharedStore, Backing) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("store.sqlite3"))
        .await
        .expect("sqlite store");
    (Arc::new(store), Backing::Dir(dir))
}

async fn mongo_store() -> (SharedStore, Backing) {
    let server = testkit::MongoServer::start().await.expect("mongod");
    let store = MongoStore::connect(&server.uri())
        .await
        .expect("mongo store");
    (Arc::new(store), Backing::Mongo(server))
}

fn options() -> EngineOptions {
    let mut options = EngineOptions::from_settings(&Settings::defaults());
    options.limit_per_call = 50;
    options.retry_base = Duration::from_millis(20);
    options.retry_max = Duration::from_millis(200);
    options.lease_ttl = Duration::from_secs(5);
    options.incremental_lookback = Duration::from_secs(15 * 60);
    options.client = ClientSettings {
        call_delay: Duration::ZERO,
        request_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_retries: 2,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
        ..ClientSettings::default()
    };
    options
}

struct World {
    _sim: Simulator,
    server: SimServer,
    db: Db,
    engine: SyncEngine,
    tenant: TenantId,
    info: ConnectionInfo,
    /// Steps run many fetch groups under one lease (as workers run them), not one.
    many_groups: bool,
    _backing: Backing,
}

async fn world(spec: DatabaseSpec, store: (SharedStore, Backing), options: EngineOptions) -> World {
    let sim = Simulator::new();
    let name = spec.name.clone();
    let version = spec.version;
    let db = sim.add_database(spec).expect("database");
    let server = sim.serve("127.0.0.1:0").await.expect("serve");
    let credential = if version >= 14 {
        Credential::api_key(KEY).expect("key")
    } else {
        Credential::password("admin").expect("password")
    };
    let info = ConnectionInfo::parse(&server.url(), &name, "admin", credential).expect("info");
    let engine = SyncEngine::new(store.0, options).expect("engine");
    World {
        _sim: sim,
        server,
        db,
        engine,
        tenant: TenantId::parse("tenant-1").expect("id"),
        info,
        many_groups: false,
        _backing: store.1,
    }
}

fn spec(version: u32, records: usize) -> DatabaseSpec {
    let mut spec = DatabaseSpec::new("acme", version);
    spec.users = vec![UserSpec::admin().with_api_key(KEY)];
    spec.data.records = records;
    spec.data.days = 30;
    spec
}

/// Runs batches until nothing is runnable and no failed batch waits for a retry. The
/// deadline only stops a run that would never end: a loaded machine may take minutes.
async fn drain(w: &World) -> Vec<Step> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut steps = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "did not converge: {steps:?}");
        let step = if w.many_groups {
            w.engine.process_batches(&w.tenant, &w.info, &|| true).await
        } else {
            w.engine.process_next_batch(&w.tenant, &w.info).await
        }
        .expect("step");
        match step {
            Step::Idle => {
                let waiting = w
                    .engine
                    .store()
                    .batches(&w.tenant)
                    .await
                    .expect("batches")
                    .iter()
                    .any(|b| matches!(b.status, BatchStatus::Failed | BatchStatus::Pending));
                if !waiting {
                    return steps;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Step::Blocked(_) | Step::NotPrepared => {
                steps.push(step);
                return steps;
            }
            other => steps.push(other),
        }
    }
}

/// Plans the tenant's initial sync.
async fn prepare(w: &World) {
    let step = w
        .engine
        .prepare(&w.tenant, &w.info, None)
        .await
        .expect("prepare");
    assert!(matches!(step, Step::Prepared { .. }), "{step:?}");
}

async fn initial_sync(w: &World) -> Vec<Step> {
    prepare(w).await;
    drain(w).await
}

async fn follow_up(w: &World, reconcile: bool) {
    follow(
        w,
        FollowUp {
            force_incremental: true,
            force_reconcile: reconcile,
            force_verify: false,
        },
    )
    .await;
}

async fn follow(w: &World, follow_up: FollowUp) {
    let added = w
        .engine
        .schedule_follow_up(&w.tenant, follow_up)
        .await
        .expect("follow-up");
    assert!(added > 0, "follow-up batches added");
    drain(w).await;
}

const VERIFY: FollowUp = FollowUp {
    force_incremental: false,
    force_reconcile: false,
    force_verify: true,
};

const INCREMENTAL: FollowUp = FollowUp {
    force_incremental: true,
    force_reconcile: false,
    force_verify: false,
};

fn mapping_for(w: &World, module: Module) -> shared::modules::ModelMapping {
    module.mapping(&ServerVersion::new(w.db.version(), 0), "", &[])
}

/// The mirror equals the simulator: same live ids, same writeDate and values of every
/// fetched field, archived rows present with active = false, vanished rows marked deleted.
async fn assert_mirror_matches(w: &World, modules: &[Module]) {
    let client = OdooClient::connect(w.info.clone(), &w.engine.options().client, None)
        .await
        .expect("a client");
    let state = w
        .engine
        .store()
        .tenant(&w.tenant)
        .await
        .expect("tenant")
        .expect("a prepared tenant");
    for module in modules {
        // The model and fields the tenant reads (custom fields found on its server included).
        let mapping = match state.module(*module) {
            Some(m) => module.mapping(
                &ServerVersion::new(w.db.version(), 0),
                &m.model,
                &m.extra_fields,
            ),
            None => mapping_for(w, *module),
        };
        // Which rows the module's domain selects, as Odoo evaluates it (dotted paths too).
        let context = if mapping.has_active {
            Context::with_archived()
        } else {
            Context::default()
        };
        let selected: BTreeSet<i64> = client
            .search(
                mapping.model,
                &mapping.domain,
                &SearchOptions {
                    context,
                    ..SearchOptions::default()
                },
            )
            .await
            .expect("search")
            .into_iter()
            .collect();
        let expected: BTreeMap<i64, Value> =
            w.db.snapshot(mapping.model)
                .expect("snapshot")
                .into_iter()
                .map(|row| (row["id"].as_i64().expect("id"), row))
                .filter(|(id, _)| selected.contains(id))
                .collect();
        let mut stored = Vec::new();
        let mut after = 0;
        loop {
            let page = w
                .engine
                .store()
                .records(&w.tenant, *module, after, 500)
                .await
                .expect("records");
            let Some(last) = page.last() else { break };
            after = last.odoo_id;
            stored.extend(page);
        }
        let ids: Vec<i64> = stored.iter().map(|r| r.odoo_id).collect();
        let unique: BTreeSet<i64> = ids.iter().copied().collect();
        assert_eq!(ids.len(), unique.len(), "{module}: duplicated records");
        let live: BTreeSet<i64> = stored
            .iter()
            .filter(|r| r.deleted_at.is_none())
            .map(|r| r.odoo_id)
            .collect();
        let want: BTreeSet<i64> = expected.keys().copied().collect();
        assert_eq!(live, want, "{module}: live ids differ from Odoo's");
        for record in &stored {
            let Some(row) = expected.get(&record.odoo_id) else {
                assert!(
                    record.deleted_at.is_some(),
                    "{module} {}: gone from Odoo but not marked deleted",
                    record.odoo_id
                );
                continue;
            };
            let raw = &record.document["raw"];
            for field in &mapping.fields {
                assert_eq!(
                    &raw[field.as_str()],
                    &row[field.as_str()],
                    "{module} {} field {field}",
                    record.odoo_id
                );
            }
            // Every structured field as the mirror would make it from Odoo's answer now.
            let mut answer = serde_json::Map::new();
            for field in mapping.field_names().into_iter().chain(["id"]) {
                answer.insert(field.to_string(), row[field].clone());
            }
            let want = module.mirror(mapping.model, answer).expect("maps");
            for (name, value) in &want.fields {
                assert!(
                    stored_field_matches(&record.document[name], value),
                    "{module} {} field {name}: stored {}, Odoo now {value:?}",
                    record.odoo_id,
                    record.document[name]
                );
            }
            assert_eq!(
                record.write_date, want.write_date,
                "{module} {} writeDate",
                record.odoo_id
            );
            let active = row.get("active").and_then(Value::as_bool).unwrap_or(true);
            assert_eq!(record.active, active, "{module} {} active", record.odoo_id);
            assert_eq!(record.document["userId"], json!(w.tenant.as_str()));
        }
    }
}

/// Whether a structured field as stored (JSON of either store: dates as RFC 3339 text, a date
/// as `YYYY-MM-DD` or as midnight) holds `want`.
fn stored_field_matches(stored: &Value, want: &FieldValue) -> bool {
    let instant = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|at| at.with_timezone(&chrono::Utc))
    };
    match want {
        FieldValue::Null => stored.is_null(),
        FieldValue::Bool(b) => stored.as_bool() == Some(*b),
        FieldValue::Int(i) => stored.as_i64() == Some(*i),
        FieldValue::Float(f) => stored.as_f64() == Some(*f),
        FieldValue::Text(t) => stored.as_str() == Some(t.as_str()),
        FieldValue::DateTime(at) => stored.as_str().and_then(instant) == Some(*at),
        FieldValue::Date(day) => stored.as_str().is_some_and(|s| {
            s == day.format("%Y-%m-%d").to_string()
                || instant(s).map(|at| at.date_naive()) == Some(*day)
        }),
    }
}

/// The stored document of one record.
async fn stored(w: &World, module: Module, odoo_id: i64) -> Value {
    w.engine
        .store()
        .records_by_ids(&w.tenant, module, &[odoo_id])
        .await
        .expect("records")
        .pop()
        .unwrap_or_else(|| panic!("{module} {odoo_id} is mirrored"))
        .document
}

async fn assert_done(w: &World) {
    let state = w
        .engine
        .store()
        .tenant(&w.tenant)
        .await
        .expect("state")
        .expect("tenant");
    assert_eq!(state.sync_status, SyncStatus::Done);
    let progress = w.engine.progress(&w.tenant).await.expect("progress");
    assert_eq!(progress.progress_percentage, 100);
    assert_eq!(progress.failed_batches, 0, "{progress:?}");
}

// ---------------------------------------------------------------- scenarios

async fn every_version_syncs(
    store: fn() -> futures::future::BoxFuture<'static, (SharedStore, Backing)>,
) {
    for version in 12..=19 {
        // Every module, the optional ones included, on every version.
        let mut options = options();
        options.modules = Module::all();
        let w = world(spec(version, 600), store().await, options).await;
        initial_sync(&w).await;
        assert_done(&w).await;
        assert_mirror_matches(&w, &Module::all()).await;
        w.server.shutdown().await.expect("shutdown");
    }
}

async fn thousands_of_rows_in_one_second(store: (SharedStore, Backing)) {
    let mut spec = spec(17, 300);
    spec.data.bursts = vec![BurstSpec {
        model: "res.partner".into(),
        count: 3_000,
        at: None,
    }];
    let w = world(spec, store, options()).await;
    initial_sync(&w).await;
    assert_done(&w).await;
    assert_mirror_matches(&w, &Module::defaults()).await;
    let batches = w.engine.store().batches(&w.tenant).await.expect("batches");
    let biggest = batches
        .iter()
        .filter_map(|b| b.fetched_count)
        .max()
        .unwrap_or(0);
    assert!(
        biggest >= 3_000,
        "the burst is one multi-page batch, not failed: {biggest}"
    );
}

async fn live_changes_late_commits_and_deletions_converge(store: (SharedStore, Backing)) {
    let w = world(spec(17, 800), store, options()).await;
    let step = w
        .engine
        .prepare(&w.tenant, &w.info, None)
        .await
        .expect("prepare");
    assert!(matches!(step, Step::Prepared { .. }));
    // A transaction that started before the sync and commits after the initial sync: its rows
    // carry an old write_date.
    let mut late = w.db.begin();
    let late_id = late
        .create(
            "res.partner",
            json!({"name": "Late Committer", "is_company": true}),
        )
        .expect("late create");
    // Changes while batches run.
    let partners = w.db.ids("res.partner").expect("ids");
    let orders = w.db.ids("sale.order").expect("ids");
    for _ in 0..5 {
        w.engine
            .process_next_batch(&w.tenant, &w.info)
            .await
            .expect("step");
    }
    w.db.update("res.partner", partners[3], json!({"city": "Lisbon"}))
        .expect("update");
    w.db.archive("res.partner", partners[4]).expect("archive");
    w.db.delete("res.partner", partners[5]).expect("delete");
    w.db.delete("sale.order", orders[0]).expect("delete");
    w.db.create(
        "sale.order",
        json!({"name": "S-NEW", "state": "draft", "amount_total": 10.0}),
    )
    .expect("create");
    drain(&w).await;
    assert_done(&w).await;
    late.commit();
    // A row committed with a write_date ten days back, far beyond the incremental lookback:
    // only the reconcile's check for ids missing from the mirror can find it.
    let mut very_late =
        w.db.begin_at(chrono::Utc::now() - chrono::TimeDelta::days(10));
    let very_late_id = very_late
        .create(
            "sale.order",
            json!({"name": "S-VERY-LATE", "state": "sale", "amount_total": 5.0}),
        )
        .expect("very late create");
    very_late.commit();
    follow_up(&w, true).await;
    let found = w
        .engine
        .store()
        .records(&w.tenant, Module::sales(), very_late_id - 1, 1)
        .await
        .expect("records");
    assert_eq!(
        found.first().map(|r| r.odoo_id),
        Some(very_late_id),
        "reconcile fetched the missing row"
    );
    assert_mirror_matches(&w, &Module::defaults()).await;
    let late_record = w
        .engine
        .store()
        .records(&w.tenant, Module::contacts(), late_id - 1, 1)
        .await
        .expect("records");
    assert_eq!(
        late_record.first().map(|r| r.odoo_id),
        Some(late_id),
        "late commit caught by the lookback"
    );
    // A deleted record that comes back is restored; a second reconcile is a no-op.
    follow_up(&w, true).await;
    assert_mirror_matches(&w, &Module::defaults()).await;
}

/// A change to an existing record committed late, with a write_date far older than the
/// watermark minus the lookback (a long import; or a date moved back: Odoo's is then older
/// than the mirror's): incremental batches never see it, reconcile's (id, write_date)
/// comparison does, and stores Odoo's answer although its date is older.
async fn late_commits_on_existing_records_reach_the_mirror(store: (SharedStore, Backing)) {
    let w = world(spec(17, 400), store, options()).await;
    initial_sync(&w).await;
    // The first follow-up reconciles (never done yet); later ones are incremental only.
    follow_up(&w, true).await;
    let partner = w.db.ids("res.partner").expect("ids")[1];
    let order = w.db.ids("sale.order").expect("ids")[1];
    let mut import =
        w.db.begin_at(chrono::Utc::now() - chrono::TimeDelta::days(10));
    import
        .update("res.partner", partner, json!({"city": "Porto"}))
        .expect("update");
    import
        .update("sale.order", order, json!({"amount_total": 4321.0}))
        .expect("update");
    import.commit();
    follow(&w, INCREMENTAL).await;
    assert_ne!(
        stored(&w, Module::contacts(), partner).await["city"],
        json!("Porto"),
        "incremental batches cannot see a commit older than their lookback"
    );
    w.db.reset_stats();
    follow(
        &w,
        FollowUp {
            force_incremental: false,
            force_reconcile: true,
            force_verify: false,
        },
    )
    .await;
    assert_eq!(
        stored(&w, Module::contacts(), partner).await["city"],
        json!("Porto")
    );
    assert_eq!(
        stored(&w, Module::sales(), order).await["amountTotal"],
        json!(4321.0)
    );
    // One page of pairs per module (the modules are small) and one call refetching each
    // module's stale record: the calls the old ids-only reconcile made (a `search` per
    // module, a `search_read` per module with missing ids), no more. Counted before the
    // mirror check, which asks Odoo itself.
    let stats = w.db.stats();
    assert_mirror_matches(&w, &Module::defaults()).await;
    let calls = stats.get("search_read") + stats.get("search");
    assert_eq!(
        calls,
        4 + 2,
        "calls of the reconcile pass: {:?}",
        stats.methods
    );
}

/// Odoo's partner merge re-points other records' many2one columns by SQL without touching
/// their write_date: reconcile marks the merged partner deleted, and only a verify, which
/// re-reads content, brings the re-pointed orders and invoices back to what Odoo says.
async fn partner_merges_are_corrected_by_verify(store: (SharedStore, Backing)) {
    let w = world(spec(17, 400), store, options()).await;
    initial_sync(&w).await;
    let orders = w.db.snapshot("sale.order").expect("orders");
    let source = orders
        .iter()
        .find_map(|o| o["partner_id"][0].as_i64())
        .expect("an order with a customer");
    let target =
        w.db.ids("res.partner")
            .expect("ids")
            .into_iter()
            .find(|id| *id != source)
            .expect("another partner");
    let pointing: Vec<i64> = orders
        .iter()
        .filter(|o| o["partner_id"][0].as_i64() == Some(source))
        .filter_map(|o| o["id"].as_i64())
        .collect();
    w.db.merge_partners(&[source], target).expect("merge");
    follow_up(&w, true).await;
    assert!(
        stored(&w, Module::contacts(), source).await["deletedAt"].is_string(),
        "reconcile marks the merged partner deleted"
    );
    assert_eq!(
        stored(&w, Module::sales(), pointing[0]).await["partnerId"],
        json!(source),
        "nothing but a content check can see the re-pointed order"
    );
    follow(&w, VERIFY).await;
    assert_eq!(
        stored(&w, Module::sales(), pointing[0]).await["partnerId"],
        json!(target)
    );
    assert_mirror_matches(&w, &Module::defaults()).await;
    let state = w
        .engine
        .store()
        .tenant(&w.tenant)
        .await
        .expect("state")
        .expect("tenant");
    let sales = state.module(Module::sales()).expect("sales");
    assert!(
        sales.last_verify_corrected >= Some(pointing.len() as u64),
        "verify counts the orders it corrected: {sales:?}"
    );
    // A second verify finds nothing left to correct.
    follow(&w, VERIFY).await;
    let state = w
        .engine
        .store()
        .tenant(&w.tenant)
        .await
        .expect("state")
        .expect("tenant");
    assert!(
        state
            .modules
            .iter()
            .all(|m| m.last_verify_corrected == Some(0)),
        "{:?}",
        state.modules
    );
}

/// Renaming a record changes the name inside every many2one pair pointing at it without
/// touching their write_date: the mirror shows the new name as soon as it learns it, with
/// no verify and no extra call.
async fn renames_show_in_linked_records(store: (SharedStore, Backing)) {
    let w = world(spec(17, 400), store, options()).await;
    initial_sync(&w).await;
    let orders = w.db.snapshot("sale.order").expect("orders");
    let (order, partner) = orders
        .iter()
        .find_map(|o| Some((o["id"].as_i64()?, o["partner_id"][0].as_i64()?)))
        .expect("an order with a customer");
    let employees = w.db.snapshot("hr.employee").expect("employees");
    let (employee, manager) = employees
        .iter()
        .find_map(|e| Some((e["id"].as_i64()?, e["parent_id"][0].as_i64()?)))
        .expect("an employee with a manager");
    w.db.update("res.partner", partner, json!({"name": "Renamed Customer"}))
        .expect("rename");
    w.db.update("hr.employee", manager, json!({"name": "Renamed Manager"}))
        .expect("rename");
    follow(&w, INCREMENTAL).await;
    assert_eq!(
        stored(&w, Module::sales(), order).await["partnerName"],
        json!("Renamed Customer")
    );
    assert_eq!(
        stored(&w, Module::employees(), employee).await["managerName"],
        json!("Renamed Manager")
    );
    assert_mirror_matches(&w, &Module::defaults()).await;
}

/// A proxy in front of Odoo answers 504 to pages of more than 120 records (Odoo works per
/// record; the proxy's timeout cuts big pages). The page shrinks after the first such
/// answer instead of failing the batch: the initial sync, a reconcile and a verify all
/// finish with no failed attempt, and the mirror is exact.
async fn pages_too_big_for_a_proxy_shrink_instead_of_failing(store: (SharedStore, Backing)) {
    let mut options = options();
    options.page_size = 1000;
    options.client.page_size = 1000;
    let w = world(spec(17, 1200), store, options).await;
    w.db.add_fault(
        FaultRule::new(FaultKind::PageTimeout { max_records: 120 }, Trigger::Always)
            .on_methods(&["search_read"]),
    );
    let steps = initial_sync(&w).await;
    let failed: Vec<&Step> = steps
        .iter()
        .filter(|s| matches!(s, Step::BatchFailed { .. }))
        .collect();
    assert!(failed.is_empty(), "attempts failed: {failed:?}");
    assert_done(&w).await;
    let batches = w.engine.store().batches(&w.tenant).await.expect("batches");
    assert!(
        batches.iter().all(|b| b.attempts <= 1),
        "a batch needed a second attempt"
    );
    follow(
        &w,
        FollowUp {
            force_incremental: true,
            force_reconcile: true,
            force_verify: true,
        },
    )
    .await;
    let batches = w.engine.store().batches(&w.tenant).await.expect("batches");
    assert!(
        batches.iter().all(|b| b.status == BatchStatus::Done),
        "{:?}",
        batches
            .iter()
            .filter(|b| b.status != BatchStatus::Done)
            .collect::<Vec<_>>()
    );
    assert_mirror_matches(&w, &Module::defaults()).await;
}

/// Faults at random in steps of many groups, as workers run them: a group's fetch fails
/// while the one before is written, or the other way round.
async fn steady_faults_still_converge(store: (SharedStore, Backing)) {
    let mut w = world(spec(17, 600), store, options()).await;
    w.many_groups = true;
    for kind in [
        FaultKind::Latency(Duration::from_millis(5)),
        FaultKind::TooManyRequests {
            retry_after_secs: 0,
        },
        FaultKind::BadGateway,
        FaultKind::ServiceUnavailable,
        FaultKind::ConnectionReset,
        FaultKind::TruncatedBody,
        FaultKind::MalformedBody,
        FaultKind::Hang(Duration::from_secs(4)),
    ] {
        w.db.add_fault(FaultRule::new(kind, Trigger::Rate(0.04)).on_methods(&[
            "search_read",
            "search_count",
            "read_group",
        ]));
    }
    let mut opts_steps = initial_sync(&w).await;
    opts_steps.retain(|s| {
        matches!(
            s,
            Step::BatchFailed {
                permanent: true,
                ..
            }
        )
    });
    assert!(opts_steps.is_empty(), "no batch gave up: {opts_steps:?}");
    w.db.clear_faults();
    assert_done(&w).await;
    assert_mirror_matches(&w, &Module::defaults()).await;
}

/// A step of many groups (the next fetched while the last is written) syncs the same data
/// with the same calls as steps of one group each, in a fraction of the steps: the lease,
/// the tenant and the runnable batches are read once per step, not once per group.
async fn many_groups_per_step_cost_the_same_calls(
    single: (SharedStore, Backing),
    many: (SharedStore, Backing),
) {
    let one = world(spec(17, 1500), single, options()).await;
    let mut more = world(spec(17, 1500), many, options()).await;
    more.many_groups = true;
    let one_steps = initial_sync(&one).await;
    let more_steps = initial_sync(&more).await;
    for w in [&one, &more] {
        assert_done(w).await;
        assert_mirror_matches(w, &Module::defaults()).await;
    }
    let done = |steps: &[Step]| -> (usize, usize) {
        steps.iter().fold((0, 0), |(n, batches), s| match s {
            Step::BatchDone { batches: b, .. } => (n + 1, batches + b),
            _ => (n, batches),
        })
    };
    let (one_n, one_batches) = done(&one_steps);
    let (more_n, more_batches) = done(&more_steps);
    assert_eq!(one_batches, more_batches, "the same batches were done");
    assert!(
        more_n * 4 <= one_n,
        "{more_n} steps of many groups against {one_n} of one group"
    );
    assert_eq!(
        one.db.stats().total,
        more.db.stats().total,
        "the same Odoo calls either way"
    );
}

/// An initial batch is a fetch group: one document per run of pages, its planned windows
/// inside it, each within `MAX_WINDOW_HOURS`, and progress counts windows, so
/// `totalBatches` means what it meant when every window was a document.
async fn a_fetch_group_is_one_batch_with_its_windows(store: (SharedStore, Backing)) {
    let w = world(spec(17, 1500), store, options()).await;
    let step = w
        .engine
        .prepare(&w.tenant, &w.info, None)
        .await
        .expect("prepare");
    let Step::Prepared { batches: planned } = step else {
        panic!("{step:?}");
    };
    let opts = w.engine.options().clone();
    let max_window = chrono::TimeDelta::from_std(opts.max_window).expect("window");
    let page = u64::from(opts.page_size.max(opts.limit_per_call));
    let batches = w.engine.store().batches(&w.tenant).await.expect("batches");
    let initial: Vec<&Batch> = batches
        .iter()
        .filter(|b| b.kind == BatchKind::Initial)
        .collect();
    let mut windows_total = 0;
    for b in &initial {
        let windows = if b.windows.is_empty() {
            vec![BatchWindow {
                start: b.window_start,
                end: b.window_end,
                count: b.expected_count.expect("planned count"),
            }]
        } else {
            b.windows.clone()
        };
        assert_eq!(windows[0].start, b.window_start, "{b:?}");
        assert_eq!(windows[windows.len() - 1].end, b.window_end, "{b:?}");
        for pair in windows.windows(2) {
            assert!(pair[0].end <= pair[1].start, "windows in order: {b:?}");
        }
        assert!(
            windows.iter().all(|x| x.end - x.start <= max_window),
            "every window within MAX_WINDOW_HOURS: {b:?}"
        );
        let sum: u64 = windows.iter().map(|x| x.count).sum();
        assert_eq!(Some(sum), b.expected_count, "{b:?}");
        assert!(
            windows.len() == 1 || sum <= page,
            "a group fits one run of pages: {b:?}"
        );
        assert_eq!(b.window_count(), windows.len() as u64);
        windows_total += windows.len() as u64;
    }
    assert!(
        (initial.len() as u64) * 3 <= windows_total,
        "{} batch documents for {windows_total} windows",
        initial.len()
    );
    let progress = w.engine.progress(&w.tenant).await.expect("progress");
    assert_eq!(progress.total_batches, windows_total, "{progress:?}");
    assert_eq!(progress.pending_batches, windows_total, "{progress:?}");
    assert_eq!(planned as u64, windows_total, "prepare reports windows");
    let steps = drain(&w).await;
    assert_done(&w).await;
    assert_mirror_matches(&w, &Module::defaults()).await;
    let progress = w.engine.progress(&w.tenant).await.expect("progress");
    assert_eq!(progress.completed_batches, windows_total, "{progress:?}");
    let reported: usize = steps
        .iter()
        .map(|s| match s {
            Step::BatchDone { batches, .. } => *batches,
            _ => 0,
        })
        .sum();
    assert_eq!(reported as u64, windows_total, "steps report windows");
}

/// A step stops taking groups as soon as its caller says so (a stopping worker): told "go on"
/// once, it writes exactly the first two groups, the same batches two single-group steps write.
async fn a_step_stops_taking_groups_when_told(
    single: (SharedStore, Backing),
    many: (SharedStore, Backing),
) {
    let one = world(spec(17, 1500), single, options()).await;
    let more = world(spec(17, 1500), many, options()).await;
    for w in [&one, &more] {
        prepare(w).await;
    }
    let mut single_batches = 0;
    for _ in 0..2 {
        match one
            .engine
            .process_next_batch(&one.tenant, &one.info)
            .await
            .expect("step")
        {
            Step::BatchDone { batches, .. } => single_batches += batches,
            other => panic!("{other:?}"),
        }
    }
    let asked = std::sync::atomic::AtomicUsize::new(0);
    let go_on = || asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
    let step = more
        .engine
        .process_batches(&more.tenant, &more.info, &go_on)
        .await
        .expect("step");
    let Step::BatchDone { batches, .. } = step else {
        panic!("{step:?}");
    };
    assert_eq!(
        asked.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "asked once per group"
    );
    assert_eq!(batches, single_batches, "two groups, as two single steps");
    let done = |w: &World| {
        let store = w.engine.store().clone();
        let tenant = w.tenant.clone();
        async move {
            store
                .batches(&tenant)
                .await
                .expect("batches")
                .iter()
                .filter(|b| b.status == BatchStatus::Done)
                .count()
        }
    };
    assert_eq!(done(&one).await, done(&more).await);
    assert!(single_batches > 0);
}

async fn revoked_credentials_block_the_tenant_without_a_retry_storm(store: (SharedStore, Backing)) {
    let w = world(spec(17, 400), store, options()).await;
    let step = w
        .engine
        .prepare(&w.tenant, &w.info, None)
        .await
        .expect("prepare");
    assert!(matches!(step, Step::Prepared { .. }));
    w.engine
        .process_next_batch(&w.tenant, &w.info)
        .await
        .expect("one batch");
    w.db.revoke_credentials("admin").expect("revoke");
    w.db.reset_stats();
    let steps = drain(&w).await;
    let Some(Step::Blocked(error)) = steps.last() else {
        panic!("expected the tenant blocked: {steps:?}");
    };
    assert_eq!(error.code, "authentication_failed");
    assert!(!error.message.contains(KEY));
    // Further steps do nothing while blocked.
    let step = w
        .engine
        .process_next_batch(&w.tenant, &w.info)
        .await
        .expect("step");
    assert!(matches!(step, Step::Blocked(_)), "{step:?}");
    let stats = w.db.stats();
    assert!(
        stats.total <= 3,
        "no retry storm against refused credentials: {stats:?}"
    );
    let state = w
        .engine
        .store()
        .tenant(&w.tenant)
        .await
        .expect("state")
        .expect("tenant");
    assert!(state.blocked.is_some());
    let failed = w
        .engine
        .store()
        .batch_counts(&w.tenant, BatchKind::Initial)
        .await
        .expect("counts");
    assert_eq!(
        failed.permanently_failed, 0,
        "blocking burns no attempts to the end"
    );
}

async fn empty_odoo_and_some_apps(store: (SharedStore, Backing)) {
    let mut empty = spec(17, 0);
    empty.apps = vec![App::Contacts, App::Sale];
    let w = world(empty, store, options()).await;
    initial_sync(&w).await;
    assert_done(&w).await;
    let state = w
        .engine
        .store()
        .tenant(&w.tenant)
        .await
        .expect("state")
        .expect("tenant");
    let modules: Vec<Module> = state.modules.iter().map(|m| m.module).collect();
    assert_eq!(modules, vec![Module::sales(), Module::contacts()]);
    assert_mirror_matches(&w, &[Module::sales(), Module::contacts()]).await;
    // New data after an empty start arrives through the first incremental batch.
    w.db.create("sale.order", json!({"name": "S-FIRST", "state": "draft"}))
        .expect("create");
    follow_up(&w, false).await;
    assert_mirror_matches(&w, &[Module::sales(), Module::contacts()]).await;
    assert_eq!(
        w.engine
            .store()
            .record_count(&w.tenant, Module::sales(), false)
            .await
            .expect("count"),
        w.db.count("sale.order").expect("count") as u64
    );
}

async fn a_batch_that_keeps_failing_is_given_up_and_visible(store: (SharedStore, Backing)) {
    let w = world(spec(17, 300), store, options()).await;
    let step = w
        .engine
        .prepare(&w.tenant, &w.info, None)
        .await
        .expect("prepare");
    assert!(matches!(step, Step::Prepared { .. }));
    w.db.add_fault(
        FaultRule::new(FaultKind::ServerFault, Trigger::Always).on_methods(&["search_read"]),
    );
    drain(&w).await;
    let state = w
        .engine
        .store()
        .tenant(&w.tenant)
        .await
        .expect("state")
        .expect("tenant");
    assert_eq!(
        state.sync_status,
        SyncStatus::Done,
        "done once every batch is finished"
    );
    let progress = w.engine.progress(&w.tenant).await.expect("progress");
    assert!(progress.failed_batches > 0);
    assert_eq!(
        progress.failed_batches + progress.completed_batches,
        progress.total_batches
    );
    let batches = w.engine.store().batches(&w.tenant).await.expect("batches");
    for b in batches
        .iter()
        .filter(|b| b.status == BatchStatus::PermanentlyFailed)
    {
        assert_eq!(b.attempts, w.engine.options().max_batch_attempts);
        assert!(b.last_error.as_deref().is_some_and(|e| !e.is_empty()));
    }
}

fn boxed_sqlite() -> futures::future::BoxFuture<'static, (SharedStore, Backing)> {
    Box::pin(sqlite_store())
}

fn boxed_mongo() -> futures::future::BoxFuture<'static, (SharedStore, Backing)> {
    Box::pin(mongo_store())
}

/// A module declared in a settings file (sale orders with a Studio field, by pattern), an
/// optional built-in one with extra fields, and a custom field added to Odoo after the first
/// sync: it reaches the mirror at the next verify, without a resync.
async fn declared_modules_and_custom_fields(
    store: fn() -> futures::future::BoxFuture<'static, (SharedStore, Backing)>,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("settings.toml");
    std::fs::write(
        &file,
        r#"
default_modules = "sales,orders_custom,products"

[modules.orders_custom]
model = "sale.order"
fields = ["name", "amount_total", "partner_id", "x_studio_*"]
display_name = "Orders with regions"

[modules.products]
extra_fields = ["x_studio_*"]
"#,
    )
    .expect("settings file");
    let settings = Settings::load(Some(&file)).expect("valid settings");
    let declared: Module = "orders_custom".parse().expect("declared");
    assert_eq!(declared.collection(), "odooorderscustom");
    let mut options = options();
    options.modules = settings.modules.clone();
    assert_eq!(
        options.modules,
        [Module::sales(), declared, Module::products()]
    );

    let mut spec = spec(17, 400);
    spec.custom_fields = vec![
        CustomField::new("sale.order", "x_studio_region", CustomFieldKind::Char),
        CustomField::new("product.product", "x_studio_origin", CustomFieldKind::Char),
    ];
    // Settings are loaded before a store opens (the SQLite store makes a table per module).
    let w = world(spec, store().await, options).await;
    let orders = w.db.ids("sale.order").expect("orders");
    w.db.update("sale.order", orders[0], json!({"x_studio_region": "EMEA"}))
        .expect("update");
    initial_sync(&w).await;
    assert_done(&w).await;
    let state = w
        .engine
        .store()
        .tenant(&w.tenant)
        .await
        .expect("tenant")
        .expect("state");
    let custom = state.module(declared).expect("declared module synced");
    assert_eq!(custom.model, "sale.order");
    assert_eq!(custom.extra_fields, ["x_studio_region"]);
    let products = state.module(Module::products()).expect("products synced");
    assert_eq!(products.extra_fields, ["x_studio_origin"]);
    assert_mirror_matches(&w, &[Module::sales(), declared, Module::products()]).await;
    let stored = w
        .engine
        .store()
        .records_by_ids(&w.tenant, declared, &[orders[0]])
        .await
        .expect("records");
    assert_eq!(stored[0].document["raw"]["x_studio_region"], json!("EMEA"));
    assert!(
        stored[0].document["raw"].get("state").is_none(),
        "a declared module reads only the fields it names"
    );

    // Studio adds a field to Odoo after the first sync; one order gets a value.
    w.db.add_custom_field("sale.order", "x_studio_tier", CustomFieldKind::Char)
        .expect("new field");
    w.db.update("sale.order", orders[1], json!({"x_studio_tier": "gold"}))
        .expect("update");
    follow(
        &w,
        FollowUp {
            force_incremental: true,
            force_reconcile: false,
            force_verify: true,
        },
    )
    .await;
    let state = w
        .engine
        .store()
        .tenant(&w.tenant)
        .await
        .expect("tenant")
        .expect("state");
    assert_eq!(
        state.module(declared).expect("declared").extra_fields,
        ["x_studio_region", "x_studio_tier"],
        "the verify found the new field"
    );
    assert_mirror_matches(&w, &[Module::sales(), declared, Module::products()]).await;
    let stored = w
        .engine
        .store()
        .records_by_ids(&w.tenant, declared, &[orders[1]])
        .await
        .expect("records");
    assert_eq!(stored[0].document["raw"]["x_studio_tier"], json!("gold"));
}

/// A tenant that enables modules after its first sync: they are planned at its next idle step
/// and synced while its status stays `done` (the dashboard stays open); the others go on.
async fn a_tenant_enables_modules_later(store: (SharedStore, Backing)) {
    let w = world(spec(18, 300), store, options()).await;
    let four: Vec<String> = Module::defaults()
        .iter()
        .map(|m| m.as_str().to_string())
        .collect();
    let connection = StoredConnection {
        url: w.server.url(),
        db: "acme".into(),
        username: "admin".into(),
        secret_kind: "api_key".into(),
        secret: EncryptedSecret {
            key_id: "k".into(),
            nonce: "n".into(),
            ciphertext: "c".into(),
        },
        saved_at: chrono::Utc::now(),
        modules: Some(four.clone()),
        protocol: None,
    };
    w.engine
        .store()
        .save_connection(&w.tenant, &connection, chrono::Utc::now())
        .await
        .expect("saved");
    initial_sync(&w).await;
    assert_done(&w).await;
    let state = w
        .engine
        .store()
        .tenant(&w.tenant)
        .await
        .expect("tenant")
        .expect("state");
    assert_eq!(state.modules.len(), 4);

    let mut more = four.clone();
    more.extend(["sale_lines".to_string(), "products".to_string()]);
    w.engine
        .store()
        .set_connection_modules(&w.tenant, Some(&more), chrono::Utc::now())
        .await
        .expect("modules changed");
    let steps = drain(&w).await;
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::Prepared { batches } if *batches > 0)),
        "the new modules were planned: {steps:?}"
    );
    let state = w
        .engine
        .store()
        .tenant(&w.tenant)
        .await
        .expect("tenant")
        .expect("state");
    assert_eq!(
        state.sync_status,
        SyncStatus::Done,
        "the dashboard stayed open"
    );
    let names: Vec<&str> = state.modules.iter().map(|m| m.module.as_str()).collect();
    assert_eq!(
        names,
        [
            "sales",
            "invoices",
            "contacts",
            "employees",
            "sale_lines",
            "products"
        ]
    );
    let mut all = Module::defaults();
    all.extend([Module::sale_lines(), Module::products()]);
    assert_mirror_matches(&w, &all).await;
    // Nothing more to plan: the next idle step stays idle.
    let step = w
        .engine
        .process_next_batch(&w.tenant, &w.info)
        .await
        .expect("step");
    assert!(matches!(step, Step::Idle), "{step:?}");
}

/// One tenant's Odoo never answers its login: the other tenants of the same engine sync as if
/// it were not there (connecting holds up only that tenant, never the engine's other clients).
async fn a_hanging_odoo_holds_up_only_its_own_tenant(store: (SharedStore, Backing)) {
    let mut options = options();
    // Longer than the test can take: the hanging login must still be waiting when the other
    // tenant is done, however loaded the machine.
    options.client.request_timeout = Duration::from_secs(3600);
    let w = world(spec(17, 200), store, options).await;
    let mut slow = spec(17, 50);
    slow.name = "slow".into();
    let slow_db = w._sim.add_database(slow).expect("database");
    slow_db.add_fault(FaultRule::new(
        FaultKind::Hang(Duration::from_secs(7200)),
        Trigger::Always,
    ));
    let slow_info = ConnectionInfo::parse(
        &w.server.url(),
        "slow",
        "admin",
        Credential::api_key(KEY).expect("key"),
    )
    .expect("info");
    let slow_tenant = TenantId::parse("tenant-slow").expect("id");
    let hanging = w.engine.prepare(&slow_tenant, &slow_info, None);
    tokio::pin!(hanging);
    let others = async {
        initial_sync(&w).await;
        assert_done(&w).await;
        assert_mirror_matches(&w, &Module::defaults()).await;
    };
    // The bound only turns a regression (the others queued behind the hanging login) into a
    // failure instead of an hour-long wait; the others need seconds.
    let others = tokio::time::timeout(Duration::from_secs(600), others);
    tokio::select! {
        step = &mut hanging => panic!("the hanging Odoo answered first: {step:?}"),
        done = others => done.expect("the other tenants were held up by the hanging one"),
    }
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hanging_odoo_holds_up_only_its_own_tenant() {
        super::a_hanging_odoo_holds_up_only_its_own_tenant(sqlite_store().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenant_enables_modules_later() {
        super::a_tenant_enables_modules_later(sqlite_store().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn declared_modules_and_custom_fields() {
        super::declared_modules_and_custom_fields(boxed_sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_version_syncs() {
        super::every_version_syncs(boxed_sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn thousands_of_rows_in_one_second() {
        super::thousands_of_rows_in_one_second(sqlite_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn live_changes_late_commits_and_deletions_converge() {
        super::live_changes_late_commits_and_deletions_converge(sqlite_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn late_commits_on_existing_records_reach_the_mirror() {
        super::late_commits_on_existing_records_reach_the_mirror(sqlite_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn partner_merges_are_corrected_by_verify() {
        super::partner_merges_are_corrected_by_verify(sqlite_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn renames_show_in_linked_records() {
        super::renames_show_in_linked_records(sqlite_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pages_too_big_for_a_proxy_shrink_instead_of_failing() {
        super::pages_too_big_for_a_proxy_shrink_instead_of_failing(sqlite_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn steady_faults_still_converge() {
        super::steady_faults_still_converge(sqlite_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_groups_per_step_cost_the_same_calls() {
        super::many_groups_per_step_cost_the_same_calls(sqlite_store().await, sqlite_store().await)
            .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fetch_group_is_one_batch_with_its_windows() {
        super::a_fetch_group_is_one_batch_with_its_windows(sqlite_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_step_stops_taking_groups_when_told() {
        super::a_step_stops_taking_groups_when_told(sqlite_store().await, sqlite_store().await)
            .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn revoked_credentials_block_the_tenant_without_a_retry_storm() {
        super::revoked_credentials_block_the_tenant_without_a_retry_storm(sqlite_store().await)
            .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn empty_odoo_and_some_apps() {
        super::empty_odoo_and_some_apps(sqlite_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_that_keeps_failing_is_given_up_and_visible() {
        super::a_batch_that_keeps_failing_is_given_up_and_visible(sqlite_store().await).await;
    }
}

mod mongo {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hanging_odoo_holds_up_only_its_own_tenant() {
        super::a_hanging_odoo_holds_up_only_its_own_tenant(mongo_store().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenant_enables_modules_later() {
        super::a_tenant_enables_modules_later(mongo_store().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn declared_modules_and_custom_fields() {
        super::declared_modules_and_custom_fields(boxed_mongo).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_version_syncs() {
        super::every_version_syncs(boxed_mongo).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn thousands_of_rows_in_one_second() {
        super::thousands_of_rows_in_one_second(mongo_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn live_changes_late_commits_and_deletions_converge() {
        super::live_changes_late_commits_and_deletions_converge(mongo_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn late_commits_on_existing_records_reach_the_mirror() {
        super::late_commits_on_existing_records_reach_the_mirror(mongo_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn partner_merges_are_corrected_by_verify() {
        super::partner_merges_are_corrected_by_verify(mongo_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn renames_show_in_linked_records() {
        super::renames_show_in_linked_records(mongo_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pages_too_big_for_a_proxy_shrink_instead_of_failing() {
        super::pages_too_big_for_a_proxy_shrink_instead_of_failing(mongo_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn steady_faults_still_converge() {
        super::steady_faults_still_converge(mongo_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fetch_group_is_one_batch_with_its_windows() {
        super::a_fetch_group_is_one_batch_with_its_windows(mongo_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_groups_per_step_cost_the_same_calls() {
        let mongod = testkit::MongoServer::start().await.expect("mongod");
        let store = |db: &str| {
            let uri = mongod.uri().replacen("/?", &format!("/{db}?"), 1);
            async move { MongoStore::connect(&uri).await.expect("mongo store") }
        };
        let single: SharedStore = Arc::new(store("single").await);
        let many: SharedStore = Arc::new(store("many").await);
        super::many_groups_per_step_cost_the_same_calls(
            (single, Backing::Dir(tempfile::tempdir().expect("dir"))),
            (many, Backing::Dir(tempfile::tempdir().expect("dir"))),
        )
        .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn revoked_credentials_block_the_tenant_without_a_retry_storm() {
        super::revoked_credentials_block_the_tenant_without_a_retry_storm(mongo_store().await)
            .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn empty_odoo_and_some_apps() {
        super::empty_odoo_and_some_apps(mongo_store().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_that_keeps_failing_is_given_up_and_visible() {
        super::a_batch_that_keeps_failing_is_given_up_and_visible(mongo_store().await).await;
    }
}
