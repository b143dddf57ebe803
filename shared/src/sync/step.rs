//! Running a tenant's batches: one ([`SyncEngine::process_next_batch`]) or, for workers, as
//! many as fit a time budget under one lease ([`SyncEngine::process_batches`]). An initial
//! batch is a fetch group: the windows the planner packed into one run of pages.
//!
//! A step of many batches pays once for what a batch does not need again: reading the
//! tenant, taking and releasing the lease, reading the runnable batches, marking a batch
//! started, and (for a worker) the job around it. And it fetches the next batch from Odoo
//! while the last one is written, so neither side waits for the other. Each batch is still
//! written in its own fenced transaction: a crash loses at most the batch in flight.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::Utc;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

use super::engine::{release, store_to_fetch, to_delta, Step, SyncEngine, SyncError};
use super::lease::TenantLease;
use super::runner::{BatchRunner, FetchError, FetchedRecords};
use crate::modules::ModelMapping;
use crate::odoo::{ConnectionInfo, ErrorClass, OdooClient};
use crate::store::{Batch, BatchKind, BatchStatus, BatchWrite, SyncStatus, TenantId, TenantState};

/// The most runnable batches a step reads at its start: more than a step's time budget
/// lets it run (a batch is a fetch group of up to `PAGE_SIZE` records).
const MAX_RUNNABLE: usize = 64;

/// What a fetched and written batch amounted to.
#[derive(Debug, Default)]
pub(super) struct Written {
    pub written: u64,
    pub calls: u32,
    pub finished_initial: bool,
}

/// What a step's batches amounted to so far.
struct Progress {
    /// The step's first batch (marked started).
    first: Batch,
    /// Windows written (a fetch group counts its windows, as progress does).
    batches: usize,
    written: u64,
    calls: u32,
}

