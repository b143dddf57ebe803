//! `JobRunner`: what a worker does with one job. It turns the job (a hint) into one engine
//! step under the tenant's lease, and chains the tenant's next job when the step did work,
//! so a tenant never waits for a scheduler tick between batches.
//!
//! Every job ends "successfully" as far as the queue is concerned: the queue's own retries
//! are blind (QUEUE-NOTES.md: 25 attempts whatever is configured), so attempts are counted
//! on the batch in the store and a job that could not run is re-derived by the scheduler.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use shared::odoo::ConnectionInfo;
use shared::store::{StoreError, SyncStatus, TenantId};
use shared::sync::{Step, SyncEngine, SyncError};
use tracing::Instrument;

use crate::connection::ConnectionSource;
use crate::job::{Incoming, TenantJob};
use crate::queue::JobQueue;
use crate::shutdown::Shutdown;

/// How the runner retries and marks.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// A queued-job mark older than this is presumed lost (the scheduler's `enqueued_before`).
    pub enqueue_stale: Duration,
    /// How long a step is retried while the store is unreachable (a mongod restart).
    pub store_retry_for: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            enqueue_stale: Duration::from_secs(120),
            store_retry_for: Duration::from_secs(60),
        }
    }
}

/// What became of a job; persisted as the job's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Prepared,
    BatchDone,
    BatchFailed,
    /// Another worker holds the tenant.
    Busy,
    /// Nothing runnable (or not prepared yet).
    Idle,
    Blocked,
    NoConnection,
    /// The step failed (store or Odoo unreachable); the scheduler will try again.
    Failed,
    /// Not a job this version reads; dropped.
    Dropped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Prepared => "prepared",
            Outcome::BatchDone => "batch_done",
            Outcome::BatchFailed => "batch_failed",
            Outcome::Busy => "busy",
            Outcome::Idle => "idle",
            Outcome::Blocked => "blocked",
            Outcome::NoConnection => "no_connection",
            Outcome::Failed => "failed",
            Outcome::Dropped => "dropped",
        }
    }

    /// Whether the tenant may have more work right away.
    fn chains(self) -> bool {
        matches!(
            self,
            Outcome::Prepared | Outcome::BatchDone | Outcome::BatchFailed
        )
    }
}

/// Runs jobs for any number of tenants; shared by every apalis worker of the process.
pub struct JobRunner {
    engine: Arc<SyncEngine>,
    connections: Arc<dyn ConnectionSource>,
    queue: Arc<dyn JobQueue>,
    shutdown: Shutdown,
    options: RunnerOptions,
}

impl JobRunner {
    pub fn new(
        engine: Arc<SyncEngine>,
        connections: Arc<dyn ConnectionSource>,
        queue: Arc<dyn JobQueue>,
        shutdown: Shutdown,
        options: RunnerOptions,
    ) -> Self {
        JobRunner {
            engine,
            connections,
            queue,
            shutdown,
            options,
        }
    }

    pub fn engine(&self) -> &Arc<SyncEngine> {
        &self.engine
    }

    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Handles one payload from the queue; never fails (see the module docs).
    pub async fn handle(&self, incoming: Incoming) -> Outcome {
        match incoming {
            Incoming::Unreadable { reason, preview } => {
                tracing::warn!(%reason, payload = %preview, "dropped a job this version cannot read");
                Outcome::Dropped
            }
            Incoming::Job(job) => {
                let span = tracing::info_span!("job", kind = job.kind(), tenant = %job.tenant());
                let outcome = self.run(&job).instrument(span.clone()).await;
                span.in_scope(|| tracing::debug!(outcome = outcome.as_str(), "job ended"));
                outcome
            }
        }
    }

