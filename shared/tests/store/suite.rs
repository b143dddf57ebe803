//! The store conformance suite: one behaviour, two stores. Every case takes a fresh, empty
//! [`SharedStore`] and checks one promise of the `Store` trait, so MongoDB and SQLite are held
//! to exactly the same contract.
//!
//! A test binary includes this file as a module named `suite` at its crate root and expands
//! [`store_suite!`] with an expression giving a future of `(SharedStore, guard)`; the guard
//! keeps the store's server or temp dir alive until the case is over:
//!
//! ```ignore
//! #[path = "store/suite.rs"]
//! mod suite;
//! store_suite!(make_store());
//! ```
//!
//! Cases use fixed, whole-second timestamps (both stores keep at least millisecond precision)
//! and only the lease methods read the clock.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{json, Map, Value};
use shared::modules::{EmployeeAccess, Module};
use shared::store::{
    Batch, BatchCounts, BatchId, BatchKind, BatchStatus, BatchWrite, Lease, MirrorRecord, NewBatch,
    PlannedModule, Prepared, SharedStore, StoreError, SyncStatus, TenantError, TenantFilter,
    TenantId, TenantSearch, MAX_TENANT_PAGE,
};
use shared::store::{EncryptedSecret, StoredConnection};

/// What every case returns: a store error fails the test with its message.
pub type CaseResult = Result<(), StoreError>;

/// Expands to one `#[tokio::test]` per case of the suite. `$make` is evaluated afresh for each
/// test and must be a future of `(SharedStore, G)` where `G` lives as long as the store is used.
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        $crate::store_suite!(@cases $make;
            tenant_is_created_once_not_started,
            unknown_tenant_has_no_state_and_no_lease,
            lease_excludes_other_holders,
            lease_expires_and_takeover_increments_token,
            renew_extends_and_fails_once_lost,
            release_frees_and_ignores_a_lost_lease,
            expired_untaken_lease_still_fences,
            record_prepare_is_fenced,
            record_prepare_with_empty_plan_is_done,
            record_prepare_replaces_batches_and_keeps_watermarks,
            sync_status_and_blocked_are_fenced,
            batches_run_initial_first_in_creation_order,
            failed_batch_waits_for_retry_time,
            in_progress_batch_is_resumable,
            start_batch_counts_attempts,
            complete_batch_is_idempotent,
            complete_batch_never_goes_back_to_older_write_date,
            complete_batch_clears_deleted_at,
            reconcile_and_verify_writes_are_the_truth_even_when_older,
            renamed_contact_shows_in_linked_records,
            verify_counts_what_it_corrected,
            stored_versions_and_records_by_ids,
            request_verify_makes_every_module_due,
            complete_batches_writes_a_group_at_once,
            complete_batches_is_all_or_nothing,
            last_initial_write_finishes_the_sync,
            giving_up_the_last_initial_batch_finishes_the_sync,
            watermark_only_rises,
            stale_lease_writes_nothing,
            racing_workers_only_current_lease_wins,
            reconcile_marks_missing_and_restores_returning,
            reconcile_is_idempotent_and_scoped,
            fail_batch_retry_and_permanent,
            batch_counts_by_kind,
            a_fetch_group_keeps_its_windows_and_counts_them,
            records_page_by_odoo_id_per_tenant,
            record_count_with_and_without_deleted,
            delete_tenant_removes_everything,
            recreated_tenant_refuses_old_lease,
            add_batches_stamps_module_times,
            add_modules_keeps_the_status_and_is_fenced,
            module_fields_are_kept_and_fenced,
            connection_modules_change_without_a_fresh_sync,
            raw_values_round_trip,
            document_has_camel_case_fields_and_rfc3339_dates,
            large_batch_in_one_write,
            connection_is_saved_and_read_back,
            save_connection_starts_a_fresh_sync,
            delete_tenant_forgets_the_connection,
            list_tenants_pages_in_user_id_order,
            find_tenants_searches_by_prefix_and_pages_with_a_total,
            find_tenants_filters_what_operators_act_on,
            retry_failed_batches_gives_new_attempts,
            operator_block_voids_the_lease_and_unblock_clears_it,
            overview_counts_across_tenants,
            due_tenants_lists_each_kind_of_work_once,
            due_tenants_respects_the_limit,
            claim_enqueue_is_exclusive_until_cleared_or_stale,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() -> $crate::suite::CaseResult {
                let (store, _guard) = $make.await;
                $crate::suite::$case(store).await
            }
        )+
    };
}

// ---------------------------------------------------------------------------------------------
// helpers

/// A lease long enough that no case sees it expire by accident.
const LONG: Duration = Duration::from_secs(60);
/// A lease short enough to let a case wait for its expiry.
const SHORT: Duration = Duration::from_millis(300);
/// Comfortably longer than [`SHORT`], so the lease has expired by any clock involved.
const PAST_SHORT: Duration = Duration::from_millis(700);

fn tenant_id(name: &str) -> TenantId {
    TenantId::parse(name).expect("test tenant ids are valid")
}

/// A fixed instant: `secs` seconds after 2024-03-01T00:00:00Z.
fn ts(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0)
        .single()
        .expect("valid base date")
        + chrono::Duration::seconds(secs)
}

fn model_of(module: Module) -> &'static str {
    module.model(&shared::odoo::ServerVersion::new(17, 0))
}

fn prepared(modules: &[Module]) -> Prepared {
    Prepared {
        odoo_version: "17.0".into(),
        protocol: "json2".into(),
        modules: modules
            .iter()
            .map(|m| PlannedModule {
                module: *m,
                model: model_of(*m).to_string(),
                extra_fields: Vec::new(),
            })
            .collect(),
        employee_access: EmployeeAccess::Full,
    }
}

/// A batch over hours `[from_h, to_h)` after the base instant.
fn new_batch(module: Module, kind: BatchKind, from_h: i64, to_h: i64) -> NewBatch {
    NewBatch::window(module, kind, ts(from_h * 3600), ts(to_h * 3600), Some(3))
}

/// A sales-order-like record written at `ts(write_secs)`.
fn record(odoo_id: i64, write_secs: i64, name: &str) -> MirrorRecord {
    let mut raw = Map::new();
    raw.insert("id".into(), json!(odoo_id));
    raw.insert("name".into(), json!(name));
    raw.insert("partner_id".into(), json!([12, "Azure Interior"]));
    raw.insert("amount_total".into(), json!(100.5));
    raw.insert(
        "write_date".into(),
        json!(ts(write_secs).format("%Y-%m-%d %H:%M:%S").to_string()),
    );
    MirrorRecord {
        odoo_id,
        write_date: ts(write_secs),
        create_date: Some(ts(0)),
        active: true,
        fields: vec![
            ("name".into(), shared::store::FieldValue::Text(name.into())),
            ("partnerId".into(), shared::store::FieldValue::Int(12)),
            (
                "partnerName".into(),
                shared::store::FieldValue::Text("Azure Interior".into()),
            ),
            (
                "amountTotal".into(),
                shared::store::FieldValue::Float(100.5),
            ),
        ],
        raw,
    }
}

/// A tenant that exists, with a long lease held by `worker-a`.
async fn leased(store: &SharedStore, name: &str) -> Result<(TenantId, Lease), StoreError> {
    let id = tenant_id(name);
    store.ensure_tenant(&id).await?;
    let lease = store
        .acquire_lease(&id, "worker-a", LONG)
        .await?
        .expect("a fresh tenant's lease is free");
    Ok((id, lease))
}

/// Prepares `modules` with one initial batch each and returns the batches in plan order.
async fn prepare(
    store: &SharedStore,
    lease: &Lease,
    modules: &[Module],
) -> Result<Vec<Batch>, StoreError> {
    let plan: Vec<NewBatch> = modules
        .iter()
        .enumerate()
        .map(|(i, m)| new_batch(*m, BatchKind::Initial, i as i64, i as i64 + 1))
        .collect();
    store
        .record_prepare(lease, &prepared(modules), &plan, ts(10))
        .await
}

/// Starts `batch` and completes it with `records`.
async fn run_batch(
    store: &SharedStore,
    lease: &Lease,
    batch: &Batch,
    records: &[MirrorRecord],
    watermark: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<shared::store::WriteSummary, StoreError> {
    let started = store.start_batch(lease, &batch.id, now).await?;
    store
        .complete_batch(lease, &started, records, watermark, now)
        .await
}

/// Adds one batch of `kind` for `module` and returns it.
async fn add_one(
    store: &SharedStore,
    lease: &Lease,
    module: Module,
    kind: BatchKind,
    now: DateTime<Utc>,
) -> Result<Batch, StoreError> {
    let mut added = store
        .add_batches(lease, &[new_batch(module, kind, 100, 101)], now)
        .await?;
    assert_eq!(added.len(), 1, "add_batches returns what it added");
    Ok(added.remove(0))
}

/// The stored `name` of each record, by odooId.
async fn names(
    store: &SharedStore,
    id: &TenantId,
    module: Module,
) -> Result<Vec<(i64, String)>, StoreError> {
    let records = store.records(id, module, 0, 10_000).await?;
    Ok(records
        .iter()
        .map(|r| {
            let name = r.document["name"].as_str().unwrap_or("<none>").to_string();
            (r.odoo_id, name)
        })
        .collect())
}

fn assert_lease_lost<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::LeaseLost { .. }) => {}
        other => panic!("{what}: expected LeaseLost, got {other:?}"),
    }
}

async fn batch_by_id(
    store: &SharedStore,
    id: &TenantId,
    batch: &BatchId,
) -> Result<Batch, StoreError> {
    let batches = store.batches(id).await?;
    Ok(batches
        .into_iter()
        .find(|b| &b.id == batch)
        .expect("the batch is still stored"))
}

/// A second worker takes the tenant after `first`'s short lease expired.
async fn take_over(store: &SharedStore, id: &TenantId) -> Result<Lease, StoreError> {
    tokio::time::sleep(PAST_SHORT).await;
    Ok(store
        .acquire_lease(id, "worker-b", LONG)
        .await?
        .expect("an expired lease can be taken"))
}

// ---------------------------------------------------------------------------------------------
// tenants and leases

pub async fn tenant_is_created_once_not_started(store: SharedStore) -> CaseResult {
    let id = tenant_id("tenant-1");
    let first = store.ensure_tenant(&id).await?;
    assert_eq!(first.user_id, id);
    assert_eq!(first.sync_status, SyncStatus::NotStarted);
    assert!(first.modules.is_empty());
    assert!(first.lease.is_none());
    assert!(first.blocked.is_none());
    assert!(first.odoo_version.is_none());

    let second = store.ensure_tenant(&id).await?;
    assert_eq!(
        second.created_at, first.created_at,
        "ensure_tenant creates once"
    );
    let fetched = store.tenant(&id).await?.expect("tenant exists");
    assert_eq!(fetched.user_id, id);
    assert_eq!(fetched.sync_status, SyncStatus::NotStarted);
    assert_eq!(fetched.fence, first.fence);
    Ok(())
}

pub async fn unknown_tenant_has_no_state_and_no_lease(store: SharedStore) -> CaseResult {
    let id = tenant_id("nobody");
    assert!(store.tenant(&id).await?.is_none());
    match store.acquire_lease(&id, "worker-a", LONG).await {
        Err(StoreError::UnknownTenant(_)) => {}
        other => panic!("expected UnknownTenant, got {other:?}"),
    }
    assert!(
        store.tenant(&id).await?.is_none(),
        "acquire must not create"
    );
    Ok(())
}

pub async fn lease_excludes_other_holders(store: SharedStore) -> CaseResult {
    let (id, a) = leased(&store, "tenant-1").await?;
    assert!(store.acquire_lease(&id, "worker-b", LONG).await?.is_none());
    assert!(
        store.acquire_lease(&id, "worker-a", LONG).await?.is_none(),
        "a live lease is not taken twice, not even by its holder"
    );
    let state = store.tenant(&id).await?.expect("tenant exists");
    let info = state.lease.expect("lease is stored");
    assert_eq!(info.holder, "worker-a");
    assert_eq!(info.token, a.token);
    assert_eq!(state.fence, a.token, "the token is the fencing counter");
    assert_eq!(a.user_id, id);
    assert!(
        a.expires_at > Utc::now(),
        "a fresh lease expires in the future"
    );
    Ok(())
}

