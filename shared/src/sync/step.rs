//! Running a tenant's batches: one fetch group ([`SyncEngine::process_next_batch`]) or, for
//! workers, as many groups as fit a time budget under one lease
//! ([`SyncEngine::process_batches`]).
//!
//! A step of many groups pays once for what a group does not need again: reading the
//! tenant, taking and releasing the lease, reading the runnable batches, marking a batch
//! started, and (for a worker) the job around it. And it fetches the next group from Odoo
//! while the last one is written, so neither side waits for the other. Each group is still
//! written in its own fenced transaction: a crash loses at most the group in flight.

use std::collections::VecDeque;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::Utc;
use tokio::time::Instant;

use super::engine::{release, store_to_fetch, to_delta, Step, SyncEngine, SyncError};
use super::lease::TenantLease;
use super::runner::{BatchRunner, FetchError, FetchedWindow};
use super::window::first_group_len;
use crate::odoo::{ConnectionInfo, ErrorClass, OdooClient};
use crate::store::{Batch, BatchKind, BatchStatus, BatchWrite, SyncStatus, TenantId, TenantState};

/// The most runnable batches looked at when grouping small ones into one call: a page of
/// `PAGE_SIZE` records may hold many sparse batches (a 1,000-record page of quiet days holds
/// about 140 daily windows).
const MAX_GROUP: usize = 256;

/// What a fetched and written group amounted to.
#[derive(Debug, Default)]
pub(super) struct GroupDone {
    pub written: u64,
    pub calls: u32,
    pub finished_initial: bool,
}

/// What a step's groups amounted to so far.
struct Progress {
    /// The step's first batch (marked started).
    first: Batch,
    batches: usize,
    written: u64,
    calls: u32,
}

impl Progress {
    fn add(&mut self, user_id: &TenantId, group: &[Batch], done: GroupDone) {
        if done.finished_initial {
            tracing::info!(tenant = %user_id, "initial sync finished");
        }
        self.batches += group.len();
        self.written += done.written;
        self.calls += done.calls;
    }

    fn step(self) -> Step {
        Step::BatchDone {
            batch: self.first,
            batches: self.batches,
            written: self.written,
            calls: self.calls,
        }
    }
}

impl SyncEngine {
    /// Runs the tenant's next runnable fetch group, if any.
    pub async fn process_next_batch(
        &self,
        user_id: &TenantId,
        info: &ConnectionInfo,
    ) -> Result<Step, SyncError> {
        self.process_batches(user_id, info, &|| false).await
    }