    async fn run(&self, job: &TenantJob) -> Outcome {
        let tenant = job.tenant();
        let _in_flight = self.shutdown.track(tenant);
        // The job has left the queue: from now on a lost job is the scheduler's to notice.
        if let Err(e) = self.engine.store().clear_enqueue(tenant).await {
            tracing::warn!(error = %e, "cannot clear the queued mark");
        }
        let info = match self.connections.connection(tenant).await {
            Ok(Some(info)) => info,
            Ok(None) => {
                tracing::info!("no saved connection; nothing to do");
                return Outcome::NoConnection;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the saved connection");
                self.back_off(tenant).await;
                return Outcome::Failed;
            }
        };
        let outcome = match self.step_retrying(job, &info).await {
            Ok(step) => outcome_of(&step),
            Err(e) => {
                tracing::warn!(error = %e, "step failed; the scheduler will try again later");
                self.back_off(tenant).await;
                Outcome::Failed
            }
        };
        if outcome.chains() {
            self.chain(tenant).await;
        }
        outcome
    }

    /// One engine step, retried while the store is unreachable (bounded, and not once the
    /// process is stopping).
    async fn step_retrying(
        &self,
        job: &TenantJob,
        info: &ConnectionInfo,
    ) -> Result<Step, SyncError> {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(250);
        loop {
            match self.step(job, info).await {
                Err(SyncError::Store(e))
                    if matches!(e, StoreError::Unavailable(_))
                        && started.elapsed() < self.options.store_retry_for
                        && !self.shutdown.is_triggered() =>
                {
                    tracing::warn!(error = %e, "store unavailable; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    async fn step(&self, job: &TenantJob, info: &ConnectionInfo) -> Result<Step, SyncError> {
        let tenant = job.tenant();
        if let TenantJob::Prepare(_) = job {
            // A repeated prepare job must not replace a plan already being worked on.
            let state = self.engine.store().ensure_tenant(tenant).await?;
            if state.sync_status == SyncStatus::NotStarted && state.blocked.is_none() {
                return self.engine.prepare(tenant, info, None).await;
            }
        }
        // Groups follow one another under the lease until the step budget is spent or the
        // process is stopping (a stop then waits for one group, not for the budget).
        let shutdown = self.shutdown.clone();
        let go_on = move || !shutdown.is_triggered();
        self.engine.process_batches(tenant, info, &go_on).await
    }

    /// Queues the tenant's next job unless one is already queued.
    async fn chain(&self, tenant: &TenantId) {
        let store = self.engine.store();
        let now = Utc::now();
        let stale = now - to_delta(self.options.enqueue_stale);
        match store
            .claim_enqueue(std::slice::from_ref(tenant), now, stale)
            .await
        {
            Ok(claimed) if claimed.is_empty() => {}
            Ok(_) => {
                if let Err(e) = self.queue.push(&[TenantJob::Process(tenant.clone())]).await {
                    tracing::warn!(error = %e, "cannot queue the next job; the scheduler will");
                    let _ = store.clear_enqueue(tenant).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot mark the next job; the scheduler will"),
        }
    }

    /// After a failure: mark the tenant as queued without queueing anything, so that the
    /// scheduler leaves it alone for one stale period instead of retrying every tick.
    async fn back_off(&self, tenant: &TenantId) {
        let now = Utc::now();
        let _ = self
            .engine
            .store()
            .claim_enqueue(std::slice::from_ref(tenant), now, now)
            .await;
    }
}

fn outcome_of(step: &Step) -> Outcome {
    match step {
        Step::Prepared { batches } => {
            tracing::info!(batches, "initial sync planned");
            Outcome::Prepared
        }
        Step::BatchDone {
            batch,
            written,
            calls,
            ..
        } => {
            tracing::info!(module = %batch.module, kind = %batch.kind, written, calls, "batch done");
            Outcome::BatchDone
        }
        Step::BatchFailed {
            batch,
            error,
            permanent,
        } => {
            tracing::warn!(module = %batch.module, permanent, "batch failed: {error}");
            Outcome::BatchFailed
        }
        Step::Blocked(error) => {
            tracing::warn!(code = %error.code, "tenant blocked: {}", error.message);
            Outcome::Blocked
        }
        Step::Busy => Outcome::Busy,
        Step::NotPrepared | Step::Idle => Outcome::Idle,
    }
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}