pub async fn lease_expires_and_takeover_increments_token(store: SharedStore) -> CaseResult {
    let id = tenant_id("tenant-1");
    store.ensure_tenant(&id).await?;
    let a = store
        .acquire_lease(&id, "worker-a", SHORT)
        .await?
        .expect("free lease");
    assert!(store.acquire_lease(&id, "worker-b", LONG).await?.is_none());
    let b = take_over(&store, &id).await?;
    assert_eq!(
        b.token,
        a.token + 1,
        "every acquisition increments the fence"
    );
    assert_eq!(b.holder, "worker-b");
    let state = store.tenant(&id).await?.expect("tenant exists");
    assert_eq!(state.fence, b.token);
    assert_eq!(state.lease.map(|l| l.holder), Some("worker-b".to_string()));
    Ok(())
}

pub async fn renew_extends_and_fails_once_lost(store: SharedStore) -> CaseResult {
    let id = tenant_id("tenant-1");
    store.ensure_tenant(&id).await?;
    let a = store
        .acquire_lease(&id, "worker-a", SHORT)
        .await?
        .expect("free lease");
    let renewed = store.renew_lease(&a, LONG).await?;
    assert_eq!(renewed.token, a.token);
    assert!(renewed.expires_at > a.expires_at);
    tokio::time::sleep(PAST_SHORT).await;
    assert!(
        store.acquire_lease(&id, "worker-b", LONG).await?.is_none(),
        "a renewed lease is live past its first expiry"
    );

    // Let the renewed lease lapse by renewing it short, then lose it.
    let short = store.renew_lease(&renewed, SHORT).await?;
    let b = take_over(&store, &id).await?;
    assert_lease_lost(
        store.renew_lease(&short, LONG).await,
        "renew after takeover",
    );
    let state = store.tenant(&id).await?.expect("tenant exists");
    assert_eq!(state.lease.map(|l| l.token), Some(b.token));
    Ok(())
}

pub async fn release_frees_and_ignores_a_lost_lease(store: SharedStore) -> CaseResult {
    let id = tenant_id("tenant-1");
    store.ensure_tenant(&id).await?;
    let a = store
        .acquire_lease(&id, "worker-a", SHORT)
        .await?
        .expect("free lease");
    let b = take_over(&store, &id).await?;
    store.release_lease(&a).await?;
    assert!(
        store.acquire_lease(&id, "worker-c", LONG).await?.is_none(),
        "releasing a lost lease must not free the new holder's lease"
    );
    store.release_lease(&b).await?;
    let c = store
        .acquire_lease(&id, "worker-c", LONG)
        .await?
        .expect("a released lease is free at once");
    assert_eq!(c.token, b.token + 1);
    Ok(())
}

/// Fencing is by token, not by clock: until someone else takes the tenant, an expired lease's
/// writes still go through (no other writer can exist).
pub async fn expired_untaken_lease_still_fences(store: SharedStore) -> CaseResult {
    let id = tenant_id("tenant-1");
    store.ensure_tenant(&id).await?;
    let a = store
        .acquire_lease(&id, "worker-a", SHORT)
        .await?
        .expect("free lease");
    tokio::time::sleep(PAST_SHORT).await;
    store
        .set_sync_status(&a, SyncStatus::InProgress, ts(10))
        .await?;
    let state = store.tenant(&id).await?.expect("tenant exists");
    assert_eq!(state.sync_status, SyncStatus::InProgress);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// prepare and tenant updates

pub async fn record_prepare_is_fenced(store: SharedStore) -> CaseResult {
    let id = tenant_id("tenant-1");
    store.ensure_tenant(&id).await?;
    let a = store
        .acquire_lease(&id, "worker-a", SHORT)
        .await?
        .expect("free lease");
    let _b = take_over(&store, &id).await?;
    let plan = [new_batch(Module::sales(), BatchKind::Initial, 0, 1)];
    assert_lease_lost(
        store
            .record_prepare(&a, &prepared(&[Module::sales()]), &plan, ts(10))
            .await,
        "record_prepare with a lost lease",
    );
    let state = store.tenant(&id).await?.expect("tenant exists");
    assert_eq!(state.sync_status, SyncStatus::NotStarted);
    assert!(state.modules.is_empty());
    assert!(state.odoo_version.is_none());
    assert!(store.batches(&id).await?.is_empty());
    Ok(())
}

pub async fn record_prepare_with_empty_plan_is_done(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let batches = store
        .record_prepare(&lease, &prepared(&[Module::sales()]), &[], ts(10))
        .await?;
    assert!(batches.is_empty());
    let state = store.tenant(&id).await?.expect("tenant exists");
    assert_eq!(state.sync_status, SyncStatus::Done);
    assert_eq!(state.modules.len(), 1);
    assert!(store.next_runnable_batch(&id, ts(20)).await?.is_none());
    Ok(())
}

pub async fn record_prepare_replaces_batches_and_keeps_watermarks(
    store: SharedStore,
) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let first = prepare(&store, &lease, &[Module::sales(), Module::contacts()]).await?;
    assert_eq!(first.len(), 2);
    for (b, module) in first.iter().zip([Module::sales(), Module::contacts()]) {
        assert_eq!(b.module, module);
        assert_eq!(b.user_id, id);
        assert_eq!(b.kind, BatchKind::Initial);
        assert_eq!(b.status, BatchStatus::Pending);
        assert_eq!(b.attempts, 0);
        assert_eq!(b.expected_count, Some(3));
    }
    assert!(first[0].seq < first[1].seq, "seq follows plan order");
    run_batch(
        &store,
        &lease,
        &first[0],
        &[record(1, 50, "SO1")],
        Some(ts(50)),
        ts(60),
    )
    .await?;
    let blocked = TenantError {
        code: "access_denied".into(),
        message: "no access".into(),
        at: ts(70),
    };
    store.set_blocked(&lease, Some(&blocked), ts(70)).await?;

    let mut again = prepared(&[Module::sales(), Module::employees()]);
    again.odoo_version = "18.0".into();
    again.employee_access = EmployeeAccess::PublicOnly;
    again.modules[1].model = "hr.employee.public".into();
    again.modules[1].extra_fields = vec!["x_studio_badge".into()];
    let plan = [
        new_batch(Module::sales(), BatchKind::Initial, 0, 1),
        new_batch(Module::employees(), BatchKind::Initial, 0, 1),
        new_batch(Module::employees(), BatchKind::Initial, 1, 2),
    ];
    let second = store.record_prepare(&lease, &again, &plan, ts(80)).await?;
    assert_eq!(second.len(), 3);

    let stored: Vec<BatchId> = store
        .batches(&id)
        .await?
        .into_iter()
        .map(|b| b.id)
        .collect();
    let returned: Vec<BatchId> = second.iter().map(|b| b.id.clone()).collect();
    assert_eq!(stored, returned, "the old plan is replaced, oldest first");

    let state = store.tenant(&id).await?.expect("tenant exists");
    assert_eq!(state.sync_status, SyncStatus::InProgress);
    assert!(state.blocked.is_none(), "prepare clears the blocking error");
    assert_eq!(state.odoo_version.as_deref(), Some("18.0"));
    assert_eq!(state.protocol.as_deref(), Some("json2"));
    assert_eq!(state.employee_access, Some(EmployeeAccess::PublicOnly));
    let modules: Vec<Module> = state.modules.iter().map(|m| m.module).collect();
    assert_eq!(modules, vec![Module::sales(), Module::employees()]);
    let sales = state.module(Module::sales()).expect("sales kept");
    assert_eq!(
        sales.watermark,
        Some(ts(50)),
        "a kept module keeps its watermark"
    );
    let employees = state.module(Module::employees()).expect("employees added");
    assert_eq!(employees.model, "hr.employee.public");
    assert_eq!(employees.extra_fields, ["x_studio_badge"]);
    assert_eq!(employees.watermark, None);
    assert!(state.module(Module::contacts()).is_none());
    // Records stay: prepare replaces the plan, not the mirror.
    assert_eq!(store.record_count(&id, Module::sales(), true).await?, 1);
    Ok(())
}

pub async fn sync_status_and_blocked_are_fenced(store: SharedStore) -> CaseResult {
    let id = tenant_id("tenant-1");
    store.ensure_tenant(&id).await?;
    let a = store
        .acquire_lease(&id, "worker-a", SHORT)
        .await?
        .expect("free lease");
    store.set_sync_status(&a, SyncStatus::Done, ts(10)).await?;
    let error = TenantError {
        code: "invalid_credentials".into(),
        message: "Odoo refused the API key".into(),
        at: ts(20),
    };
    store.set_blocked(&a, Some(&error), ts(20)).await?;
    let state = store.tenant(&id).await?.expect("tenant exists");
    assert_eq!(state.sync_status, SyncStatus::Done);
    assert_eq!(state.blocked.as_ref(), Some(&error));
    store.set_blocked(&a, None, ts(30)).await?;
    assert!(store.tenant(&id).await?.expect("exists").blocked.is_none());

    let _b = take_over(&store, &id).await?;
    assert_lease_lost(
        store
            .set_sync_status(&a, SyncStatus::InProgress, ts(40))
            .await,
        "set_sync_status",
    );
    assert_lease_lost(
        store.set_blocked(&a, Some(&error), ts(40)).await,
        "set_blocked",
    );
    let state = store.tenant(&id).await?.expect("tenant exists");
    assert_eq!(state.sync_status, SyncStatus::Done);
    assert!(state.blocked.is_none());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// batches

pub async fn batches_run_initial_first_in_creation_order(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let initial = prepare(&store, &lease, &[Module::sales()]).await?;
    let incremental = add_one(
        &store,
        &lease,
        Module::sales(),
        BatchKind::Incremental,
        ts(20),
    )
    .await?;
    let late_initial = add_one(
        &store,
        &lease,
        Module::contacts(),
        BatchKind::Initial,
        ts(30),
    )
    .await?;
    assert!(incremental.seq < late_initial.seq);

    let order: Vec<BatchId> = store
        .batches(&id)
        .await?
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(
        order,
        vec![
            initial[0].id.clone(),
            incremental.id.clone(),
            late_initial.id.clone()
        ],
        "batches() lists oldest first"
    );

    let next = store.next_runnable_batch(&id, ts(40)).await?.expect("work");
    assert_eq!(next.id, initial[0].id);
    run_batch(&store, &lease, &next, &[], None, ts(40)).await?;
    let next = store.next_runnable_batch(&id, ts(50)).await?.expect("work");
    assert_eq!(
        next.id, late_initial.id,
        "initial batches run before older incremental ones"
    );
    run_batch(&store, &lease, &next, &[], None, ts(50)).await?;
    let next = store.next_runnable_batch(&id, ts(60)).await?.expect("work");
    assert_eq!(next.id, incremental.id);
    run_batch(&store, &lease, &next, &[], None, ts(60)).await?;
    assert!(store.next_runnable_batch(&id, ts(70)).await?.is_none());
    Ok(())
}

pub async fn failed_batch_waits_for_retry_time(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales(), Module::contacts()]).await?;
    store.start_batch(&lease, &plan[0].id, ts(20)).await?;
    store
        .fail_batch(
            &lease,
            &plan[0].id,
            "count mismatch",
            Some(ts(1000)),
            ts(30),
        )
        .await?;
    let next = store
        .next_runnable_batch(&id, ts(500))
        .await?
        .expect("work");
    assert_eq!(
        next.id, plan[1].id,
        "a failed batch waits for its retry time"
    );
    let next = store
        .next_runnable_batch(&id, ts(1000))
        .await?
        .expect("work");
    assert_eq!(next.id, plan[0].id, "due at exactly next_attempt_at");
    assert_eq!(next.status, BatchStatus::Failed);
    Ok(())
}

pub async fn in_progress_batch_is_resumable(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales(), Module::contacts()]).await?;
    store.start_batch(&lease, &plan[0].id, ts(20)).await?;
    let next = store.next_runnable_batch(&id, ts(30)).await?.expect("work");
    assert_eq!(next.id, plan[0].id);
    assert_eq!(next.status, BatchStatus::InProgress);
    Ok(())
}

