//! The store conformance suite (`store/suite.rs`) against [`SqliteStore`] on a fresh file per
//! test, plus what only SQLite has to prove: the file outlives the process, several handles
//! on one file (like several processes) share leases and fencing, writers wait for each other
//! instead of failing, big batches and reconciles stay fast, and bad stored data is an error,
//! never a panic.

#[path = "store/suite.rs"]
mod suite;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Map};
use shared::modules::{EmployeeAccess, Module};
use shared::store::sqlite::{SqliteStore, FILE_NAME};
use shared::store::{
    Batch, BatchKind, BatchStatus, FieldValue, Lease, MirrorRecord, NewBatch, Prepared,
    SharedStore, Store, StoreError, SyncStatus, TenantId,
};
use sqlx::{Connection, SqliteConnection};

/// A directory removed when dropped: each test's database lives in one.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("odoo-sync-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir is not worth failing a test over.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh store on a new file; the directory lives as long as the returned guard.
async fn sqlite_store() -> (SharedStore, TempDir) {
    let dir = TempDir::new();
    let store = SqliteStore::open_in_dir(dir.path())
        .await
        .unwrap_or_else(|e| panic!("cannot open the store: {e}"));
    (Arc::new(store), dir)
}

store_suite!(sqlite_store());

// ---------------------------------------------------------------------------------------------
// helpers

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(300);
const PAST_SHORT: Duration = Duration::from_millis(700);

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("valid tenant id")
}

/// `secs` seconds after 2024-03-01T00:00:00Z.
fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0)
        .single()
        .expect("valid date")
        + chrono::Duration::seconds(secs)
}

fn prepared(modules: &[Module]) -> Prepared {
    Prepared {
        odoo_version: "17.0".into(),
        protocol: "json2".into(),
        modules: modules
            .iter()
            .map(|m| shared::store::PlannedModule {
                module: *m,
                model: format!("model.{}", m.as_str()),
                extra_fields: Vec::new(),
            })
            .collect(),
        employee_access: EmployeeAccess::Full,
    }
}

fn initial(module: Module) -> NewBatch {
    NewBatch::window(module, BatchKind::Initial, at(0), at(3600), None)
}

fn record(odoo_id: i64, write_secs: i64, name: &str) -> MirrorRecord {
    let mut raw = Map::new();
    raw.insert("id".into(), json!(odoo_id));
    raw.insert("name".into(), json!(name));
    raw.insert("amount_total".into(), json!(0.0));
    raw.insert("big".into(), json!(9_007_199_254_740_993_i64));
    raw.insert("label".into(), json!("Zoë 世界 🚀 \"q\" \\"));
    MirrorRecord {
        odoo_id,
        write_date: at(write_secs),
        create_date: None,
        active: true,
        fields: vec![("name".into(), FieldValue::Text(name.into()))],
        raw,
    }
}

/// A tenant with a long lease for `holder`, prepared for `modules` with one initial batch
/// each; returns the lease and the batches.
async fn prepared_tenant(
    store: &SqliteStore,
    name: &str,
    holder: &str,
    modules: &[Module],
) -> (Lease, Vec<Batch>) {
    let id = tenant(name);
    store.ensure_tenant(&id).await.expect("ensure tenant");
    let lease = store
        .acquire_lease(&id, holder, LONG)
        .await
        .expect("acquire")
        .expect("the lease is free");
    let plan: Vec<NewBatch> = modules.iter().map(|m| initial(*m)).collect();
    let batches = store
        .record_prepare(&lease, &prepared(modules), &plan, at(10))
        .await
        .expect("prepare");
    (lease, batches)
}

fn assert_lease_lost<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::LeaseLost { .. }) => {}
        other => panic!("{what}: expected LeaseLost, got {other:?}"),
    }
}

/// A raw connection to the store's file, for looking under the hood.
async fn raw_connection(path: &Path) -> SqliteConnection {
    let url = format!("sqlite://{}", path.display());
    SqliteConnection::connect(&url)
        .await
        .expect("raw connection")
}

// ---------------------------------------------------------------------------------------------
// the file

