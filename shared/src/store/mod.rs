//! Durable state: tenants, leases, batches and mirrored records, behind one [`Store`] trait
//! with two implementations of the same behaviour — MongoDB (scale-out) and SQLite (the
//! embedded default). One conformance suite (`shared/tests/store/suite.rs`) runs against both.
//!
//! Every write a worker makes for a tenant is *fenced*: it carries the [`Lease`] the worker
//! took, and the store applies it only if the tenant's lease token is still that lease's token,
//! atomically with the write. A worker that lost its lease (paused, partitioned, too slow)
//! gets [`StoreError::LeaseLost`] and writes nothing.

mod error;
pub mod mongo;
mod operator;
mod scheduling;
pub mod sqlite;
mod types;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use error::StoreError;
pub use operator::{
    StoreOverview, TenantFilter, TenantMatches, TenantSearch, UnknownTenantFilter, MAX_TENANT_PAGE,
    PAUSED_CODE,
};
pub use scheduling::{DueQuery, DueTenant, DueWork};
pub use types::*;

use crate::modules::Module;

/// A shareable store.
pub type SharedStore = Arc<dyn Store>;

/// Everything the engine, the scheduler and the API persist.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- tenants ----

    /// The tenant's state, creating it (`not_started`) when it does not exist yet.
    async fn ensure_tenant(&self, user_id: &TenantId) -> Result<TenantState, StoreError>;

    /// The tenant's state, if the tenant exists.
    async fn tenant(&self, user_id: &TenantId) -> Result<Option<TenantState>, StoreError>;

    /// Forgets the tenant: its state, batches and every mirrored record. Not fenced: it is an
    /// operator or API action that wins over any worker (whose later writes then fail with
    /// `LeaseLost`, since the tenant is gone).
    async fn delete_tenant(&self, user_id: &TenantId) -> Result<(), StoreError>;

    // ---- the tenant's saved Odoo connection ----

    /// Saves (or replaces) the tenant's Odoo connection, creating the tenant if needed, and
    /// starts a fresh sync: the tenant's batches are dropped, `sync_status` becomes
    /// `not_started`, any blocking error is cleared, and the fencing counter is bumped so
    /// that a worker still holding the old lease writes nothing more (the lease is dropped).
    /// What the last prepare found (version, protocol, modules and their watermarks) is
    /// forgotten too: the new connection may reach another server. Mirrored records stay
    /// until the new sync overwrites them. Not fenced (an API action).
    async fn save_connection(
        &self,
        user_id: &TenantId,
        connection: &StoredConnection,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The tenant's saved connection, if any (the secret stays encrypted).
    async fn connection(&self, user_id: &TenantId) -> Result<Option<StoredConnection>, StoreError>;

    // ---- leases ----

    /// Takes the tenant's lease if it is free or expired, in one atomic step that also
    /// increments the tenant's fencing counter; `None` when another holder has a live lease.
    /// The tenant must exist.
    async fn acquire_lease(
        &self,
        user_id: &TenantId,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError>;

    /// Extends a lease still held (same token); `LeaseLost` otherwise.
    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError>;

    /// Gives the lease up if still held; a lost lease is not an error here.
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError>;

    // ---- fenced tenant updates ----

    /// Records what prepare found (version, protocol, modules), replaces the tenant's batches
    /// with `batches` (the initial plan) and sets `sync_status` to `in_progress` (or `done`
    /// when the plan is empty), clearing any blocking error. One atomic, fenced step.
    async fn record_prepare(
        &self,
        lease: &Lease,
        prepared: &Prepared,
        batches: &[NewBatch],
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, StoreError>;

    /// Adds incremental or reconcile batches, stamping each batch's module with
    /// `last_incremental_at` / `last_reconcile_at = now`. Fenced.
    async fn add_batches(
        &self,
        lease: &Lease,
        batches: &[NewBatch],
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, StoreError>;

    /// Sets the sync status. Fenced.
    async fn set_sync_status(
        &self,
        lease: &Lease,
        status: SyncStatus,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Adds modules to a tenant that is already syncing (enabled after its first sync): their
    /// states (a module already recorded is left as it is) and their initial batches, in one
    /// atomic, fenced step. The tenant's `sync_status` stays: a `done` tenant stays `done`
    /// (its dashboard stays open) while the new modules catch up.
    async fn add_modules(
        &self,
        lease: &Lease,
        modules: &[PlannedModule],
        batches: &[NewBatch],
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, StoreError>;

    /// Replaces the fields a module reads besides its own (`extra_fields`, what its field
    /// patterns found on the tenant's server). Fenced; a module the tenant does not sync is
    /// left alone.
    async fn set_module_fields(
        &self,
        lease: &Lease,
        module: Module,
        extra_fields: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Sets or clears the tenant's blocking error (credentials refused, access denied...):
    /// a blocked tenant gets no work until a person acts. Fenced.
    async fn set_blocked(
        &self,
        lease: &Lease,
        error: Option<&TenantError>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    // ---- batches ----

    /// The tenant's next batch to run: the earliest-created batch that is `pending`, or
    /// `failed` with `next_attempt_at <= now`, or `in_progress` (left by a worker that lost
    /// its lease). Initial batches come before incremental and reconcile ones.
    async fn next_runnable_batch(
        &self,
        user_id: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<Option<Batch>, StoreError>;

    /// Up to `max` runnable batches in the order [`Store::next_runnable_batch`] would return
    /// them one by one: what the engine groups into one fetch call when they are small.
    /// The default reads every batch of the tenant; stores override it with a query.
    async fn next_runnable_batches(
        &self,
        user_id: &TenantId,
        now: DateTime<Utc>,
        max: usize,
    ) -> Result<Vec<Batch>, StoreError> {
        let mut runnable: Vec<Batch> = self
            .batches(user_id)
            .await?
            .into_iter()
            .filter(|b| b.is_runnable(now))
            .collect();
        runnable.sort_by_key(|b| (b.kind.priority(), b.seq));
        runnable.truncate(max);
        Ok(runnable)
    }

    /// Marks the batch `in_progress`, counts the attempt and stamps `started_at`. Fenced.
    async fn start_batch(
        &self,
        lease: &Lease,
        batch_id: &BatchId,
        now: DateTime<Utc>,
    ) -> Result<Batch, StoreError>;

    /// In one atomic, fenced step, for every write: upserts its records into the module's
    /// collection by (userId, odooId) — never replacing a stored record with an older
    /// `writeDate` (a record fetched twice keeps its newest version), except for batches whose
    /// kind [reads the truth](BatchKind::reads_truth) (reconcile, verify), whose records replace
    /// the stored ones whatever their dates — clearing `deletedAt` of records seen again —
    /// marks its batch `done` with `fetched_count`, and raises the module's watermark to its
    /// `watermark` (never lowers it). A fetch group's batches are written together so the
    /// store does one transaction per group, not per batch.
    ///
    /// Renames: a record that replaces a stored one with another display name
    /// ([`crate::mirror::DISPLAY_NAME`] in `raw`) has the new name copied, in the same step,
    /// into every mirrored record that links to it ([`Module::links_to`]): `<stem>Name` and
    /// the `[id, name]` pair in `raw`, as Odoo would now answer for them.
    ///
    /// A verify batch's records are the ones it found different from Odoo: their number is
    /// kept on the module (`last_verify_corrected`, added to `verify_corrected_total`).
    ///
    /// When the writes include initial batches and no initial batch of the tenant is left
    /// pending, in progress or failed, an `in_progress` tenant becomes `done` in the same step
    /// (`finished_initial`): a worker dying right after the last write cannot leave a tenant
    /// in progress with nothing left to run.
    async fn complete_batches(
        &self,
        lease: &Lease,
        writes: &[BatchWrite<'_>],
        now: DateTime<Utc>,
    ) -> Result<WriteSummary, StoreError>;

    /// [`Store::complete_batches`] for one batch.
    async fn complete_batch(
        &self,
        lease: &Lease,
        batch: &Batch,
        records: &[MirrorRecord],
        watermark: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<WriteSummary, StoreError> {
        let write = BatchWrite {
            batch,
            records,
            watermark,
        };
        self.complete_batches(lease, &[write], now).await
    }

    /// In one atomic, fenced step: marks the module's stored records whose ids are not in
    /// `alive_ids` as deleted (`deletedAt = now`, unless already deleted), restores deleted
    /// records whose ids are in it, and marks the reconcile batch `done`.
    async fn complete_reconcile(
        &self,
        lease: &Lease,
        batch: &Batch,
        alive_ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<ReconcileSummary, StoreError>;

    /// A failed attempt: `failed` with `next_attempt_at = retry_at`, or `permanently_failed`
    /// when `retry_at` is `None`. Fenced. Giving up the last unfinished initial batch makes
    /// an `in_progress` tenant `done` in the same step, as in [`Store::complete_batches`];
    /// returns whether it did.
    async fn fail_batch(
        &self,
        lease: &Lease,
        batch_id: &BatchId,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Counts of the tenant's batches of one kind by status.
    async fn batch_counts(
        &self,
        user_id: &TenantId,
        kind: BatchKind,
    ) -> Result<BatchCounts, StoreError>;

    /// Every batch of the tenant, oldest first (tests, operators).
    async fn batches(&self, user_id: &TenantId) -> Result<Vec<Batch>, StoreError>;

    // ---- records ----

    /// The tenant's mirrored records of one module with `odooId > after_id`, by `odooId`,
    /// at most `limit`; deleted records included (they carry `deleted_at`).
    async fn records(
        &self,
        user_id: &TenantId,
        module: Module,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredRecord>, StoreError>;

    /// `(odooId, writeDate, deleted)` of every stored record of the module, by ascending id:
    /// what a reconcile compares with Odoo's `(id, write_date)` pairs. The default pages
    /// through [`Store::records`]; stores answer with a projection.
    async fn stored_versions(
        &self,
        user_id: &TenantId,
        module: Module,
    ) -> Result<Vec<StoredVersion>, StoreError> {
        let mut versions = Vec::new();
        let mut after = 0;
        loop {
            let page = self.records(user_id, module, after, 1000).await?;
            let Some(last) = page.last() else {
                return Ok(versions);
            };
            after = last.odoo_id;
            versions.extend(page.iter().map(|r| StoredVersion {
                odoo_id: r.odoo_id,
                write_date: r.write_date,
                deleted: r.deleted_at.is_some(),
            }));
        }
    }

    /// The stored records of the module among `ids` (any order of `ids`), by ascending id;
    /// ids the mirror lacks are left out.
    async fn records_by_ids(
        &self,
        user_id: &TenantId,
        module: Module,
        ids: &[i64],
    ) -> Result<Vec<StoredRecord>, StoreError>;

    /// How many records of the module the tenant has (deleted ones only if asked).
    async fn record_count(
        &self,
        user_id: &TenantId,
        module: Module,
        include_deleted: bool,
    ) -> Result<u64, StoreError>;

    // ---- scheduling (issue 4) ----

    /// Tenants that may need a job now (see [`DueQuery`] for the conditions every one of them
    /// meets): `not_started` ones with a saved connection ([`DueWork::Prepare`]), ones with a
    /// runnable batch ([`DueWork::Process`]) and `done` ones with nothing runnable whose
    /// incremental or reconcile interval has passed ([`DueWork::FollowUp`]); at most
    /// `query.limit` of each kind, a tenant under one kind only (the first in that order).
    /// A hint, not a promise: the state may change before the job runs.
    async fn due_tenants(&self, query: &DueQuery) -> Result<Vec<DueTenant>, StoreError>;

    /// Marks each tenant of `user_ids` as having a job queued (`enqueuedAt = now`) unless a
    /// job was already queued for it at or after `stale_before`; one atomic check-and-set per
    /// tenant, so of several callers racing for a tenant exactly one wins. Returns the tenants
    /// this call marked (unknown tenants are skipped). Not fenced.
    async fn claim_enqueue(
        &self,
        user_ids: &[TenantId],
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Vec<TenantId>, StoreError>;

    /// Clears the tenant's queued-job mark: its job started, or pushing it failed. Not fenced;
    /// an unknown tenant is not an error.
    async fn clear_enqueue(&self, user_id: &TenantId) -> Result<(), StoreError>;

    // ---- operators (issue 5) ----

    /// Tenants in `userId` order, after `after` (exclusive) when given, at most `limit`.
    async fn list_tenants(
        &self,
        after: Option<&TenantId>,
        limit: u32,
    ) -> Result<Vec<TenantState>, StoreError>;

    /// The operators' tenant list (issue 13): one page of the tenants whose user id starts
    /// with `search.prefix` and that match `search.filter`, in `userId` order after
    /// `search.after`, with how many match in all. The prefix is one range of the `userId`
    /// index in both stores; the status filters use the status index (MongoDB) or a scan of
    /// the prefix's range, and `failed` looks for a permanently failed batch through the
    /// batches' status index.
    async fn find_tenants(&self, search: &TenantSearch) -> Result<TenantMatches, StoreError>;

    /// Gives the tenant's permanently failed batches (of every kind) a new round of attempts:
    /// each becomes `failed` with `attempts = 0`, `next_attempt_at = now` and no
    /// `finished_at`, its last error kept for reference. Returns how many. Not fenced:
    /// workers never touch permanently failed batches.
    async fn retry_failed_batches(
        &self,
        user_id: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// An operator's block (`Some`, e.g. a pause with code [`PAUSED_CODE`]) or unblock
    /// (`None`). Blocking also drops the lease and bumps the fence, so a batch in flight
    /// writes nothing and runs again after the unblock. `UnknownTenant` when the tenant does
    /// not exist. Not fenced (an operator action).
    async fn set_operator_block(
        &self,
        user_id: &TenantId,
        error: Option<&TenantError>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Replaces the modules the tenant asks to sync (`None`: the default ones) in its saved
    /// connection, without starting over, and forgets when each module last got an
    /// incremental batch so the scheduler finds the tenant due; the engine then plans the
    /// modules it does not sync yet. `UnknownTenant` when the tenant has no saved connection.
    /// Not fenced (an API action).
    async fn set_connection_modules(
        &self,
        user_id: &TenantId,
        modules: Option<&[String]>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Asks for a verify of every module of the tenant at the next follow-up: forgets when
    /// each module was last verified, so the scheduler finds the tenant due. `UnknownTenant`
    /// when the tenant does not exist. Not fenced (an operator action).
    async fn request_verify(
        &self,
        user_id: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Counts across every tenant (leases live at `now`).
    async fn overview(&self, now: DateTime<Utc>) -> Result<StoreOverview, StoreError>;
}

/// One module's share of a fetch group's writes, as both stores apply it.
pub(crate) struct ModuleWrites<'a> {
    pub module: Module,
    /// One record per odooId (see [`newest_per_id`]).
    pub records: Vec<&'a MirrorRecord>,
    /// Odoo's answer replaces the stored record whatever its date (reconcile, verify).
    pub truth: bool,
    /// A verify's corrections: their number is kept on the module.
    pub verify: bool,
    /// The newest `write_date` the writes saw, to raise the module's watermark to.
    pub watermark: Option<DateTime<Utc>>,
}

/// The writes of a fetch group split by module, in module order.
pub(crate) fn by_module<'a>(writes: &'a [BatchWrite<'a>]) -> Vec<ModuleWrites<'a>> {
    let modules: std::collections::BTreeSet<Module> =
        writes.iter().map(|w| w.batch.module).collect();
    modules
        .into_iter()
        .filter_map(|module| {
            let of_module: Vec<&BatchWrite<'_>> =
                writes.iter().filter(|w| w.batch.module == module).collect();
            if of_module.is_empty() {
                return None;
            }
            Some(ModuleWrites {
                module,
                records: newest_per_id(of_module.iter().flat_map(|w| w.records.iter())),
                truth: of_module.iter().any(|w| w.batch.kind.reads_truth()),
                verify: of_module.iter().any(|w| w.batch.kind == BatchKind::Verify),
                watermark: of_module.iter().filter_map(|w| w.watermark).max(),
            })
        })
        .collect()
}

/// One record per odooId (the newest write; the later one on a tie), so a batch that
/// fetched a row twice stores it once.
pub(crate) fn newest_per_id<'a>(
    records: impl Iterator<Item = &'a MirrorRecord>,
) -> Vec<&'a MirrorRecord> {
    let mut newest: HashMap<i64, &MirrorRecord> = HashMap::new();
    for record in records {
        let keep = newest
            .get(&record.odoo_id)
            .is_none_or(|kept| kept.write_date <= record.write_date);
        if keep {
            newest.insert(record.odoo_id, record);
        }
    }
    let mut unique: Vec<&MirrorRecord> = newest.into_values().collect();
    unique.sort_by_key(|r| r.odoo_id);
    unique
}