pub async fn start_batch_counts_attempts(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales()]).await?;
    let started = store.start_batch(&lease, &plan[0].id, ts(20)).await?;
    assert_eq!(started.status, BatchStatus::InProgress);
    assert_eq!(started.attempts, 1);
    assert_eq!(started.started_at, Some(ts(20)));
    assert_eq!(started.lease_token, Some(lease.token));
    let again = store.start_batch(&lease, &plan[0].id, ts(30)).await?;
    assert_eq!(again.attempts, 2);
    assert_eq!(batch_by_id(&store, &id, &plan[0].id).await?.attempts, 2);
    match store
        .start_batch(&lease, &BatchId::new_random(), ts(40))
        .await
    {
        Err(StoreError::UnknownBatch(_)) => {}
        other => panic!("expected UnknownBatch, got {other:?}"),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// complete_batch

pub async fn complete_batch_is_idempotent(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales()]).await?;
    let records = [record(3, 10, "c"), record(1, 10, "a"), record(2, 10, "b")];
    let summary = run_batch(&store, &lease, &plan[0], &records, Some(ts(10)), ts(20)).await?;
    assert_eq!(summary.written, 3);
    assert_eq!(summary.skipped_older, 0);
    let done = batch_by_id(&store, &id, &plan[0].id).await?;
    assert_eq!(done.status, BatchStatus::Done);
    assert_eq!(done.fetched_count, Some(3));
    assert_eq!(done.finished_at, Some(ts(20)));

    // The same batch again (a duplicate job, a retried commit): no duplicates.
    let again = store
        .complete_batch(&lease, &done, &records, Some(ts(10)), ts(30))
        .await?;
    assert_eq!(again.skipped_older, 0, "an equal writeDate is not older");
    assert_eq!(again.written, 3);
    assert_eq!(store.record_count(&id, Module::sales(), true).await?, 3);
    assert_eq!(
        names(&store, &id, Module::sales()).await?,
        vec![(1, "a".into()), (2, "b".into()), (3, "c".into())]
    );
    Ok(())
}

pub async fn complete_batch_never_goes_back_to_older_write_date(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales()]).await?;
    run_batch(
        &store,
        &lease,
        &plan[0],
        &[record(1, 100, "new"), record(2, 100, "same-old")],
        None,
        ts(200),
    )
    .await?;
    let late = add_one(
        &store,
        &lease,
        Module::sales(),
        BatchKind::Incremental,
        ts(300),
    )
    .await?;
    let summary = run_batch(
        &store,
        &lease,
        &late,
        &[
            record(1, 50, "older"),
            record(2, 100, "same-newer-content"),
            record(3, 50, "fresh"),
        ],
        None,
        ts(300),
    )
    .await?;
    assert_eq!(summary.skipped_older, 1);
    assert_eq!(summary.written, 2);
    assert_eq!(
        names(&store, &id, Module::sales()).await?,
        vec![
            (1, "new".into()),
            (2, "same-newer-content".into()),
            (3, "fresh".into())
        ]
    );
    let records = store.records(&id, Module::sales(), 0, 1).await?;
    assert_eq!(records[0].write_date, ts(100));
    assert_eq!(
        records[0].synced_at,
        ts(200),
        "a skipped record is untouched"
    );
    Ok(())
}

pub async fn reconcile_and_verify_writes_are_the_truth_even_when_older(
    store: SharedStore,
) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales()]).await?;
    run_batch(
        &store,
        &lease,
        &plan[0],
        &[record(1, 100, "seen"), record(2, 100, "seen")],
        None,
        ts(200),
    )
    .await?;
    // A write_date moved back by a direct SQL fix: Odoo's answer is older than the mirror's.
    for (kind, odoo_id) in [(BatchKind::Reconcile, 1), (BatchKind::Verify, 2)] {
        let batch = add_one(&store, &lease, Module::sales(), kind, ts(300)).await?;
        let summary = run_batch(
            &store,
            &lease,
            &batch,
            &[record(odoo_id, 40, "fixed by hand")],
            None,
            ts(300),
        )
        .await?;
        assert_eq!((summary.written, summary.skipped_older), (1, 0), "{kind}");
    }
    assert_eq!(
        names(&store, &id, Module::sales()).await?,
        vec![(1, "fixed by hand".into()), (2, "fixed by hand".into())]
    );
    let records = store.records(&id, Module::sales(), 0, 10).await?;
    assert!(records.iter().all(|r| r.write_date == ts(40)));
    Ok(())
}

/// A contact record with a display name, as the contacts module reads it.
fn contact(odoo_id: i64, write_secs: i64, name: &str, parent: Option<(i64, &str)>) -> MirrorRecord {
    let mut raw = Map::new();
    raw.insert("id".into(), json!(odoo_id));
    raw.insert("name".into(), json!(name));
    raw.insert("display_name".into(), json!(name));
    raw.insert(
        "parent_id".into(),
        parent.map_or(json!(false), |(id, name)| json!([id, name])),
    );
    raw.insert(
        "write_date".into(),
        json!(ts(write_secs).format("%Y-%m-%d %H:%M:%S").to_string()),
    );
    let (parent_id, parent_name) = match parent {
        Some((id, name)) => (
            shared::store::FieldValue::Int(id),
            shared::store::FieldValue::Text(name.into()),
        ),
        None => (
            shared::store::FieldValue::Null,
            shared::store::FieldValue::Null,
        ),
    };
    MirrorRecord {
        odoo_id,
        write_date: ts(write_secs),
        create_date: Some(ts(0)),
        active: true,
        fields: vec![
            ("name".into(), shared::store::FieldValue::Text(name.into())),
            ("parentId".into(), parent_id),
            ("parentName".into(), parent_name),
        ],
        raw,
    }
}

pub async fn renamed_contact_shows_in_linked_records(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales(), Module::contacts()]).await?;
    // Orders 1 and 2 point at partner 12 ("Azure Interior"); contact 13 works there.
    run_batch(
        &store,
        &lease,
        &plan[0],
        &[record(1, 100, "S1"), record(2, 100, "S2")],
        None,
        ts(200),
    )
    .await?;
    run_batch(
        &store,
        &lease,
        &plan[1],
        &[
            contact(12, 100, "Azure Interior", None),
            contact(13, 100, "Ana", Some((12, "Azure Interior"))),
        ],
        None,
        ts(200),
    )
    .await?;
    let other = leased(&store, "tenant-2").await?;
    let other_plan = prepare(&store, &other.1, &[Module::sales()]).await?;
    run_batch(
        &store,
        &other.1,
        &other_plan[0],
        &[record(1, 100, "S1")],
        None,
        ts(200),
    )
    .await?;

    let batch = add_one(
        &store,
        &lease,
        Module::contacts(),
        BatchKind::Incremental,
        ts(300),
    )
    .await?;
    run_batch(
        &store,
        &lease,
        &batch,
        &[contact(12, 250, "Azure Interior Ltd", None)],
        None,
        ts(300),
    )
    .await?;
    for order in store.records(&id, Module::sales(), 0, 10).await? {
        let doc = &order.document;
        assert_eq!(doc["partnerName"], json!("Azure Interior Ltd"), "{doc}");
        assert_eq!(doc["raw"]["partner_id"], json!([12, "Azure Interior Ltd"]));
        assert_eq!(
            order.write_date,
            ts(100),
            "Odoo does not touch their write_date"
        );
    }
    let contacts = store.records(&id, Module::contacts(), 0, 10).await?;
    assert_eq!(
        contacts[1].document["parentName"],
        json!("Azure Interior Ltd")
    );
    assert_eq!(
        contacts[1].document["raw"]["parent_id"],
        json!([12, "Azure Interior Ltd"])
    );
    let untouched = store.records(&other.0, Module::sales(), 0, 10).await?;
    assert_eq!(
        untouched[0].document["partnerName"],
        json!("Azure Interior"),
        "another tenant's records are not touched"
    );
    Ok(())
}

pub async fn verify_counts_what_it_corrected(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales()]).await?;
    run_batch(
        &store,
        &lease,
        &plan[0],
        &[record(1, 100, "a")],
        None,
        ts(200),
    )
    .await?;
    for corrected in [2, 1] {
        let batch = add_one(&store, &lease, Module::sales(), BatchKind::Verify, ts(300)).await?;
        let records: Vec<MirrorRecord> = (1..=corrected).map(|n| record(n, 100, "fixed")).collect();
        run_batch(&store, &lease, &batch, &records, None, ts(300)).await?;
    }
    let state = store.tenant(&id).await?.expect("tenant");
    let sales = state.module(Module::sales()).expect("sales");
    assert_eq!(sales.last_verify_corrected, Some(1));
    assert_eq!(sales.verify_corrected_total, 3);
    assert_eq!(sales.last_verify_at, Some(ts(300)));
    let overview = store.overview(ts(400)).await?;
    assert_eq!(overview.verify_corrected.get(&Module::sales()), Some(&3));
    assert_eq!(overview.verify_corrected.get(&Module::contacts()), None);
    Ok(())
}

pub async fn stored_versions_and_records_by_ids(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales()]).await?;
    run_batch(
        &store,
        &lease,
        &plan[0],
        &[record(3, 100, "c"), record(1, 50, "a"), record(2, 70, "b")],
        None,
        ts(200),
    )
    .await?;
    let reconcile = add_one(
        &store,
        &lease,
        Module::sales(),
        BatchKind::Reconcile,
        ts(300),
    )
    .await?;
    store
        .complete_reconcile(&lease, &reconcile, &[1, 3], ts(300))
        .await?;
    let versions = store.stored_versions(&id, Module::sales()).await?;
    let seen: Vec<(i64, DateTime<Utc>, bool)> = versions
        .iter()
        .map(|v| (v.odoo_id, v.write_date, v.deleted))
        .collect();
    assert_eq!(
        seen,
        vec![(1, ts(50), false), (2, ts(70), true), (3, ts(100), false)]
    );
    let found = store
        .records_by_ids(&id, Module::sales(), &[3, 9, 1])
        .await?;
    let ids: Vec<i64> = found.iter().map(|r| r.odoo_id).collect();
    assert_eq!(ids, vec![1, 3]);
    assert_eq!(found[1].document["name"], json!("c"));
    assert!(store
        .records_by_ids(&tenant_id("nobody"), Module::sales(), &[1])
        .await?
        .is_empty());
    Ok(())
}

pub async fn request_verify_makes_every_module_due(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    prepare(&store, &lease, &[Module::sales(), Module::contacts()]).await?;
    let state = store.tenant(&id).await?.expect("tenant");
    assert!(
        state
            .modules
            .iter()
            .all(|m| m.last_verify_at == Some(ts(10))),
        "a new module counts as verified by its initial sync: {:?}",
        state.modules
    );
    store.request_verify(&id, ts(20)).await?;
    let state = store.tenant(&id).await?.expect("tenant");
    assert!(state.modules.iter().all(|m| m.last_verify_at.is_none()));
    assert!(matches!(
        store.request_verify(&tenant_id("nobody"), ts(20)).await,
        Err(StoreError::UnknownTenant(_))
    ));
    Ok(())
}

pub async fn complete_batch_clears_deleted_at(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales()]).await?;
    run_batch(
        &store,
        &lease,
        &plan[0],
        &[record(1, 10, "a"), record(2, 10, "b")],
        None,
        ts(20),
    )
    .await?;
    let reconcile = add_one(
        &store,
        &lease,
        Module::sales(),
        BatchKind::Reconcile,
        ts(30),
    )
    .await?;
    let started = store.start_batch(&lease, &reconcile.id, ts(30)).await?;
    store
        .complete_reconcile(&lease, &started, &[1], ts(30))
        .await?;
    assert_eq!(store.record_count(&id, Module::sales(), false).await?, 1);

    let incremental = add_one(
        &store,
        &lease,
        Module::sales(),
        BatchKind::Incremental,
        ts(40),
    )
    .await?;
    run_batch(
        &store,
        &lease,
        &incremental,
        &[record(2, 35, "b again")],
        None,
        ts(40),
    )
    .await?;
    let records = store.records(&id, Module::sales(), 1, 10).await?;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].odoo_id, 2);
    assert_eq!(records[0].deleted_at, None, "a record seen again is alive");
    assert_eq!(records[0].document["deletedAt"], Value::Null);
    assert_eq!(store.record_count(&id, Module::sales(), false).await?, 2);
    Ok(())
}