impl Progress {
    fn add(&mut self, user_id: &TenantId, batch: &Batch, done: Written) {
        if done.finished_initial {
            tracing::info!(tenant = %user_id, "initial sync finished");
        }
        self.batches += usize::try_from(batch.window_count()).unwrap_or(usize::MAX);
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

/// How `batch`'s module is read from the tenant's server.
fn batch_mapping(state: &TenantState, client: &OdooClient, batch: &Batch) -> ModelMapping {
    let module = state.module(batch.module);
    let model = module.map_or("", |m| m.model.as_str());
    let extra_fields = module.map(|m| m.extra_fields.clone()).unwrap_or_default();
    batch.module.mapping(client.version(), model, &extra_fields)
}

/// The next batch of `runnable` when it is one more step of the same kind of work: an
/// initial or incremental batch not started yet. A retry, a reconcile or a verify waits
/// for a step of its own.
fn take_fresh(runnable: &mut VecDeque<Batch>) -> Option<Batch> {
    let first = runnable.front()?;
    let fresh = matches!(first.kind, BatchKind::Initial | BatchKind::Incremental)
        && first.status == BatchStatus::Pending
        && first.attempts == 0;
    if fresh {
        runnable.pop_front()
    } else {
        None
    }
}

impl SyncEngine {
    /// Runs the tenant's next runnable batch (a fetch group), if any.
    pub async fn process_next_batch(
        &self,
        user_id: &TenantId,
        info: &ConnectionInfo,
    ) -> Result<Step, SyncError> {
        self.process_batches(user_id, info, &|| false).await
    }

    /// Runs the tenant's runnable initial and incremental batches (fetch groups) one after
    /// another under one lease, while `go_on` says so and for at most the step budget
    /// (`EngineOptions::step_budget`); a batch that fails ends the step. Reconcile and
    /// verify batches, and retries, run one per step. The `Step` sums the batches written.
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
            .next_runnable_batches(user_id, now, MAX_RUNNABLE)
            .await?
            .into();
        let Some(first) = runnable.pop_front() else {
            return self.plan_added_modules(lease, state, info).await;
        };
        // Only the step's first batch is marked started (counting its attempt): the others
        // are fresh batches that complete in this step or, when one fails, are failed and
        // retried on their own; a batch that kills its worker is the first of the next step,
        // so its attempts are still counted. This keeps a batch's store work to one
        // transaction.
        let mut batch = self
            .store()
            .start_batch(lease.lease(), &first.id, now)
            .await?;
        let mut progress = Progress {
            first: batch.clone(),
            batches: 0,
            written: 0,
            calls: 0,
        };
        let client = match self.connected_client(state, info).await {
            Ok(client) => client,
            Err(e) => {
                return self
                    .batch_failed(lease, state, batch, FetchError::Odoo(e))
                    .await
            }
        };
        if batch.kind.reads_truth() {
            return match self.run_checks(lease, state, &client, &batch).await {
                Ok(done) => {
                    progress.add(user_id, &batch, done);
                    Ok(progress.step())
                }
                Err(e) => self.batch_failed(lease, state, batch, e).await,
            };
        }
        let mut fetched = self.fetch_batch(lease, state, &client, &batch).await;
        loop {
            let records = match fetched {
                Ok(records) => records,
                Err(e) => return self.batch_failed(lease, state, batch, e).await,
            };
            let budget_left = started.elapsed() < self.options().step_budget;
            let next = (budget_left && go_on())
                .then(|| take_fresh(&mut runnable))
                .flatten();
            // The next batch is read from Odoo while this one is written, in a task of its own
            // so that decoding it runs on another thread than the write's preparation.
            let (written, next_fetched) = match &next {
                Some(next) => {
                    let (written, fetched) = tokio::join!(
                        self.write_batch(lease, &batch, &records),
                        self.fetch_batch_in_task(lease, state, &client, next)
                    );
                    (written, Some(fetched))
                }
                None => (self.write_batch(lease, &batch, &records).await, None),
            };
            match written {
                Ok(done) => progress.add(user_id, &batch, done),
                // What the next batch fetched is dropped: it is fetched again later.
                Err(e) => return self.batch_failed(lease, state, batch, e).await,
            }
            match (next, next_fetched) {
                (Some(next), Some(next_fetched)) => {
                    batch = next;
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
    ) -> Result<Arc<OdooClient>, crate::odoo::OdooError> {
        let remembered = super::engine::remembered_protocol(state, info);
        self.client_for(&state.user_id, info, remembered).await
    }

    /// Records of one fetch group: `PAGE_SIZE`, and never less than a batch.
    pub(super) fn group_page(&self) -> u64 {
        u64::from(self.options().page_size.max(self.options().limit_per_call))
    }

    /// Fetches and validates an initial or incremental batch; writes nothing.
    async fn fetch_batch(
        &self,
        lease: &TenantLease,
        state: &TenantState,
        client: &OdooClient,
        batch: &Batch,
    ) -> Result<FetchedRecords, FetchError> {
        let mapping = batch_mapping(state, client, batch);
        let runner = BatchRunner {
            client,
            mapping: &mapping,
        };
        runner.fetch(batch, || !lease.is_lost()).await
    }

    /// [`Self::fetch_batch`] on a task of its own (aborted if this future is dropped).
    async fn fetch_batch_in_task(
        &self,
        lease: &TenantLease,
        state: &TenantState,
        client: &Arc<OdooClient>,
        batch: &Batch,
    ) -> Result<FetchedRecords, FetchError> {
        let mapping = batch_mapping(state, client, batch);
        let client = Arc::clone(client);
        let still_held = lease.still_held();
        let batch = batch.clone();
        let task = AbortOnDropHandle::new(tokio::spawn(async move {
            let runner = BatchRunner {
                client: &client,
                mapping: &mapping,
            };
            runner.fetch(&batch, still_held).await
        }));
        task.await
            .unwrap_or_else(|e| Err(FetchError::Panicked(e.to_string())))
    }

    /// Writes a fetched batch in one fenced transaction: a crash leaves all of it to fetch
    /// again.
    async fn write_batch(
        &self,
        lease: &TenantLease,
        batch: &Batch,
        fetched: &FetchedRecords,
    ) -> Result<Written, FetchError> {
        let write = BatchWrite {
            batch,
            records: &fetched.records,
            watermark: fetched.watermark,
        };
        let summary = self
            .store()
            .complete_batches(lease.lease(), &[write], Utc::now())
            .await
            .map_err(store_to_fetch)?;
        Ok(Written {
            written: summary.written,
            calls: fetched.calls,
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
    ) -> Result<Written, FetchError> {
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
        Ok(Written {
            written,
            calls,
            finished_initial: false,
        })
    }

    /// What a step reports when a batch could not be fetched or written.
    async fn batch_failed(
        &self,
        lease: &TenantLease,
        state: &TenantState,
        batch: Batch,
        error: FetchError,
    ) -> Result<Step, SyncError> {
        match error {
            FetchError::LeaseLost => Ok(Step::Busy),
            FetchError::Odoo(e) if e.class() == ErrorClass::TenantBlocked => {
                // Not the batch's fault: put it back without a delay and block the tenant.
                let now = Utc::now();
                self.store()
                    .fail_batch(lease.lease(), &batch.id, &e.to_string(), Some(now), now)
                    .await?;
                Err(SyncError::Odoo(e))
            }
            error => self.fail_attempt(lease, state, batch, error).await,
        }
    }

    /// A failed attempt of the batch: retried later with back-off, or given up after
    /// `MAX_BATCH_ATTEMPTS`.
    async fn fail_attempt(
        &self,
        lease: &TenantLease,
        state: &TenantState,
        batch: Batch,
        error: FetchError,
    ) -> Result<Step, SyncError> {
        let now = Utc::now();
        let retry_after = match &error {
            FetchError::Odoo(e) => e.retry_after(),
            _ => None,
        };
        let message = error.to_string();
        let permanent = batch.attempts >= self.options().max_batch_attempts;
        let retry_at =
            (!permanent).then(|| now + to_delta(self.retry_delay(batch.attempts, retry_after)));
        let finished_initial = self
            .store()
            .fail_batch(lease.lease(), &batch.id, &message, retry_at, now)
            .await?;
        tracing::warn!(tenant = %state.user_id, module = %batch.module, attempts = batch.attempts,
            permanent, "batch attempt failed: {message}");
        if finished_initial {
            tracing::info!(tenant = %state.user_id, "initial sync finished");
        }
        Ok(Step::BatchFailed {
            batch,
            error: message,
            permanent,
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