#[tokio::test]
async fn open_in_dir_creates_the_dir_and_a_wal_file() {
    let dir = TempDir::new();
    let data_dir = dir.path().join("nested").join("data");
    let store = SqliteStore::open_in_dir(&data_dir).await.expect("open");
    assert_eq!(store.path(), data_dir.join(FILE_NAME));
    assert!(store.path().is_file());
    store.close().await;

    let mut conn = raw_connection(&data_dir.join(FILE_NAME)).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("journal mode");
    assert_eq!(mode, "wal");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut conn)
            .await
            .expect("tables");
    for table in [
        "odoocontacts",
        "odooemployees",
        "odooinvoices",
        "odoosaleorders",
        "odoosyncbatches",
        "odoosyncstatuses",
    ] {
        assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
    }
}

#[tokio::test]
async fn reopened_file_keeps_everything() {
    let dir = TempDir::new();
    let id = tenant("tenant-1");
    let (lease, batches) = {
        let store = SqliteStore::open_in_dir(dir.path()).await.expect("open");
        let (lease, batches) =
            prepared_tenant(&store, "tenant-1", "worker-a", &[Module::sales()]).await;
        store
            .start_batch(&lease, &batches[0].id, at(20))
            .await
            .expect("start");
        let records: Vec<MirrorRecord> = (1..=3).map(|i| record(i, 100, "kept")).collect();
        store
            .complete_batch(&lease, &batches[0], &records, Some(at(100)), at(30))
            .await
            .expect("complete");
        store.close().await;
        (lease, batches)
    };

    // Opening again runs the schema creation again: it must leave the data alone.
    let store = SqliteStore::open_in_dir(dir.path()).await.expect("reopen");
    let state = store.tenant(&id).await.expect("read").expect("tenant kept");
    assert_eq!(
        state.sync_status,
        SyncStatus::Done,
        "its only batch is done"
    );
    assert_eq!(
        state.module(Module::sales()).and_then(|m| m.watermark),
        Some(at(100))
    );
    assert_eq!(state.lease.map(|l| l.token), Some(lease.token));
    let stored = store.batches(&id).await.expect("batches");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, batches[0].id);
    assert_eq!(stored[0].status, BatchStatus::Done);
    assert_eq!(stored[0].finished_at, Some(at(30)));
    let records = store
        .records(&id, Module::sales(), 0, 10)
        .await
        .expect("records");
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].document["name"], json!("kept"));
    // The lease taken before the restart still fences: the token is in the file.
    store
        .set_sync_status(&lease, SyncStatus::Done, at(40))
        .await
        .expect("the old lease is still the tenant's");
}