/// A fetch group: fresh (never started) batches of two modules written in one step; a record
/// fetched by two windows keeps its newest version; each module's watermark is the newest.
pub async fn complete_batches_writes_a_group_at_once(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan: Vec<NewBatch> = [
        (Module::sales(), 0),
        (Module::sales(), 1),
        (Module::contacts(), 2),
    ]
    .iter()
    .map(|(m, h)| new_batch(*m, BatchKind::Initial, *h, *h + 1))
    .collect();
    let plan = store
        .record_prepare(
            &lease,
            &prepared(&[Module::sales(), Module::contacts()]),
            &plan,
            ts(10),
        )
        .await?;
    let first = [record(1, 10, "a"), record(5, 10, "moved-old")];
    let second = [record(5, 30, "moved-new"), record(2, 20, "b")];
    let contacts = [record(7, 40, "c")];
    let writes = [
        BatchWrite {
            batch: &plan[0],
            records: &first,
            watermark: Some(ts(10)),
        },
        BatchWrite {
            batch: &plan[1],
            records: &second,
            watermark: Some(ts(30)),
        },
        BatchWrite {
            batch: &plan[2],
            records: &contacts,
            watermark: Some(ts(40)),
        },
    ];
    let summary = store.complete_batches(&lease, &writes, ts(50)).await?;
    assert_eq!(summary.written, 4, "record 5 is written once: {summary:?}");
    assert_eq!(summary.skipped_older, 0);
    assert_eq!(
        names(&store, &id, Module::sales()).await?,
        vec![(1, "a".into()), (2, "b".into()), (5, "moved-new".into())]
    );
    assert_eq!(
        names(&store, &id, Module::contacts()).await?,
        vec![(7, "c".into())]
    );
    for (batch, fetched) in plan.iter().zip([2, 2, 1]) {
        let done = batch_by_id(&store, &id, &batch.id).await?;
        assert_eq!(done.status, BatchStatus::Done, "{}", batch.id);
        assert_eq!(done.fetched_count, Some(fetched));
        assert_eq!(done.finished_at, Some(ts(50)));
    }
    let state = store.tenant(&id).await?.expect("tenant exists");
    assert_eq!(
        state.module(Module::sales()).and_then(|m| m.watermark),
        Some(ts(30))
    );
    assert_eq!(
        state.module(Module::contacts()).and_then(|m| m.watermark),
        Some(ts(40))
    );
    Ok(())
}

/// A group naming a batch the tenant does not have writes nothing at all, and says which.
pub async fn complete_batches_is_all_or_nothing(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales()]).await?;
    let mut ghost = plan[0].clone();
    ghost.id = BatchId::new_random();
    let records = [record(1, 10, "a")];
    let later = [record(2, 10, "b")];
    let writes = [
        BatchWrite {
            batch: &plan[0],
            records: &records,
            watermark: Some(ts(10)),
        },
        BatchWrite {
            batch: &ghost,
            records: &later,
            watermark: Some(ts(10)),
        },
    ];
    match store.complete_batches(&lease, &writes, ts(20)).await {
        Err(StoreError::UnknownBatch(which)) => {
            assert!(
                which.contains(ghost.id.as_str()),
                "names the batch: {which}"
            )
        }
        other => panic!("expected UnknownBatch, got {other:?}"),
    }
    assert_eq!(store.record_count(&id, Module::sales(), true).await?, 0);
    let batch = batch_by_id(&store, &id, &plan[0].id).await?;
    assert_eq!(
        batch.status,
        BatchStatus::Pending,
        "the group is not half done"
    );
    let state = store.tenant(&id).await?.expect("tenant exists");
    assert_eq!(
        state.module(Module::sales()).and_then(|m| m.watermark),
        None
    );
    Ok(())
}

/// The write that leaves no initial batch to run makes the tenant `done` in the same step;
/// later (incremental) writes do not touch the status.
pub async fn last_initial_write_finishes_the_sync(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales(), Module::contacts()]).await?;
    let status = |store: SharedStore, id: TenantId| async move {
        Ok::<_, StoreError>(store.tenant(&id).await?.expect("tenant exists").sync_status)
    };
    assert_eq!(
        status(store.clone(), id.clone()).await?,
        SyncStatus::InProgress
    );
    let first = run_batch(
        &store,
        &lease,
        &plan[0],
        &[record(1, 10, "a")],
        None,
        ts(20),
    )
    .await?;
    assert!(
        !first.finished_initial,
        "one initial batch is still pending"
    );
    assert_eq!(
        status(store.clone(), id.clone()).await?,
        SyncStatus::InProgress
    );
    let last = run_batch(
        &store,
        &lease,
        &plan[1],
        &[record(2, 10, "b")],
        None,
        ts(30),
    )
    .await?;
    assert!(last.finished_initial);
    assert_eq!(status(store.clone(), id.clone()).await?, SyncStatus::Done);
    let later = add_one(
        &store,
        &lease,
        Module::sales(),
        BatchKind::Incremental,
        ts(40),
    )
    .await?;
    let incremental = run_batch(&store, &lease, &later, &[], None, ts(50)).await?;
    assert!(!incremental.finished_initial);
    assert_eq!(status(store.clone(), id.clone()).await?, SyncStatus::Done);
    Ok(())
}

/// A permanently failed last initial batch also ends the initial sync; a retryable failure
/// does not.
pub async fn giving_up_the_last_initial_batch_finishes_the_sync(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales(), Module::contacts()]).await?;
    run_batch(&store, &lease, &plan[0], &[], None, ts(20)).await?;
    store.start_batch(&lease, &plan[1].id, ts(30)).await?;
    store
        .fail_batch(&lease, &plan[1].id, "timeout", Some(ts(100)), ts(30))
        .await?;
    let state = store.tenant(&id).await?.expect("tenant exists");
    assert_eq!(
        state.sync_status,
        SyncStatus::InProgress,
        "it will be retried"
    );
    store
        .fail_batch(&lease, &plan[1].id, "model gone", None, ts(40))
        .await?;
    let state = store.tenant(&id).await?.expect("tenant exists");
    assert_eq!(state.sync_status, SyncStatus::Done);
    Ok(())
}

pub async fn watermark_only_rises(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales(), Module::contacts()]).await?;
    let watermark = |store: SharedStore, id: TenantId, module: Module| async move {
        let state = store.tenant(&id).await?.expect("tenant exists");
        Ok::<_, StoreError>(state.module(module).and_then(|m| m.watermark))
    };
    run_batch(&store, &lease, &plan[0], &[], Some(ts(100)), ts(10)).await?;
    assert_eq!(
        watermark(store.clone(), id.clone(), Module::sales()).await?,
        Some(ts(100))
    );
    assert_eq!(
        watermark(store.clone(), id.clone(), Module::contacts()).await?,
        None,
        "only the batch's module moves"
    );
    for (secs, expected) in [(Some(50), 100), (None, 100), (Some(200), 200)] {
        let batch = add_one(
            &store,
            &lease,
            Module::sales(),
            BatchKind::Incremental,
            ts(20),
        )
        .await?;
        run_batch(&store, &lease, &batch, &[], secs.map(ts), ts(30)).await?;
        assert_eq!(
            watermark(store.clone(), id.clone(), Module::sales()).await?,
            Some(ts(expected)),
            "after a batch with watermark {secs:?}"
        );
    }
    Ok(())
}

pub async fn stale_lease_writes_nothing(store: SharedStore) -> CaseResult {
    let id = tenant_id("tenant-1");
    store.ensure_tenant(&id).await?;
    let a = store
        .acquire_lease(&id, "worker-a", SHORT)
        .await?
        .expect("free lease");
    let plan = prepare(&store, &a, &[Module::sales()]).await?;
    let started = store.start_batch(&a, &plan[0].id, ts(20)).await?;
    let _b = take_over(&store, &id).await?;

    let records = [record(1, 10, "a"), record(2, 10, "b")];
    assert_lease_lost(
        store
            .complete_batch(&a, &started, &records, Some(ts(10)), ts(30))
            .await,
        "complete_batch",
    );
    assert_lease_lost(
        store.start_batch(&a, &plan[0].id, ts(30)).await,
        "start_batch",
    );
    assert_lease_lost(
        store
            .fail_batch(&a, &plan[0].id, "boom", None, ts(30))
            .await,
        "fail_batch",
    );
    assert_lease_lost(
        store
            .add_batches(
                &a,
                &[new_batch(Module::sales(), BatchKind::Incremental, 5, 6)],
                ts(30),
            )
            .await,
        "add_batches",
    );
    assert_lease_lost(
        store.complete_reconcile(&a, &started, &[], ts(30)).await,
        "complete_reconcile",
    );

    assert_eq!(store.record_count(&id, Module::sales(), true).await?, 0);
    let batches = store.batches(&id).await?;
    assert_eq!(batches.len(), 1, "no batch added");
    assert_eq!(batches[0].status, BatchStatus::InProgress);
    assert_eq!(batches[0].attempts, 1);
    assert_eq!(batches[0].fetched_count, None);
    let state = store.tenant(&id).await?.expect("tenant exists");
    let sales = state.module(Module::sales()).expect("sales prepared");
    assert_eq!(sales.watermark, None);
    assert_eq!(sales.last_incremental_at, None);
    Ok(())
}

