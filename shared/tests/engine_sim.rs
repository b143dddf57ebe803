//! The sync engine end to end: the simulator as Odoo, real SQLite and MongoDB stores. Every
//! scenario ends with the mirror equal to the simulator's data (ids, writeDate, values,
//! active, deletedAt) and nothing duplicated.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::config::Settings;
use shared::modules::{EmployeeAccess, Module};
use shared::odoo::{ClientSettings, ConnectionInfo, Credential, RetryPolicy, ServerVersion};
use shared::store::mongo::MongoStore;
use shared::store::sqlite::SqliteStore;
use shared::store::{BatchKind, BatchStatus, SharedStore, SyncStatus, TenantId};
use shared::sync::{EngineOptions, FollowUp, Step, SyncEngine};
use sim::{
    App, BurstSpec, DatabaseSpec, Db, FaultKind, FaultRule, SimServer, Simulator, Trigger, UserSpec,
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

/// Runs batches until nothing is runnable and no failed batch waits for a retry.
async fn drain(w: &World) -> Vec<Step> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut steps = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "did not converge: {steps:?}");
        let step = w
            .engine
            .process_next_batch(&w.tenant, &w.info)
            .await
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

async fn initial_sync(w: &World) -> Vec<Step> {
    let step = w
        .engine
        .prepare(&w.tenant, &w.info, None)
        .await
        .expect("prepare");
    assert!(matches!(step, Step::Prepared { .. }), "{step:?}");
    drain(w).await
}

async fn follow_up(w: &World, reconcile: bool) {
    let added = w
        .engine
        .schedule_follow_up(
            &w.tenant,
            FollowUp {
                force_incremental: true,
                force_reconcile: reconcile,
            },
        )
        .await
        .expect("follow-up");
    assert!(added > 0, "follow-up batches added");
    drain(w).await;
}

fn mapping_for(w: &World, module: Module) -> shared::modules::ModelMapping {
    module.mapping(&ServerVersion::new(w.db.version(), 0), EmployeeAccess::Full)
}

/// The mirror equals the simulator: same live ids, same writeDate and values of every
/// fetched field, archived rows present with active = false, vanished rows marked deleted.
async fn assert_mirror_matches(w: &World, modules: &[Module]) {
    for module in modules {
        let mapping = mapping_for(w, *module);
        let expected: BTreeMap<i64, Value> =
            w.db.snapshot(mapping.model)
                .expect("snapshot")
                .into_iter()
                .filter(|row| {
                    let kind = row.get("move_type").or_else(|| row.get("type"));
                    !(mapping.model == "account.move" && kind == Some(&json!("entry")))
                })
                .map(|row| (row["id"].as_i64().expect("id"), row))
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
                    &raw[*field], &row[*field],
                    "{module} {} field {field}",
                    record.odoo_id
                );
            }
            let active = row.get("active").and_then(Value::as_bool).unwrap_or(true);
            assert_eq!(record.active, active, "{module} {} active", record.odoo_id);
            assert_eq!(record.document["userId"], json!(w.tenant.as_str()));
        }
    }
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
        let w = world(spec(version, 600), store().await, options()).await;
        initial_sync(&w).await;
        assert_done(&w).await;
        assert_mirror_matches(&w, &Module::ALL).await;
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
    assert_mirror_matches(&w, &Module::ALL).await;
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
        .records(&w.tenant, Module::Sales, very_late_id - 1, 1)
        .await
        .expect("records");
    assert_eq!(
        found.first().map(|r| r.odoo_id),
        Some(very_late_id),
        "reconcile fetched the missing row"
    );
    assert_mirror_matches(&w, &Module::ALL).await;
    let late_record = w
        .engine
        .store()
        .records(&w.tenant, Module::Contacts, late_id - 1, 1)
        .await
        .expect("records");
    assert_eq!(
        late_record.first().map(|r| r.odoo_id),
        Some(late_id),
        "late commit caught by the lookback"
    );
    // A deleted record that comes back is restored; a second reconcile is a no-op.
    follow_up(&w, true).await;
    assert_mirror_matches(&w, &Module::ALL).await;
}

async fn steady_faults_still_converge(store: (SharedStore, Backing)) {
    let w = world(spec(17, 600), store, options()).await;
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
    assert_mirror_matches(&w, &Module::ALL).await;
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
    assert_eq!(modules, vec![Module::Sales, Module::Contacts]);
    assert_mirror_matches(&w, &[Module::Sales, Module::Contacts]).await;
    // New data after an empty start arrives through the first incremental batch.
    w.db.create("sale.order", json!({"name": "S-FIRST", "state": "draft"}))
        .expect("create");
    follow_up(&w, false).await;
    assert_mirror_matches(&w, &[Module::Sales, Module::Contacts]).await;
    assert_eq!(
        w.engine
            .store()
            .record_count(&w.tenant, Module::Sales, false)
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

mod sqlite {
    use super::*;

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
    async fn steady_faults_still_converge() {
        super::steady_faults_still_converge(sqlite_store().await).await;
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
    async fn steady_faults_still_converge() {
        super::steady_faults_still_converge(mongo_store().await).await;
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