#[tokio::test]
async fn newer_schema_version_is_refused() {
    let dir = TempDir::new();
    let path = dir.path().join(FILE_NAME);
    SqliteStore::open(&path).await.expect("open").close().await;
    let mut conn = raw_connection(&path).await;
    sqlx::query("PRAGMA user_version = 99")
        .execute(&mut conn)
        .await
        .expect("set version");
    conn.close().await.expect("close");
    match SqliteStore::open(&path).await {
        Err(StoreError::Backend(message)) => assert!(message.contains("99"), "{message}"),
        other => panic!("expected a schema version error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// two handles on one file, like two processes

#[tokio::test]
async fn two_handles_race_for_the_lease_and_one_wins() {
    let dir = TempDir::new();
    let first = Arc::new(SqliteStore::open_in_dir(dir.path()).await.expect("open 1"));
    let second = Arc::new(SqliteStore::open_in_dir(dir.path()).await.expect("open 2"));
    let id = tenant("tenant-1");
    first.ensure_tenant(&id).await.expect("ensure");

    let contenders: Vec<_> = (0..8)
        .map(|i| {
            let store = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let id = id.clone();
            tokio::spawn(async move {
                store
                    .acquire_lease(&id, &format!("worker-{i}"), LONG)
                    .await
                    .expect("acquire")
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in contenders {
        if let Some(lease) = task.await.expect("task") {
            winners.push(lease);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner: {winners:?}");
    let winner = winners.remove(0);
    assert_eq!(winner.token, 1);

    // A loser that writes anyway (it believes it holds the tenant under the same token)
    // writes nothing, through either handle.
    let loser = Lease {
        holder: "worker-loser".into(),
        ..winner.clone()
    };
    for store in [&first, &second] {
        assert_lease_lost(
            store
                .record_prepare(&loser, &prepared(&[Module::sales()]), &[], at(10))
                .await,
            "loser's prepare",
        );
    }
    let winner_store = if winner.holder.ends_with(['0', '2', '4', '6']) {
        &second
    } else {
        &first
    };
    winner_store
        .record_prepare(&winner, &prepared(&[Module::sales()]), &[], at(10))
        .await
        .expect("the winner writes through the other handle too");
    let state = first.tenant(&id).await.expect("read").expect("tenant");
    assert_eq!(state.sync_status, SyncStatus::Done);
    assert_eq!(state.fence, 1, "failed attempts do not move the fence");
}

#[tokio::test]
async fn takeover_through_another_handle_fences_the_first() {
    let dir = TempDir::new();
    let first = SqliteStore::open_in_dir(dir.path()).await.expect("open 1");
    let second = SqliteStore::open_in_dir(dir.path()).await.expect("open 2");
    let id = tenant("tenant-1");
    first.ensure_tenant(&id).await.expect("ensure");
    let a = first
        .acquire_lease(&id, "worker-a", SHORT)
        .await
        .expect("acquire")
        .expect("free");
    let plan = first
        .record_prepare(
            &a,
            &prepared(&[Module::sales()]),
            &[initial(Module::sales())],
            at(10),
        )
        .await
        .expect("prepare");
    let a_batch = first
        .start_batch(&a, &plan[0].id, at(20))
        .await
        .expect("start");
    assert!(second
        .acquire_lease(&id, "worker-b", LONG)
        .await
        .expect("acquire")
        .is_none());
    tokio::time::sleep(PAST_SHORT).await;
    let b = second
        .acquire_lease(&id, "worker-b", LONG)
        .await
        .expect("acquire")
        .expect("expired lease is free");
    assert_eq!(b.token, a.token + 1);
    assert_lease_lost(first.renew_lease(&a, LONG).await, "renew");
    assert_lease_lost(
        first
            .complete_batch(&a, &a_batch, &[record(1, 10, "a")], None, at(30))
            .await,
        "complete",
    );
    assert_eq!(
        second
            .record_count(&id, Module::sales(), true)
            .await
            .expect("count"),
        0
    );
}

/// Two tasks on two handles complete the same batch at the same moment, one with a stale
/// lease: only the current holder's records land, whichever transaction runs first.
#[tokio::test]
async fn concurrent_complete_batch_with_a_stale_lease() {
    let dir = TempDir::new();
    let first = Arc::new(SqliteStore::open_in_dir(dir.path()).await.expect("open 1"));
    let second = Arc::new(SqliteStore::open_in_dir(dir.path()).await.expect("open 2"));
    let id = tenant("tenant-1");
    first.ensure_tenant(&id).await.expect("ensure");
    let a = first
        .acquire_lease(&id, "worker-a", SHORT)
        .await
        .expect("acquire")
        .expect("free");
    let plan = first
        .record_prepare(
            &a,
            &prepared(&[Module::sales()]),
            &[initial(Module::sales())],
            at(10),
        )
        .await
        .expect("prepare");
    let a_batch = first
        .start_batch(&a, &plan[0].id, at(20))
        .await
        .expect("start");
    tokio::time::sleep(PAST_SHORT).await;
    let b = second
        .acquire_lease(&id, "worker-b", LONG)
        .await
        .expect("acquire")
        .expect("takeover");
    let b_batch = second
        .start_batch(&b, &plan[0].id, at(30))
        .await
        .expect("start");

    for round in 0..5 {
        let a_records: Vec<MirrorRecord> = (1..=1000)
            .map(|i| record(i, 1000 + round, "from A"))
            .collect();
        let b_records: Vec<MirrorRecord> = (1..=800)
            .map(|i| record(i, 500 + round, "from B"))
            .collect();
        let (stale, current) = {
            let (first, second) = (first.clone(), second.clone());
            let (a, b) = (a.clone(), b.clone());
            let (a_batch, b_batch) = (a_batch.clone(), b_batch.clone());
            let stale = tokio::spawn(async move {
                first
                    .complete_batch(&a, &a_batch, &a_records, Some(at(1000)), at(40))
                    .await
            });
            let current = tokio::spawn(async move {
                second
                    .complete_batch(&b, &b_batch, &b_records, Some(at(500)), at(40))
                    .await
            });
            (stale.await.expect("task A"), current.await.expect("task B"))
        };
        assert_lease_lost(stale, "stale writer");
        let summary = current.expect("the current holder writes");
        assert_eq!(summary.written, 800, "round {round}");
    }
    let records = first
        .records(&id, Module::sales(), 0, 5000)
        .await
        .expect("records");
    assert_eq!(records.len(), 800);
    assert!(records
        .iter()
        .all(|r| r.document["name"] == json!("from B")));
    let state = first.tenant(&id).await.expect("read").expect("tenant");
    assert_eq!(
        state.module(Module::sales()).and_then(|m| m.watermark),
        Some(at(500))
    );
}

/// A writer finding the file locked by another connection waits (busy timeout) and then
/// succeeds, instead of failing at once with "database is locked".
#[tokio::test]
async fn writer_waits_for_a_locked_file() {
    let (store, dir) = sqlite_store().await;
    let id = tenant("tenant-1");
    store.ensure_tenant(&id).await.expect("ensure");
    let lease = store
        .acquire_lease(&id, "worker-a", LONG)
        .await
        .expect("acquire")
        .expect("free");

    let mut other = raw_connection(&dir.path().join(FILE_NAME)).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect("lock");
    let writer = {
        let store = store.clone();
        let lease = lease.clone();
        tokio::spawn(async move {
            store
                .set_sync_status(&lease, SyncStatus::Done, at(10))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!writer.is_finished(), "the writer waits for the lock");
    sqlx::query("COMMIT")
        .execute(&mut other)
        .await
        .expect("unlock");
    writer
        .await
        .expect("task")
        .expect("the write goes through once the lock is free");
    let state = store.tenant(&id).await.expect("read").expect("tenant");
    assert_eq!(state.sync_status, SyncStatus::Done);
}

// ---------------------------------------------------------------------------------------------
// volume

#[tokio::test]
async fn five_thousand_records_in_one_batch() {
    let dir = TempDir::new();
    let store = SqliteStore::open_in_dir(dir.path()).await.expect("open");
    let (lease, plan) =
        prepared_tenant(&store, "tenant-1", "worker-a", &[Module::contacts()]).await;
    let id = lease.user_id.clone();
    let records: Vec<MirrorRecord> = (1..=5000)
        .map(|i| {
            let mut r = record(i, 100, "contact");
            for k in 0..20 {
                r.raw
                    .insert(format!("field_{k}"), json!(format!("{k}/{i}")));
            }
            r
        })
        .collect();
    let started = store
        .start_batch(&lease, &plan[0].id, at(20))
        .await
        .expect("start");
    let clock = Instant::now();
    let summary = store
        .complete_batch(&lease, &started, &records, Some(at(100)), at(30))
        .await
        .expect("complete");
    eprintln!("5000 records written in {:?}", clock.elapsed());
    assert_eq!(summary.written, 5000);
    assert_eq!(summary.skipped_older, 0);

    // The same ids again but older: all skipped, nothing replaced.
    let older: Vec<MirrorRecord> = (1..=5000).map(|i| record(i, 50, "older")).collect();
    let summary = store
        .complete_batch(&lease, &started, &older, None, at(40))
        .await
        .expect("complete again");
    assert_eq!(summary.written, 0);
    assert_eq!(summary.skipped_older, 5000);
    assert_eq!(
        store
            .record_count(&id, Module::contacts(), true)
            .await
            .expect("count"),
        5000
    );
    let last = store
        .records(&id, Module::contacts(), 4999, 10)
        .await
        .expect("records");
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].document["name"], json!("contact"));
    assert_eq!(last[0].document["raw"]["field_19"], json!("19/5000"));
}

#[tokio::test]
async fn reconcile_with_a_hundred_thousand_alive_ids() {
    let dir = TempDir::new();
    let store = SqliteStore::open_in_dir(dir.path()).await.expect("open");
    let (lease, plan) =
        prepared_tenant(&store, "tenant-1", "worker-a", &[Module::contacts()]).await;
    let id = lease.user_id.clone();
    // Ids 40, 80, ... 100,000.
    let records: Vec<MirrorRecord> = (1..=2500).map(|i| record(i * 40, 100, "c")).collect();
    store
        .complete_batch(&lease, &plan[0], &records, None, at(30))
        .await
        .expect("seed");
    let reconcile = |store: &SqliteStore, alive: Vec<i64>, now: DateTime<Utc>| {
        let lease = lease.clone();
        let store = store.clone();
        async move {
            let batch = store
                .add_batches(
                    &lease,
                    &[NewBatch {
                        kind: BatchKind::Reconcile,
                        ..initial(Module::contacts())
                    }],
                    now,
                )
                .await
                .expect("add")
                .remove(0);
            store
                .complete_reconcile(&lease, &batch, &alive, now)
                .await
                .expect("reconcile")
        }
    };

    // Every id up to 100,000 except the multiples of 80 (half the stored ones).
    let alive: Vec<i64> = (1..=100_000).filter(|i| i % 80 != 0).collect();
    let clock = Instant::now();
    let summary = reconcile(&store, alive, at(200)).await;
    eprintln!("reconcile of 100,000 ids in {:?}", clock.elapsed());
    assert_eq!(summary.marked_deleted, 1250);
    assert_eq!(summary.restored, 0);
    assert_eq!(
        store
            .record_count(&id, Module::contacts(), false)
            .await
            .expect("count"),
        1250
    );
    let deleted = store
        .records(&id, Module::contacts(), 79, 1)
        .await
        .expect("records");
    assert_eq!(deleted[0].odoo_id, 80);
    assert_eq!(deleted[0].deleted_at, Some(at(200)));
    assert_eq!(
        deleted[0].document["deletedAt"],
        json!("2024-03-01T00:03:20Z")
    );
    // Updating deletedAt inside the document leaves the rest of it exactly as written.
    let untouched = record(80, 100, "c");
    assert_eq!(deleted[0].document["raw"], json!(untouched.raw));

    let everyone: Vec<i64> = (1..=100_000).collect();
    let summary = reconcile(&store, everyone, at(300)).await;
    assert_eq!(summary.restored, 1250);
    let restored = store
        .records(&id, Module::contacts(), 79, 1)
        .await
        .expect("records");
    assert_eq!(restored[0].deleted_at, None);
    assert_eq!(restored[0].document["deletedAt"], serde_json::Value::Null);
    assert_eq!(restored[0].document["raw"], json!(untouched.raw));
}

// ---------------------------------------------------------------------------------------------
// bad data

#[tokio::test]
async fn malformed_stored_data_is_corrupt_not_a_panic() {
    let (store, dir) = sqlite_store().await;
    let id = tenant("tenant-1");
    store.ensure_tenant(&id).await.expect("ensure");
    let lease = store
        .acquire_lease(&id, "worker-a", LONG)
        .await
        .expect("acquire")
        .expect("free");
    let plan = store
        .record_prepare(
            &lease,
            &prepared(&[Module::sales()]),
            &[initial(Module::sales())],
            at(10),
        )
        .await
        .expect("prepare");
    store
        .complete_batch(&lease, &plan[0], &[record(1, 10, "a")], None, at(20))
        .await
        .expect("complete");

    let mut conn = raw_connection(&dir.path().join(FILE_NAME)).await;
    for sql in [
        "UPDATE odoosaleorders SET document = '{not json'",
        "UPDATE odoosyncbatches SET status = 'exploded'",
        "UPDATE odoosyncstatuses SET updated_at = 'yesterday'",
    ] {
        sqlx::query(sql).execute(&mut conn).await.expect("damage");
    }
    let corrupt = |what: &str, result: Result<String, StoreError>| match result {
        Err(StoreError::Corrupt(_)) => {}
        other => panic!("{what}: expected Corrupt, got {other:?}"),
    };
    corrupt(
        "records",
        store
            .records(&id, Module::sales(), 0, 10)
            .await
            .map(|r| format!("{r:?}")),
    );
    corrupt(
        "batches",
        store.batches(&id).await.map(|b| format!("{b:?}")),
    );
    corrupt(
        "batch_counts",
        store
            .batch_counts(&id, BatchKind::Initial)
            .await
            .map(|c| format!("{c:?}")),
    );
    corrupt("tenant", store.tenant(&id).await.map(|t| format!("{t:?}")));
}