pub async fn racing_workers_only_current_lease_wins(store: SharedStore) -> CaseResult {
    let id = tenant_id("tenant-1");
    store.ensure_tenant(&id).await?;
    let a = store
        .acquire_lease(&id, "worker-a", SHORT)
        .await?
        .expect("free lease");
    let plan = prepare(&store, &a, &[Module::sales()]).await?;
    let a_batch = store.start_batch(&a, &plan[0].id, ts(20)).await?;

    // A stalls past its lease; B takes over and resumes the batch A left in progress.
    let b = take_over(&store, &id).await?;
    let b_batch = store
        .next_runnable_batch(&id, ts(30))
        .await?
        .expect("A's batch is resumable");
    assert_eq!(b_batch.id, a_batch.id);
    let b_batch = store.start_batch(&b, &b_batch.id, ts(30)).await?;
    assert_eq!(b_batch.attempts, 2);
    assert_eq!(b_batch.lease_token, Some(b.token));

    let a_records: Vec<MirrorRecord> = (1..=50).map(|i| record(i, 100, "from A")).collect();
    let b_records: Vec<MirrorRecord> = (1..=40).map(|i| record(i, 90, "from B")).collect();
    let (a_result, b_result) = tokio::join!(
        store.complete_batch(&a, &a_batch, &a_records, Some(ts(100)), ts(40)),
        store.complete_batch(&b, &b_batch, &b_records, Some(ts(90)), ts(40)),
    );
    assert_lease_lost(a_result, "A after losing its lease");
    assert_eq!(b_result?.written, 40);

    assert_eq!(store.record_count(&id, Module::sales(), true).await?, 40);
    let names = names(&store, &id, Module::sales()).await?;
    assert!(
        names.iter().all(|(_, n)| n == "from B"),
        "none of A's writes"
    );
    let done = batch_by_id(&store, &id, &plan[0].id).await?;
    assert_eq!(done.status, BatchStatus::Done);
    assert_eq!(done.fetched_count, Some(40));
    let state = store.tenant(&id).await?.expect("tenant exists");
    assert_eq!(
        state.module(Module::sales()).and_then(|m| m.watermark),
        Some(ts(90))
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// reconcile and failures

/// Stores sales records `ids` for `tenant` in one initial batch and returns the lease.
async fn seeded(
    store: &SharedStore,
    tenant: &str,
    module: Module,
    ids: std::ops::RangeInclusive<i64>,
) -> Result<(TenantId, Lease), StoreError> {
    let (id, lease) = leased(store, tenant).await?;
    let plan = prepare(store, &lease, &[module]).await?;
    let records: Vec<MirrorRecord> = ids.map(|i| record(i, 10, "r")).collect();
    run_batch(store, &lease, &plan[0], &records, None, ts(20)).await?;
    Ok((id, lease))
}

async fn reconcile(
    store: &SharedStore,
    lease: &Lease,
    module: Module,
    alive: &[i64],
    now: DateTime<Utc>,
) -> Result<shared::store::ReconcileSummary, StoreError> {
    let batch = add_one(store, lease, module, BatchKind::Reconcile, now).await?;
    let started = store.start_batch(lease, &batch.id, now).await?;
    let summary = store
        .complete_reconcile(lease, &started, alive, now)
        .await?;
    let done = batch_by_id(store, &lease.user_id, &batch.id).await?;
    assert_eq!(
        done.status,
        BatchStatus::Done,
        "reconcile marks its batch done"
    );
    Ok(summary)
}

async fn deleted_ids(
    store: &SharedStore,
    id: &TenantId,
    module: Module,
) -> Result<Vec<(i64, Option<DateTime<Utc>>)>, StoreError> {
    Ok(store
        .records(id, module, 0, 1000)
        .await?
        .into_iter()
        .filter(|r| r.deleted_at.is_some())
        .map(|r| (r.odoo_id, r.deleted_at))
        .collect())
}

pub async fn reconcile_marks_missing_and_restores_returning(store: SharedStore) -> CaseResult {
    let (id, lease) = seeded(&store, "tenant-1", Module::sales(), 1..=5).await?;
    let summary = reconcile(&store, &lease, Module::sales(), &[1, 2, 4, 99], ts(100)).await?;
    assert_eq!(summary.marked_deleted, 2);
    assert_eq!(summary.restored, 0);
    assert_eq!(
        deleted_ids(&store, &id, Module::sales()).await?,
        vec![(3, Some(ts(100))), (5, Some(ts(100)))]
    );
    assert_eq!(store.record_count(&id, Module::sales(), false).await?, 3);
    assert_eq!(store.record_count(&id, Module::sales(), true).await?, 5);

    let summary = reconcile(&store, &lease, Module::sales(), &[1, 2, 3, 4], ts(200)).await?;
    assert_eq!(summary.marked_deleted, 0);
    assert_eq!(summary.restored, 1);
    assert_eq!(
        deleted_ids(&store, &id, Module::sales()).await?,
        vec![(5, Some(ts(100)))],
        "a record already deleted keeps its first deletedAt"
    );
    Ok(())
}

pub async fn reconcile_is_idempotent_and_scoped(store: SharedStore) -> CaseResult {
    let (id, lease) = seeded(&store, "tenant-1", Module::sales(), 1..=5).await?;
    let (other, _) = seeded(&store, "tenant-2", Module::sales(), 1..=5).await?;
    let contacts_plan = add_one(
        &store,
        &lease,
        Module::contacts(),
        BatchKind::Initial,
        ts(30),
    )
    .await?;
    let contacts: Vec<MirrorRecord> = (1..=5).map(|i| record(i, 10, "c")).collect();
    run_batch(&store, &lease, &contacts_plan, &contacts, None, ts(30)).await?;

    let first = reconcile(&store, &lease, Module::sales(), &[1, 2], ts(100)).await?;
    assert_eq!(first.marked_deleted, 3);
    let second = reconcile(&store, &lease, Module::sales(), &[1, 2], ts(200)).await?;
    assert_eq!(second.marked_deleted, 0, "already deleted");
    assert_eq!(second.restored, 0);
    assert_eq!(
        deleted_ids(&store, &id, Module::sales()).await?,
        vec![(3, Some(ts(100))), (4, Some(ts(100))), (5, Some(ts(100)))]
    );
    assert_eq!(store.record_count(&id, Module::contacts(), false).await?, 5);
    assert_eq!(store.record_count(&other, Module::sales(), false).await?, 5);

    let empty = reconcile(&store, &lease, Module::contacts(), &[], ts(300)).await?;
    assert_eq!(empty.marked_deleted, 5, "an empty Odoo deletes everything");
    assert_eq!(store.record_count(&id, Module::contacts(), false).await?, 0);
    Ok(())
}

pub async fn fail_batch_retry_and_permanent(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales(), Module::contacts()]).await?;
    store.start_batch(&lease, &plan[0].id, ts(20)).await?;
    store
        .fail_batch(&lease, &plan[0].id, "count mismatch", Some(ts(500)), ts(30))
        .await?;
    let failed = batch_by_id(&store, &id, &plan[0].id).await?;
    assert_eq!(failed.status, BatchStatus::Failed);
    assert_eq!(failed.last_error.as_deref(), Some("count mismatch"));
    assert_eq!(failed.next_attempt_at, ts(500));
    assert_eq!(failed.attempts, 1);

    store.start_batch(&lease, &plan[1].id, ts(40)).await?;
    store
        .fail_batch(&lease, &plan[1].id, "model gone", None, ts(50))
        .await?;
    let gone = batch_by_id(&store, &id, &plan[1].id).await?;
    assert_eq!(gone.status, BatchStatus::PermanentlyFailed);
    assert_eq!(gone.last_error.as_deref(), Some("model gone"));

    let next = store
        .next_runnable_batch(&id, ts(10_000))
        .await?
        .expect("work");
    assert_eq!(next.id, plan[0].id, "permanently failed batches never run");
    match store
        .fail_batch(&lease, &BatchId::new_random(), "x", None, ts(60))
        .await
    {
        Err(StoreError::UnknownBatch(_)) => {}
        other => panic!("expected UnknownBatch, got {other:?}"),
    }
    Ok(())
}

/// A fetch group is stored as one batch that keeps its windows (read back as written) and
/// counts as its windows in `batch_counts`, done or failed together.
pub async fn a_fetch_group_keeps_its_windows_and_counts_them(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let window = |from_h: i64, to_h: i64, count: u64| shared::store::BatchWindow {
        start: ts(from_h * 3600),
        end: ts(to_h * 3600),
        count,
    };
    let windows = [window(0, 24, 5), window(30, 54, 7), window(60, 61, 1)];
    let group = NewBatch::group(Module::sales(), BatchKind::Initial, &windows)
        .ok_or_else(|| StoreError::Backend("no group".into()))?;
    assert_eq!(group.window_count(), 3);
    let single = new_batch(Module::contacts(), BatchKind::Initial, 0, 1);
    let plan = store
        .record_prepare(
            &lease,
            &prepared(&[Module::sales(), Module::contacts()]),
            &[group, single],
            ts(10),
        )
        .await?;
    let stored = batch_by_id(&store, &id, &plan[0].id).await?;
    assert_eq!(
        stored.windows,
        windows.to_vec(),
        "windows read back as written"
    );
    assert_eq!(
        (
            stored.window_start,
            stored.window_end,
            stored.expected_count
        ),
        (ts(0), ts(61 * 3600), Some(13))
    );
    assert!(batch_by_id(&store, &id, &plan[1].id)
        .await?
        .windows
        .is_empty());
    let counts = store.batch_counts(&id, BatchKind::Initial).await?;
    assert_eq!((counts.pending, counts.total()), (4, 4), "{counts:?}");
    run_batch(&store, &lease, &plan[0], &[], None, ts(20)).await?;
    let counts = store.batch_counts(&id, BatchKind::Initial).await?;
    assert_eq!((counts.done, counts.pending), (3, 1), "{counts:?}");
    store.start_batch(&lease, &plan[1].id, ts(30)).await?;
    store
        .fail_batch(&lease, &plan[1].id, "gone", None, ts(30))
        .await?;
    let counts = store.batch_counts(&id, BatchKind::Initial).await?;
    assert_eq!(
        (counts.done, counts.permanently_failed, counts.finished()),
        (3, 1, 4),
        "{counts:?}"
    );
    let overview = store.overview(ts(40)).await?;
    assert_eq!(overview.batches.done, 3, "the operator counts windows too");
    Ok(())
}

pub async fn batch_counts_by_kind(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(
        &store,
        &lease,
        &[Module::sales(), Module::contacts(), Module::employees()],
    )
    .await?;
    run_batch(&store, &lease, &plan[0], &[], None, ts(20)).await?;
    store.start_batch(&lease, &plan[1].id, ts(30)).await?;
    store
        .fail_batch(&lease, &plan[1].id, "gone", None, ts(30))
        .await?;
    add_one(
        &store,
        &lease,
        Module::sales(),
        BatchKind::Incremental,
        ts(40),
    )
    .await?;
    let reconcile = add_one(
        &store,
        &lease,
        Module::sales(),
        BatchKind::Reconcile,
        ts(40),
    )
    .await?;
    store.start_batch(&lease, &reconcile.id, ts(50)).await?;
    store
        .fail_batch(&lease, &reconcile.id, "timeout", Some(ts(90)), ts(50))
        .await?;
    let (other, other_lease) = leased(&store, "tenant-2").await?;
    prepare(&store, &other_lease, &[Module::sales()]).await?;

    let initial = store.batch_counts(&id, BatchKind::Initial).await?;
    assert_eq!(
        initial,
        BatchCounts {
            pending: 1,
            in_progress: 0,
            done: 1,
            failed: 0,
            permanently_failed: 1
        }
    );
    assert_eq!(initial.total(), 3);
    assert_eq!(initial.finished(), 2);
    let incremental = store.batch_counts(&id, BatchKind::Incremental).await?;
    assert_eq!(
        incremental,
        BatchCounts {
            pending: 1,
            ..BatchCounts::default()
        }
    );
    let reconcile_counts = store.batch_counts(&id, BatchKind::Reconcile).await?;
    assert_eq!(
        reconcile_counts,
        BatchCounts {
            failed: 1,
            ..BatchCounts::default()
        }
    );
    assert_eq!(
        store
            .batch_counts(&other, BatchKind::Initial)
            .await?
            .pending,
        1
    );
    assert_eq!(
        store
            .batch_counts(&tenant_id("nobody"), BatchKind::Initial)
            .await?,
        BatchCounts::default()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// records and tenants

pub async fn records_page_by_odoo_id_per_tenant(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales()]).await?;
    // Stored out of order: paging must sort by odooId.
    let records: Vec<MirrorRecord> = (1..=25)
        .map(|i| record((i * 7) % 25 + 1, 10, "r"))
        .collect();
    run_batch(&store, &lease, &plan[0], &records, None, ts(20)).await?;
    seeded(&store, "tenant-2", Module::sales(), 100..=110).await?;

    let mut seen = Vec::new();
    let mut after = 0;
    let mut pages = 0;
    loop {
        let page = store.records(&id, Module::sales(), after, 10).await?;
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        pages += 1;
        after = page.last().map(|r| r.odoo_id).unwrap_or(after);
        seen.extend(page.into_iter().map(|r| r.odoo_id));
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (1..=25).collect::<Vec<i64>>());
    assert!(store
        .records(&id, Module::contacts(), 0, 10)
        .await?
        .is_empty());
    let tail = store.records(&id, Module::sales(), 20, 100).await?;
    assert_eq!(
        tail.iter().map(|r| r.odoo_id).collect::<Vec<_>>(),
        vec![21, 22, 23, 24, 25]
    );
    Ok(())
}

pub async fn record_count_with_and_without_deleted(store: SharedStore) -> CaseResult {
    let (id, lease) = seeded(&store, "tenant-1", Module::contacts(), 1..=10).await?;
    assert_eq!(
        store.record_count(&id, Module::contacts(), false).await?,
        10
    );
    reconcile(
        &store,
        &lease,
        Module::contacts(),
        &[1, 2, 3, 4, 5, 6],
        ts(100),
    )
    .await?;
    assert_eq!(store.record_count(&id, Module::contacts(), false).await?, 6);
    assert_eq!(store.record_count(&id, Module::contacts(), true).await?, 10);
    assert_eq!(store.record_count(&id, Module::sales(), true).await?, 0);
    assert_eq!(
        store
            .record_count(&tenant_id("tenant-2"), Module::contacts(), true)
            .await?,
        0
    );
    Ok(())
}

pub async fn delete_tenant_removes_everything(store: SharedStore) -> CaseResult {
    let (id, lease) = seeded(&store, "tenant-1", Module::sales(), 1..=5).await?;
    let extra = add_one(
        &store,
        &lease,
        Module::contacts(),
        BatchKind::Initial,
        ts(30),
    )
    .await?;
    run_batch(&store, &lease, &extra, &[record(1, 10, "c")], None, ts(30)).await?;
    let pending = add_one(
        &store,
        &lease,
        Module::sales(),
        BatchKind::Incremental,
        ts(40),
    )
    .await?;
    let (other, _) = seeded(&store, "tenant-2", Module::sales(), 1..=3).await?;

    store.delete_tenant(&id).await?;
    assert!(store.tenant(&id).await?.is_none());
    assert!(store.batches(&id).await?.is_empty());
    for module in Module::all() {
        assert_eq!(
            store.record_count(&id, module, true).await?,
            0,
            "{module:?}"
        );
    }
    assert!(store.next_runnable_batch(&id, ts(50)).await?.is_none());
    assert_eq!(store.record_count(&other, Module::sales(), true).await?, 3);
    assert_eq!(store.batches(&other).await?.len(), 1);

    let late = [record(9, 10, "late")];
    assert_lease_lost(
        store
            .complete_batch(&lease, &pending, &late, None, ts(60))
            .await,
        "complete_batch after delete",
    );
    assert_lease_lost(
        store
            .set_sync_status(&lease, SyncStatus::Done, ts(60))
            .await,
        "set_sync_status after delete",
    );
    assert_lease_lost(store.renew_lease(&lease, LONG).await, "renew after delete");
    store.release_lease(&lease).await?;
    assert!(
        store.tenant(&id).await?.is_none(),
        "late writes recreate nothing"
    );
    assert_eq!(store.record_count(&id, Module::sales(), true).await?, 0);
    store.delete_tenant(&id).await?;
    Ok(())
}