    /// Runs the tenant's runnable initial and incremental fetch groups one after another
    /// under one lease, while `go_on` says so and for at most the step budget
    /// (`EngineOptions::step_budget`); a group that fails ends the step. Reconcile and
    /// verify batches run one per step. The `Step` sums the groups written.
    pub async fn process_batches(
        &self,
        user_id: &TenantId,
        info: &ConnectionInfo,
        go_on: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Step, SyncError> {
        let Some(state) = self.store().tenant(user_id).await? else {
            return Ok(Step::NotPrepared);
        };
        if let Some(error) = state.blocked {
            return Ok(Step::Blocked(error));
        }
        if state.sync_status == SyncStatus::NotStarted {
            return Ok(Step::NotPrepared);
        }
        let Some(lease) = self.lease(user_id).await? else {
            return Ok(Step::Busy);
        };
        let result = self.process_under(&lease, &state, info, go_on).await;
        let step = self.settle(&lease, user_id, result).await;
        release(lease).await;
        step
    }

    async fn process_under(
        &self,
        lease: &TenantLease,
        state: &TenantState,
        info: &ConnectionInfo,
        go_on: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Step, SyncError> {
        let user_id = &state.user_id;
        let started = Instant::now();
        let now = Utc::now();
        let mut runnable: VecDeque<Batch> = self
            .store()
            .next_runnable_batches(user_id, now, MAX_GROUP)
            .await?
            .into();
        if runnable.is_empty() {
            return self.plan_added_modules(lease, state, info).await;
        }
        let mut group = self.take_group(&mut runnable);
        // Only the step's first batch is marked started (counting its attempt): the others
        // are fresh batches that complete in this step or, when it fails, are failed and
        // retried one by one; a batch that kills its worker is the first of the next step,
        // so its attempts are still counted. This keeps a group's store work to one
        // transaction.
        group[0] = self
            .store()
            .start_batch(lease.lease(), &group[0].id, now)
            .await?;
        let mut progress = Progress {
            first: group[0].clone(),
            batches: 0,
            written: 0,
            calls: 0,
        };
        let client = match self.connected_client(state, info).await {
            Ok(client) => client,
            Err(e) => {
                return self
                    .group_failed(lease, state, group, FetchError::Odoo(e))
                    .await
            }
        };
        if group[0].kind.reads_truth() {
            return match self.run_checks(lease, state, &client, &group[0]).await {
                Ok(done) => {
                    progress.add(user_id, &group, done);
                    Ok(progress.step())
                }
                Err(e) => self.group_failed(lease, state, group, e).await,
            };
        }
        let mut fetched = self.fetch_group(lease, state, &client, &group).await;
        loop {
            let windows = match fetched {
                Ok(windows) => windows,
                Err(e) => return self.group_failed(lease, state, group, e).await,
            };
            let budget_left = started.elapsed() < self.options().step_budget;
            let next = (budget_left && go_on())
                .then(|| self.take_fresh_group(&mut runnable))
                .flatten();
            // The next group is read from Odoo while this one is written.
            let (written, next_fetched) = match &next {
                Some(next) => {
                    let (written, fetched) = tokio::join!(
                        self.write_group(lease, &group, &windows),
                        self.fetch_group(lease, state, &client, next)
                    );
                    (written, Some(fetched))
                }
                None => (self.write_group(lease, &group, &windows).await, None),
            };
            match written {
                Ok(done) => progress.add(user_id, &group, done),
                // What the next group fetched is dropped: it is fetched again later.
                Err(e) => return self.group_failed(lease, state, group, e).await,
            }
            match (next, next_fetched) {
                (Some(next), Some(next_fetched)) => {
                    group = next;
                    fetched = next_fetched;
                }
                _ => return Ok(progress.step()),
            }
        }
    }

    /// The tenant's connected client, connecting once per tenant.
    async fn connected_client(
        &self,
        state: &TenantState,
        info: &ConnectionInfo,
    ) -> Result<std::sync::Arc<OdooClient>, crate::odoo::OdooError> {
        let remembered = super::engine::remembered_protocol(state, info);
        self.client_for(&state.user_id, info, remembered).await
    }

    /// The first group of `runnable` (at least one batch), taken off it.
    fn take_group(&self, runnable: &mut VecDeque<Batch>) -> Vec<Batch> {
        let len = self.group_len(runnable.make_contiguous()).max(1);
        runnable.drain(..len.min(runnable.len())).collect()
    }

    /// The next group of `runnable` when it is one more step of the same kind of work: an
    /// initial or incremental group whose batches were not started yet. A retry, a
    /// reconcile or a verify waits for a step of its own.
    fn take_fresh_group(&self, runnable: &mut VecDeque<Batch>) -> Option<Vec<Batch>> {
        let first = runnable.front()?;
        let fresh = matches!(first.kind, BatchKind::Initial | BatchKind::Incremental)
            && first.status == BatchStatus::Pending
            && first.attempts == 0;
        fresh.then(|| self.take_group(runnable))
    }

    /// Records of one fetch group: `PAGE_SIZE`, and never less than a batch.
    pub(super) fn group_page(&self) -> u64 {
        u64::from(self.options().page_size.max(self.options().limit_per_call))
    }

    /// How many of the runnable batches (in order) to fetch with one run of pages: fresh
    /// initial batches of one module whose planned counts together fit one call, as the
    /// planner grouped them. Anything else — retries, incremental and reconcile batches —
    /// runs alone.
    fn group_len(&self, runnable: &[Batch]) -> usize {
        let Some(first) = runnable.first() else {
            return 0;
        };
        let groupable = |b: &Batch| {
            b.kind == BatchKind::Initial
                && b.module == first.module
                && b.status == BatchStatus::Pending
                && b.attempts == 0
                && b.expected_count.is_some()
        };
        if !groupable(first) {
            return 1;
        }
        let counts: Vec<u64> = runnable
            .iter()
            .take_while(|b| groupable(b))
            .filter_map(|b| b.expected_count)
            .collect();
        first_group_len(&counts, self.group_page())
    }

    /// Fetches and validates an initial or incremental group; writes nothing.
    async fn fetch_group(
        &self,
        lease: &TenantLease,
        state: &TenantState,
        client: &OdooClient,
        group: &[Batch],
    ) -> Result<Vec<FetchedWindow>, FetchError> {
        let Some(first) = group.first() else {
            return Ok(Vec::new());
        };
        let module = state.module(first.module);
        let model = module.map_or("", |m| m.model.as_str());
        let extra_fields = module.map(|m| m.extra_fields.clone()).unwrap_or_default();
        let mapping = first.module.mapping(client.version(), model, &extra_fields);
        let runner = BatchRunner {
            client,
            mapping: &mapping,
        };
        runner.fetch(group, || !lease.is_lost()).await
    }

    /// Writes a fetched group in one fenced transaction: a crash leaves all of it to fetch
    /// again.
    async fn write_group(
        &self,
        lease: &TenantLease,
        group: &[Batch],
        windows: &[FetchedWindow],
    ) -> Result<GroupDone, FetchError> {
        let calls = windows.iter().map(|w| w.calls).sum();
        let writes: Vec<BatchWrite<'_>> = group
            .iter()
            .zip(windows)
            .map(|(batch, window)| BatchWrite {
                batch,
                records: &window.records,
                watermark: window.watermark,
            })
            .collect();
        let summary = self
            .store()
            .complete_batches(lease.lease(), &writes, Utc::now())
            .await
            .map_err(store_to_fetch)?;
        Ok(GroupDone {
            written: summary.written,
            calls,
            finished_initial: summary.finished_initial,
        })
    }

    /// Runs one reconcile or verify batch (they read and write as they go).
    async fn run_checks(
        &self,
        lease: &TenantLease,
        state: &TenantState,
        client: &OdooClient,
        batch: &Batch,
    ) -> Result<GroupDone, FetchError> {
        let module = state.module(batch.module);
        let model = module.map_or("", |m| m.model.as_str());
        let known = module.map(|m| m.extra_fields.clone()).unwrap_or_default();
        // Reconcile and verify look for fields added since (a new custom field).
        let extra_fields = self
            .refresh_extra_fields(lease, client, batch.module, model, known)
            .await?;
        let mapping = batch.module.mapping(client.version(), model, &extra_fields);
        let runner = BatchRunner {
            client,
            mapping: &mapping,
        };
        let (written, calls) = if batch.kind == BatchKind::Verify {
            self.verify(lease, state, &runner, batch).await?
        } else {
            self.reconcile(lease, state, &runner, batch).await?
        };
        Ok(GroupDone {
            written,
            calls,
            finished_initial: false,
        })
    }

    /// What a step reports when a group could not be fetched or written.
    async fn group_failed(
        &self,
        lease: &TenantLease,
        state: &TenantState,
        group: Vec<Batch>,
        error: FetchError,
    ) -> Result<Step, SyncError> {
        match error {
            FetchError::LeaseLost => Ok(Step::Busy),
            FetchError::Odoo(e) if e.class() == ErrorClass::TenantBlocked => {
                // Not the batches' fault: put them back without a delay and block the tenant.
                let now = Utc::now();
                for batch in &group {
                    self.store()
                        .fail_batch(lease.lease(), &batch.id, &e.to_string(), Some(now), now)
                        .await?;
                }
                Err(SyncError::Odoo(e))
            }
            error => self.fail_attempts(lease, state, group, error).await,
        }
    }

    /// A failed attempt of every batch of the group: retried later with back-off, or
    /// given up after `MAX_BATCH_ATTEMPTS`.
    async fn fail_attempts(
        &self,
        lease: &TenantLease,
        state: &TenantState,
        group: Vec<Batch>,
        error: FetchError,
    ) -> Result<Step, SyncError> {
        let now = Utc::now();
        let retry_after = match &error {
            FetchError::Odoo(e) => e.retry_after(),
            _ => None,
        };
        let message = error.to_string();
        let mut finished_initial = false;
        let mut first_permanent = None;
        for batch in &group {
            let permanent = batch.attempts >= self.options().max_batch_attempts;
            first_permanent.get_or_insert(permanent);
            let retry_at =
                (!permanent).then(|| now + to_delta(self.retry_delay(batch.attempts, retry_after)));
            finished_initial |= self
                .store()
                .fail_batch(lease.lease(), &batch.id, &message, retry_at, now)
                .await?;
            tracing::warn!(tenant = %state.user_id, module = %batch.module, attempts = batch.attempts,
                permanent, "batch attempt failed: {message}");
        }
        if finished_initial {
            tracing::info!(tenant = %state.user_id, "initial sync finished");
        }
        let Some(batch) = group.into_iter().next() else {
            return Ok(Step::Idle);
        };
        Ok(Step::BatchFailed {
            batch,
            error: message,
            permanent: first_permanent.unwrap_or(false),
        })
    }

    fn retry_delay(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.options().retry_base)
            .with_max_delay(self.options().retry_max)
            .with_max_times(attempts.max(1) as usize)
            .with_jitter()
            .build()
            .nth(attempts.saturating_sub(1) as usize)
            .unwrap_or(self.options().retry_max);
        retry_after.map_or(backoff, |asked| asked.max(backoff))
    }
}