/// A tenant deleted and saved again starts over, yet a worker still holding a lease from
/// before the deletion must not write into the new tenant, even under the same holder name.
pub async fn recreated_tenant_refuses_old_lease(store: SharedStore) -> CaseResult {
    let (id, old) = leased(&store, "tenant-1").await?;
    store.delete_tenant(&id).await?;
    let fresh = store.ensure_tenant(&id).await?;
    assert_eq!(fresh.sync_status, SyncStatus::NotStarted);
    assert!(fresh.modules.is_empty());
    let new = store
        .acquire_lease(&id, "worker-a", LONG)
        .await?
        .expect("the new tenant's lease is free");
    assert_ne!(
        new.token, old.token,
        "tokens are never reused for a user id"
    );
    assert_lease_lost(
        store
            .record_prepare(&old, &prepared(&[Module::sales()]), &[], ts(10))
            .await,
        "old lease on the recreated tenant",
    );
    assert_eq!(
        store.tenant(&id).await?.expect("exists").sync_status,
        SyncStatus::NotStarted
    );
    Ok(())
}

pub async fn add_batches_stamps_module_times(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales(), Module::contacts()]).await?;
    let added = store
        .add_batches(
            &lease,
            &[
                new_batch(Module::sales(), BatchKind::Incremental, 10, 11),
                new_batch(Module::contacts(), BatchKind::Reconcile, 10, 11),
            ],
            ts(300),
        )
        .await?;
    assert_eq!(added.len(), 2);
    assert_eq!(added[0].kind, BatchKind::Incremental);
    assert_eq!(added[1].kind, BatchKind::Reconcile);
    for b in &added {
        assert_eq!(b.status, BatchStatus::Pending);
        assert_eq!(b.attempts, 0);
        assert_eq!(b.user_id, id);
        assert!(b.seq > plan[1].seq, "seq keeps growing");
    }
    assert!(added[0].seq < added[1].seq);
    assert_eq!(added[0].window_start, ts(10 * 3600));
    assert_eq!(added[0].window_end, ts(11 * 3600));

    let state = store.tenant(&id).await?.expect("tenant exists");
    let sales = state.module(Module::sales()).expect("sales");
    assert_eq!(sales.last_incremental_at, Some(ts(300)));
    assert_eq!(sales.last_reconcile_at, None);
    let contacts = state.module(Module::contacts()).expect("contacts");
    assert_eq!(contacts.last_reconcile_at, Some(ts(300)));
    assert_eq!(contacts.last_incremental_at, None);
    assert_eq!(store.batches(&id).await?.len(), 4);
    assert!(store.add_batches(&lease, &[], ts(400)).await?.is_empty());
    Ok(())
}

/// Modules enabled after the first sync: added with their initial batches while a `done`
/// tenant stays `done`; a module already recorded is left as it was; a lost lease adds nothing.
pub async fn add_modules_keeps_the_status_and_is_fenced(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    store
        .record_prepare(&lease, &prepared(&[Module::sales()]), &[], ts(10))
        .await?;
    assert_eq!(
        store.tenant(&id).await?.expect("tenant").sync_status,
        SyncStatus::Done
    );
    let lines = PlannedModule {
        module: Module::sale_lines(),
        model: "sale.order.line".into(),
        extra_fields: vec!["x_studio_note".into()],
    };
    let again = PlannedModule {
        module: Module::sales(),
        model: "other.model".into(),
        extra_fields: Vec::new(),
    };
    let added = store
        .add_modules(
            &lease,
            &[lines.clone(), again],
            &[new_batch(Module::sale_lines(), BatchKind::Initial, 0, 1)],
            ts(20),
        )
        .await?;
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].module, Module::sale_lines());
    let state = store.tenant(&id).await?.expect("tenant");
    assert_eq!(state.sync_status, SyncStatus::Done, "the status stays");
    let names: Vec<Module> = state.modules.iter().map(|m| m.module).collect();
    assert_eq!(names, [Module::sales(), Module::sale_lines()]);
    assert_eq!(
        state.module(Module::sales()).expect("sales").model,
        "sale.order"
    );
    let added_state = state.module(Module::sale_lines()).expect("lines");
    assert_eq!(added_state.extra_fields, ["x_studio_note"]);
    assert_eq!(
        added_state.last_verify_at,
        Some(ts(20)),
        "its initial sync counts as its first verify"
    );

    let newer = store.acquire_lease(&id, "worker-b", SHORT).await?;
    assert!(newer.is_none(), "the first lease is still live");
    store.release_lease(&lease).await?;
    let _taken = store
        .acquire_lease(&id, "worker-b", SHORT)
        .await?
        .expect("free");
    let products = PlannedModule {
        module: Module::products(),
        model: "product.product".into(),
        extra_fields: Vec::new(),
    };
    let refused = store
        .add_modules(
            &lease,
            &[products],
            &[new_batch(Module::products(), BatchKind::Initial, 0, 1)],
            ts(30),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::LeaseLost { .. })),
        "{refused:?}"
    );
    let state = store.tenant(&id).await?.expect("tenant");
    assert!(state.module(Module::products()).is_none());
    assert_eq!(store.batches(&id).await?.len(), 1);
    Ok(())
}

/// The fields a module's patterns found are replaced as a whole, under the lease.
pub async fn module_fields_are_kept_and_fenced(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    prepare(&store, &lease, &[Module::sales(), Module::contacts()]).await?;
    let found = vec!["x_studio_region".to_string(), "x_studio_tier".to_string()];
    store
        .set_module_fields(&lease, Module::sales(), &found, ts(20))
        .await?;
    // A module the tenant does not sync is left alone.
    store
        .set_module_fields(&lease, Module::products(), &found, ts(20))
        .await?;
    let state = store.tenant(&id).await?.expect("tenant");
    assert_eq!(
        state.module(Module::sales()).expect("sales").extra_fields,
        found
    );
    assert!(state
        .module(Module::contacts())
        .expect("contacts")
        .extra_fields
        .is_empty());
    assert!(state.module(Module::products()).is_none());
    store.release_lease(&lease).await?;
    let _taken = store
        .acquire_lease(&id, "worker-b", SHORT)
        .await?
        .expect("free");
    let refused = store
        .set_module_fields(&lease, Module::sales(), &[], ts(30))
        .await;
    assert!(
        matches!(refused, Err(StoreError::LeaseLost { .. })),
        "{refused:?}"
    );
    assert_eq!(
        store
            .tenant(&id)
            .await?
            .expect("tenant")
            .module(Module::sales())
            .expect("sales")
            .extra_fields,
        found
    );
    Ok(())
}

/// The modules a tenant asks for change in its saved connection without starting over, and
/// every module becomes due for an incremental batch.
pub async fn connection_modules_change_without_a_fresh_sync(store: SharedStore) -> CaseResult {
    let id = tenant_id("tenant-1");
    let missing = store
        .set_connection_modules(&id, Some(&["sales".to_string()]), ts(5))
        .await;
    assert!(
        matches!(missing, Err(StoreError::UnknownTenant(_))),
        "{missing:?}"
    );
    store
        .save_connection(&id, &connection("https://a.example", "password", 1), ts(1))
        .await?;
    let lease = store
        .acquire_lease(&id, "worker-a", LONG)
        .await?
        .expect("free");
    prepare(&store, &lease, &[Module::sales()]).await?;
    store
        .add_batches(
            &lease,
            &[new_batch(Module::sales(), BatchKind::Incremental, 5, 6)],
            ts(20),
        )
        .await?;
    let fence = store.tenant(&id).await?.expect("tenant").fence;
    let wanted = vec!["sales".to_string(), "products".to_string()];
    store
        .set_connection_modules(&id, Some(&wanted), ts(30))
        .await?;
    let saved = store.connection(&id).await?.expect("connection");
    assert_eq!(saved.modules, Some(wanted));
    assert_eq!(
        saved.url, "https://a.example",
        "the rest of the connection stays"
    );
    let state = store.tenant(&id).await?.expect("tenant");
    assert_eq!(state.fence, fence, "no fresh sync: the lease still holds");
    assert_eq!(state.sync_status, SyncStatus::InProgress);
    assert_eq!(
        state
            .module(Module::sales())
            .expect("sales")
            .last_incremental_at,
        None,
        "due for an incremental batch"
    );
    assert_eq!(store.batches(&id).await?.len(), 2, "batches stay");
    store.set_connection_modules(&id, None, ts(40)).await?;
    assert_eq!(
        store.connection(&id).await?.expect("connection").modules,
        None
    );
    Ok(())
}

pub async fn raw_values_round_trip(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::contacts()]).await?;
    let raw = json!({
        "id": 7,
        "name": "$where",
        "ref": "$$ROOT",
        "comment": "{\"$gt\": 1}",
        "display_name": "Zoë 世界 🚀 — \"quoted\" \\ back",
        "parent_id": [12, "Azure Interior"],
        "category_id": [1, 2, 3],
        "empty_m2o": false,
        "lines": [[0, 0, {"name": "$set", "nested": {"deep": [1, {"x": null}]}}]],
        "amount": 12.5,
        "zero": 0.0,
        "negative": -3,
        "big": 9_007_199_254_740_993_i64,
        "analytic": {"12": 100.0, "13": 0.5},
        "flag": true,
        "nothing": null,
        "empty_list": [],
        "empty_object": {}
    });
    let Value::Object(map) = raw.clone() else {
        unreachable!("a JSON object literal")
    };
    let mut rec = record(7, 10, "$where");
    rec.fields.push((
        "state".into(),
        shared::store::FieldValue::Text("$$ROOT".into()),
    ));
    rec.raw = map;
    run_batch(&store, &lease, &plan[0], &[rec.clone()], None, ts(20)).await?;
    // Twice: the second write goes through the replace path, not the insert path.
    let again = add_one(
        &store,
        &lease,
        Module::contacts(),
        BatchKind::Incremental,
        ts(30),
    )
    .await?;
    run_batch(&store, &lease, &again, &[rec], None, ts(30)).await?;

    let stored = store.records(&id, Module::contacts(), 0, 10).await?;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].document["raw"], raw);
    assert_eq!(stored[0].document["name"], json!("$where"));
    assert_eq!(stored[0].document["state"], json!("$$ROOT"));
    Ok(())
}

pub async fn document_has_camel_case_fields_and_rfc3339_dates(store: SharedStore) -> CaseResult {
    use shared::store::FieldValue as F;
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales()]).await?;
    let mut rec = record(42, 3600, "SO042");
    rec.active = false;
    rec.create_date = Some(ts(60));
    rec.fields = vec![
        ("amountTotal".into(), F::Float(1234.5)),
        ("partnerId".into(), F::Int(12)),
        ("partnerName".into(), F::Text("Azure Interior".into())),
        ("state".into(), F::Text("sale".into())),
        ("dateOrder".into(), F::DateTime(ts(37_230))),
        (
            "validityDate".into(),
            F::Date(NaiveDate::from_ymd_opt(2024, 3, 5).expect("valid date")),
        ),
        ("locked".into(), F::Bool(true)),
        ("userId2".into(), F::Null),
    ];
    run_batch(&store, &lease, &plan[0], &[rec], None, ts(7200)).await?;

    let stored = store.records(&id, Module::sales(), 0, 10).await?;
    let record = &stored[0];
    assert_eq!(record.odoo_id, 42);
    assert_eq!(record.write_date, ts(3600));
    assert!(!record.active);
    assert_eq!(record.synced_at, ts(7200));
    assert_eq!(record.deleted_at, None);
    let doc = record.document.as_object().expect("document is an object");
    assert!(!doc.contains_key("_id"), "no storage ids leak out");
    assert_eq!(doc["userId"], json!("tenant-1"));
    assert_eq!(doc["odooId"], json!(42));
    assert_eq!(doc["amountTotal"], json!(1234.5));
    assert_eq!(doc["partnerId"], json!(12));
    assert_eq!(doc["partnerName"], json!("Azure Interior"));
    assert_eq!(doc["state"], json!("sale"));
    assert_eq!(doc["dateOrder"], json!("2024-03-01T10:20:30Z"));
    let validity = doc["validityDate"].as_str().expect("a date is text");
    assert!(
        validity.starts_with("2024-03-05"),
        "validityDate as a date: {validity}"
    );
    assert_eq!(doc["locked"], json!(true));
    assert_eq!(doc["userId2"], Value::Null);
    assert_eq!(doc["active"], json!(false));
    assert_eq!(doc["writeDate"], json!("2024-03-01T01:00:00Z"));
    assert_eq!(doc["createDate"], json!("2024-03-01T00:01:00Z"));
    assert_eq!(doc["syncedAt"], json!("2024-03-01T02:00:00Z"));
    assert_eq!(doc["deletedAt"], Value::Null);
    assert_eq!(doc["raw"]["name"], json!("SO042"));
    Ok(())
}

pub async fn large_batch_in_one_write(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::invoices()]).await?;
    let records: Vec<MirrorRecord> = (1..=2000)
        .map(|i| {
            let mut r = record(i, 10 + i % 60, "INV");
            for k in 0..10 {
                r.raw
                    .insert(format!("field_{k}"), json!(format!("value {k} of {i}")));
            }
            r
        })
        .collect();
    let summary = run_batch(&store, &lease, &plan[0], &records, Some(ts(69)), ts(100)).await?;
    assert_eq!(summary.written, 2000);
    assert_eq!(
        store.record_count(&id, Module::invoices(), true).await?,
        2000
    );
    let all = store.records(&id, Module::invoices(), 0, 5000).await?;
    assert_eq!(all.len(), 2000);
    assert_eq!(all.last().map(|r| r.odoo_id), Some(2000));
    let done = batch_by_id(&store, &id, &plan[0].id).await?;
    assert_eq!(done.fetched_count, Some(2000));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// saved connections

/// A stored connection as the API makes it (the secret is opaque to the store).
fn connection(url: &str, kind: &str, saved_secs: i64) -> StoredConnection {
    StoredConnection {
        url: url.into(),
        db: "acme".into(),
        username: "admin@acme.com".into(),
        secret_kind: kind.into(),
        secret: EncryptedSecret {
            key_id: "0a1b2c3d".into(),
            nonce: "bm9uY2Utbm9uY2U=".into(),
            ciphertext: format!("Y2lwaGVy{saved_secs}"),
        },
        saved_at: ts(saved_secs),
        // What the tenant asked for travels with the connection (absent for passwords here,
        // so both shapes round-trip).
        modules: (kind == "api_key").then(|| vec!["sales".into(), "sale_lines".into()]),
        protocol: (kind == "api_key").then(|| "json2".into()),
    }
}

pub async fn connection_is_saved_and_read_back(store: SharedStore) -> CaseResult {
    let id = tenant_id("tenant-1");
    assert!(store.connection(&id).await?.is_none(), "no tenant yet");
    let first = connection("https://acme.odoo.com", "password", 10);
    store.save_connection(&id, &first, ts(10)).await?;
    let state = store.tenant(&id).await?.expect("saving creates the tenant");
    assert_eq!(state.sync_status, SyncStatus::NotStarted);
    assert_eq!(store.connection(&id).await?, Some(first));

    let other = tenant_id("tenant-2");
    store.ensure_tenant(&other).await?;
    assert!(
        store.connection(&other).await?.is_none(),
        "a tenant without a saved connection has none, and never another tenant's"
    );

    let second = connection("https://erp.acme.com/odoo", "api_key", 20);
    store.save_connection(&id, &second, ts(20)).await?;
    assert_eq!(
        store.connection(&id).await?,
        Some(second),
        "saving replaces"
    );
    Ok(())
}

/// Saving again starts over: the plan, the blocking error and what prepare found are gone,
/// the old lease is void, and the mirrored records stay until the new sync overwrites them.
pub async fn save_connection_starts_a_fresh_sync(store: SharedStore) -> CaseResult {
    let (id, lease) = seeded(&store, "tenant-1", Module::sales(), 1..=3).await?;
    add_one(
        &store,
        &lease,
        Module::sales(),
        BatchKind::Incremental,
        ts(30),
    )
    .await?;
    let blocked = TenantError {
        code: "authentication_failed".into(),
        message: "Odoo refused the credentials".into(),
        at: ts(40),
    };
    store.set_blocked(&lease, Some(&blocked), ts(40)).await?;
    let before = store.tenant(&id).await?.expect("exists");
    assert!(!before.modules.is_empty());

    store
        .save_connection(
            &id,
            &connection("https://acme.odoo.com", "password", 50),
            ts(50),
        )
        .await?;
    let after = store.tenant(&id).await?.expect("exists");
    assert_eq!(after.sync_status, SyncStatus::NotStarted);
    assert!(after.blocked.is_none(), "the blocking error is cleared");
    assert!(
        after.modules.is_empty(),
        "the old plan's modules are forgotten"
    );
    assert!(after.odoo_version.is_none() && after.protocol.is_none());
    assert!(after.lease.is_none(), "the old lease is dropped");
    assert!(after.fence > before.fence, "the fence moves on");
    assert!(store.batches(&id).await?.is_empty(), "batches are dropped");
    assert_eq!(
        store.batch_counts(&id, BatchKind::Initial).await?,
        BatchCounts::default()
    );
    assert_eq!(
        store.record_count(&id, Module::sales(), true).await?,
        3,
        "mirrored records stay"
    );

    assert_lease_lost(
        store
            .set_sync_status(&lease, SyncStatus::Done, ts(60))
            .await,
        "the old holder after save_connection",
    );
    assert_lease_lost(
        store.renew_lease(&lease, LONG).await,
        "renewing the old lease",
    );
    let new = store
        .acquire_lease(&id, "worker-a", LONG)
        .await?
        .expect("the lease is free after saving");
    assert!(new.token > lease.token, "tokens only grow");
    assert_lease_lost(
        store
            .record_prepare(&lease, &prepared(&[Module::sales()]), &[], ts(70))
            .await,
        "the old lease under the same holder name",
    );
    Ok(())
}

pub async fn delete_tenant_forgets_the_connection(store: SharedStore) -> CaseResult {
    let id = tenant_id("tenant-1");
    store
        .save_connection(
            &id,
            &connection("https://acme.odoo.com", "password", 10),
            ts(10),
        )
        .await?;
    store.delete_tenant(&id).await?;
    assert!(store.connection(&id).await?.is_none());
    let fresh = store.ensure_tenant(&id).await?;
    assert_eq!(fresh.sync_status, SyncStatus::NotStarted);
    assert!(
        store.connection(&id).await?.is_none(),
        "a tenant created again has no connection"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// operators

pub async fn list_tenants_pages_in_user_id_order(store: SharedStore) -> CaseResult {
    assert!(store.list_tenants(None, 10).await?.is_empty());
    for name in ["carol", "alice", "bob", "dave"] {
        store.ensure_tenant(&tenant_id(name)).await?;
    }
    let ids = |page: Vec<shared::store::TenantState>| -> Vec<String> {
        page.into_iter().map(|t| t.user_id.to_string()).collect()
    };
    assert_eq!(
        ids(store.list_tenants(None, 3).await?),
        ["alice", "bob", "carol"]
    );
    let after = tenant_id("carol");
    assert_eq!(ids(store.list_tenants(Some(&after), 3).await?), ["dave"]);
    let last = tenant_id("dave");
    assert!(store.list_tenants(Some(&last), 3).await?.is_empty());
    Ok(())
}

/// A search of the operators' tenant list.
fn search(
    prefix: Option<&str>,
    filter: Option<TenantFilter>,
    after: Option<&str>,
    limit: u32,
) -> TenantSearch {
    TenantSearch {
        prefix: prefix.map(str::to_string),
        filter,
        after: after.map(tenant_id),
        limit,
    }
}

/// The user ids of a page, whether more follow, and how many match in all.
async fn found(
    store: &SharedStore,
    search: &TenantSearch,
) -> Result<(Vec<String>, bool, u64), StoreError> {
    let page = store.find_tenants(search).await?;
    Ok((
        page.tenants.iter().map(|t| t.user_id.to_string()).collect(),
        page.more,
        page.total,
    ))
}

pub async fn find_tenants_searches_by_prefix_and_pages_with_a_total(
    store: SharedStore,
) -> CaseResult {
    assert_eq!(
        found(&store, &search(None, None, None, 10)).await?,
        (vec![], false, 0)
    );
    let names = [
        "bob", "acme-03", "alice", "acme", "acme-01", "acme-05", "acme-02", "ac", "acme-04",
        "acmf", "Acme-06", "alfred",
    ];
    for name in names {
        store.ensure_tenant(&tenant_id(name)).await?;
    }
    let (all, more, total) = found(&store, &search(None, None, None, 200)).await?;
    assert_eq!((all.len(), more, total), (12, false, 12));
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "in userId order (bytes: capitals first)");

    // A prefix: the ids that start with it, exactly (no `acmf`, no capital `Acme-06`).
    let (page, more, total) = found(&store, &search(Some("acme"), None, None, 4)).await?;
    assert_eq!(page, ["acme", "acme-01", "acme-02", "acme-03"]);
    assert!(more);
    assert_eq!(total, 6, "the total counts every page");
    let (page, more, total) =
        found(&store, &search(Some("acme"), None, Some("acme-03"), 4)).await?;
    assert_eq!(page, ["acme-04", "acme-05"]);
    assert!(!more, "the last page says so");
    assert_eq!(total, 6, "the total does not depend on the cursor");
    assert_eq!(
        found(&store, &search(Some("acme"), None, Some("acme-05"), 4)).await?,
        (vec![], false, 6)
    );
    // A page that ends on the last match says there is no more.
    let (page, more, _) = found(&store, &search(Some("acme-0"), None, None, 5)).await?;
    assert_eq!(page.len(), 5);
    assert!(!more);
    let (page, _, total) = found(&store, &search(Some("ac"), None, None, 10)).await?;
    assert_eq!(total, 8, "{page:?}");
    assert_eq!(
        found(&store, &search(Some("al"), None, None, 10)).await?,
        (vec!["alfred".to_string(), "alice".to_string()], false, 2)
    );
    assert_eq!(
        found(&store, &search(Some("ALICE"), None, None, 10)).await?,
        (vec![], false, 0),
        "case-sensitive, as ids are"
    );
    assert_eq!(
        found(&store, &search(Some("bob"), None, None, 10)).await?,
        (vec!["bob".to_string()], false, 1),
        "an id is a prefix of itself"
    );
    // The page size is clamped: never an empty page for 0, never more than the maximum.
    let (page, more, _) = found(&store, &search(None, None, None, 0)).await?;
    assert_eq!((page.len(), more), (1, true));
    assert_eq!(
        search(None, None, None, 100_000).page_size(),
        MAX_TENANT_PAGE
    );
    Ok(())
}

pub async fn find_tenants_filters_what_operators_act_on(store: SharedStore) -> CaseResult {
    // not_started, and never prepared.
    store.ensure_tenant(&tenant_id("t-new")).await?;
    // in_progress with two batches to run.
    let (_, lease) = leased(&store, "t-run").await?;
    prepare(&store, &lease, &[Module::sales(), Module::contacts()]).await?;
    // done: nothing to sync.
    let (_, lease) = leased(&store, "t-done").await?;
    store
        .record_prepare(&lease, &prepared(&[Module::sales()]), &[], ts(10))
        .await?;
    // paused before its first sync.
    let paused = tenant_id("t-paused");
    store.ensure_tenant(&paused).await?;
    let pause = TenantError {
        code: "paused".into(),
        message: "paused by an operator".into(),
        at: ts(5),
    };
    store
        .set_operator_block(&paused, Some(&pause), ts(5))
        .await?;
    // One batch given up on, one still to run.
    let (failed, lease) = leased(&store, "t-failed").await?;
    let plan = prepare(&store, &lease, &[Module::sales(), Module::contacts()]).await?;
    store.start_batch(&lease, &plan[0].id, ts(20)).await?;
    store
        .fail_batch(&lease, &plan[0].id, "boom", None, ts(30))
        .await?;
    // A failed batch that will be tried again is not a failure an operator acts on.
    let (_, lease) = leased(&store, "t-retrying").await?;
    let plan = prepare(&store, &lease, &[Module::sales()]).await?;
    store.start_batch(&lease, &plan[0].id, ts(20)).await?;
    store
        .fail_batch(&lease, &plan[0].id, "timeout", Some(ts(500)), ts(30))
        .await?;
    // Given up on, in another prefix.
    let (_, lease) = leased(&store, "u-failed").await?;
    let plan = prepare(&store, &lease, &[Module::sales()]).await?;
    store.start_batch(&lease, &plan[0].id, ts(20)).await?;
    store
        .fail_batch(&lease, &plan[0].id, "boom", None, ts(30))
        .await?;

    let ids = |names: &[&str]| -> Vec<String> { names.iter().map(|n| n.to_string()).collect() };
    let of = |filter: TenantFilter| search(None, Some(filter), None, 50);
    assert_eq!(
        found(&store, &of(TenantFilter::NotStarted)).await?,
        (ids(&["t-new", "t-paused"]), false, 2)
    );
    assert_eq!(
        found(&store, &of(TenantFilter::InProgress)).await?,
        (ids(&["t-failed", "t-retrying", "t-run"]), false, 3),
        "a tenant whose last initial batch is given up on is done; t-failed still has one"
    );
    assert_eq!(
        found(&store, &of(TenantFilter::Done)).await?,
        (ids(&["t-done", "u-failed"]), false, 2)
    );
    assert_eq!(
        found(&store, &of(TenantFilter::Blocked)).await?,
        (ids(&["t-paused"]), false, 1)
    );
    assert_eq!(
        found(&store, &of(TenantFilter::Failed)).await?,
        (ids(&["t-failed", "u-failed"]), false, 2)
    );
    // Prefix and filter together, and paging inside a filter.
    assert_eq!(
        found(
            &store,
            &search(Some("t-"), Some(TenantFilter::Failed), None, 50)
        )
        .await?,
        (ids(&["t-failed"]), false, 1)
    );
    assert_eq!(
        found(
            &store,
            &search(Some("u"), Some(TenantFilter::InProgress), None, 50)
        )
        .await?,
        (vec![], false, 0)
    );
    assert_eq!(
        found(
            &store,
            &search(None, Some(TenantFilter::InProgress), None, 2)
        )
        .await?,
        (ids(&["t-failed", "t-retrying"]), true, 3)
    );
    assert_eq!(
        found(
            &store,
            &search(None, Some(TenantFilter::InProgress), Some("t-retrying"), 2)
        )
        .await?,
        (ids(&["t-run"]), false, 3)
    );
    // A retry takes the tenant out of the failed list; unpausing out of the blocked one.
    store.retry_failed_batches(&failed, ts(40)).await?;
    assert_eq!(
        found(&store, &of(TenantFilter::Failed)).await?,
        (ids(&["u-failed"]), false, 1)
    );
    store.set_operator_block(&paused, None, ts(50)).await?;
    assert_eq!(
        found(&store, &of(TenantFilter::Blocked)).await?,
        (vec![], false, 0)
    );
    // Filters by name, as query strings carry them.
    for filter in TenantFilter::ALL {
        assert_eq!(filter.as_str().parse::<TenantFilter>(), Ok(filter));
    }
    assert!("paused".parse::<TenantFilter>().is_err());
    Ok(())
}

pub async fn retry_failed_batches_gives_new_attempts(store: SharedStore) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let plan = prepare(&store, &lease, &[Module::sales(), Module::contacts()]).await?;
    for batch in &plan {
        store.start_batch(&lease, &batch.id, ts(20)).await?;
    }
    store
        .fail_batch(&lease, &plan[0].id, "server fault", None, ts(30))
        .await?;
    store
        .fail_batch(&lease, &plan[1].id, "timeout", Some(ts(500)), ts(30))
        .await?;
    let (other, other_lease) = leased(&store, "tenant-2").await?;
    let other_plan = prepare(&store, &other_lease, &[Module::sales()]).await?;
    store
        .fail_batch(&other_lease, &other_plan[0].id, "boom", None, ts(30))
        .await?;

    assert_eq!(store.retry_failed_batches(&id, ts(40)).await?, 1);
    let retried = batch_by_id(&store, &id, &plan[0].id).await?;
    assert_eq!(retried.status, BatchStatus::Failed);
    assert_eq!(retried.attempts, 0);
    assert_eq!(retried.next_attempt_at, ts(40));
    assert_eq!(retried.finished_at, None);
    assert_eq!(retried.last_error.as_deref(), Some("server fault"));
    assert!(retried.is_runnable(ts(40)));
    let untouched = batch_by_id(&store, &id, &plan[1].id).await?;
    assert_eq!(
        untouched.next_attempt_at,
        ts(500),
        "a failed batch keeps its time"
    );
    assert_eq!(
        batch_by_id(&store, &other, &other_plan[0].id).await?.status,
        BatchStatus::PermanentlyFailed,
        "another tenant's batches are left alone"
    );
    assert_eq!(store.retry_failed_batches(&id, ts(50)).await?, 0);
    Ok(())
}

pub async fn operator_block_voids_the_lease_and_unblock_clears_it(
    store: SharedStore,
) -> CaseResult {
    let (id, lease) = leased(&store, "tenant-1").await?;
    let before = store.tenant(&id).await?.expect("exists");
    let paused = TenantError {
        code: shared::store::PAUSED_CODE.into(),
        message: "paused by an operator".into(),
        at: ts(10),
    };
    store.set_operator_block(&id, Some(&paused), ts(10)).await?;
    let state = store.tenant(&id).await?.expect("exists");
    assert_eq!(state.blocked.as_ref(), Some(&paused));
    assert!(state.lease.is_none());
    assert!(state.fence > before.fence);
    assert_lease_lost(
        store.set_blocked(&lease, None, ts(20)).await,
        "the old holder cannot unblock",
    );

    store.set_operator_block(&id, None, ts(30)).await?;
    assert!(store.tenant(&id).await?.expect("exists").blocked.is_none());
    let new = store
        .acquire_lease(&id, "worker-a", LONG)
        .await?
        .expect("free after the unblock");
    assert!(new.token > lease.token);

    match store
        .set_operator_block(&tenant_id("nobody"), Some(&paused), ts(40))
        .await
    {
        Err(StoreError::UnknownTenant(_)) => {}
        other => panic!("expected UnknownTenant, got {other:?}"),
    }
    assert!(store.tenant(&tenant_id("nobody")).await?.is_none());
    Ok(())
}

pub async fn overview_counts_across_tenants(store: SharedStore) -> CaseResult {
    let empty = store.overview(Utc::now()).await?;
    assert!(empty.tenants.is_empty());
    assert_eq!(empty.batches, BatchCounts::default());
    assert_eq!(empty.live_leases, 0);

    let (_, lease) = seeded(&store, "tenant-1", Module::sales(), 1..=4).await?;
    add_one(
        &store,
        &lease,
        Module::sales(),
        BatchKind::Incremental,
        ts(30),
    )
    .await?;
    let (other, _) = leased(&store, "tenant-2").await?;
    store
        .set_operator_block(
            &other,
            Some(&TenantError {
                code: "paused".into(),
                message: "paused".into(),
                at: ts(5),
            }),
            ts(5),
        )
        .await?;
    store.ensure_tenant(&tenant_id("tenant-3")).await?;

    let overview = store.overview(Utc::now()).await?;
    assert_eq!(
        overview.tenants.get(&SyncStatus::Done),
        Some(&1),
        "tenant-1's only initial batch is done"
    );
    assert_eq!(overview.tenants.get(&SyncStatus::NotStarted), Some(&2));
    assert_eq!(overview.blocked_tenants, 1);
    assert_eq!(
        overview.live_leases, 1,
        "tenant-1's lease; tenant-2's was voided"
    );
    assert_eq!(overview.batches.done, 1);
    assert_eq!(overview.batches.pending, 1);
    assert_eq!(overview.records.get(&Module::sales()), Some(&4));
    assert_eq!(overview.records.get(&Module::contacts()), Some(&0));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// scheduling (issue 4)

/// The scheduler's question at the real current time (leases use the store's clock).
fn due_query(limit: usize) -> shared::store::DueQuery {
    let now = Utc::now();
    shared::store::DueQuery {
        now,
        enqueued_before: now - chrono::TimeDelta::seconds(60),
        incremental_before: now - chrono::TimeDelta::seconds(300),
        reconcile_before: now - chrono::TimeDelta::days(1),
        verify_before: now - chrono::TimeDelta::days(7),
        limit,
    }
}

async fn due_set(
    store: &SharedStore,
    limit: usize,
) -> Result<Vec<(String, shared::store::DueWork)>, StoreError> {
    let mut due: Vec<(String, shared::store::DueWork)> = store
        .due_tenants(&due_query(limit))
        .await?
        .into_iter()
        .map(|d| (d.user_id.to_string(), d.work))
        .collect();
    due.sort();
    Ok(due)
}

pub async fn due_tenants_lists_each_kind_of_work_once(store: SharedStore) -> CaseResult {
    use shared::store::DueWork;
    // Saved a connection: prepare.
    store
        .save_connection(
            &tenant_id("t-prep"),
            &connection("https://a.example.com", "password", 1),
            ts(1),
        )
        .await?;
    // Exists without a connection: nothing.
    store.ensure_tenant(&tenant_id("t-bare")).await?;
    // Planned, lease released: process.
    let (run, lease) = leased(&store, "t-run").await?;
    prepare(&store, &lease, &[Module::sales()]).await?;
    store.release_lease(&lease).await?;
    // Planned, lease still held: nothing (its worker goes on by itself).
    let (_, held) = leased(&store, "t-held").await?;
    prepare(&store, &held, &[Module::sales()]).await?;
    // Done, nothing runnable, never had an incremental pass: follow-up.
    let (done, lease) = leased(&store, "t-done").await?;
    let batches = prepare(&store, &lease, &[Module::contacts()]).await?;
    run_batch(&store, &lease, &batches[0], &[], None, ts(20)).await?;
    store
        .set_sync_status(&lease, SyncStatus::Done, ts(21))
        .await?;
    store.release_lease(&lease).await?;
    // Blocked: nothing.
    let blocked = tenant_id("t-blocked");
    store
        .save_connection(
            &blocked,
            &connection("https://b.example.com", "password", 2),
            ts(2),
        )
        .await?;
    let lease = store
        .acquire_lease(&blocked, "worker-a", LONG)
        .await?
        .expect("free");
    let error = TenantError {
        code: "access_denied".into(),
        message: "no".into(),
        at: ts(3),
    };
    store.set_blocked(&lease, Some(&error), ts(3)).await?;
    store.release_lease(&lease).await?;

    assert_eq!(
        due_set(&store, 10).await?,
        vec![
            (done.to_string(), DueWork::FollowUp),
            ("t-prep".to_string(), DueWork::Prepare),
            (run.to_string(), DueWork::Process),
        ]
    );
    Ok(())
}

pub async fn due_tenants_respects_the_limit(store: SharedStore) -> CaseResult {
    for i in 0..5 {
        store
            .save_connection(
                &tenant_id(&format!("t-{i}")),
                &connection("https://a.example.com", "password", 1),
                ts(1),
            )
            .await?;
    }
    assert_eq!(due_set(&store, 2).await?.len(), 2);
    assert_eq!(due_set(&store, 0).await?.len(), 0);
    assert_eq!(due_set(&store, 100).await?.len(), 5);
    Ok(())
}

pub async fn claim_enqueue_is_exclusive_until_cleared_or_stale(store: SharedStore) -> CaseResult {
    let (a, b) = (tenant_id("t-a"), tenant_id("t-b"));
    for id in [&a, &b] {
        store
            .save_connection(
                id,
                &connection("https://a.example.com", "password", 1),
                ts(1),
            )
            .await?;
    }
    let unknown = tenant_id("t-unknown");
    let now = Utc::now();
    let stale = now - chrono::TimeDelta::seconds(60);
    let mut won = store
        .claim_enqueue(&[a.clone(), b.clone(), unknown], now, stale)
        .await?;
    won.sort();
    assert_eq!(
        won,
        vec![a.clone(), b.clone()],
        "unknown tenants are skipped"
    );
    assert!(
        store
            .claim_enqueue(&[a.clone(), b.clone()], now, stale)
            .await?
            .is_empty(),
        "a second claim loses while the first is recent"
    );
    assert!(
        due_set(&store, 10).await?.is_empty(),
        "queued tenants are not due"
    );

    store.clear_enqueue(&a).await?;
    assert_eq!(
        due_set(&store, 10).await?.len(),
        1,
        "a cleared tenant is due again"
    );
    assert_eq!(
        store
            .claim_enqueue(std::slice::from_ref(&a), now, stale)
            .await?,
        vec![a.clone()]
    );

    // A claim older than the stale time counts as lost.
    let later = now + chrono::TimeDelta::seconds(120);
    assert_eq!(
        store
            .claim_enqueue(
                std::slice::from_ref(&b),
                later,
                later - chrono::TimeDelta::seconds(60)
            )
            .await?,
        vec![b.clone()]
    );
    store.clear_enqueue(&tenant_id("t-never")).await?;
    Ok(())
}
