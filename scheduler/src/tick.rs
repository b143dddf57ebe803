//! One scheduler tick: read due tenants, claim them (at most one queued job per tenant,
//! whatever other schedulers or workers do), add follow-up batches where due, and push the
//! jobs in chunks. A tenant marked as queued before the queue's server last started lost
//! its job with it and is queued again on the next tick. Bounded: at most `max_per_tick` jobs, and none while the queue already
//! holds `max_backlog` waiting jobs (thousands of due jobs at once break apalis-redis, see
//! QUEUE-NOTES.md; tenants not queued now are found again on a later tick).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use shared::store::{DueWork, StoreError, TenantId};
use shared::sync::{FollowUp, SyncEngine, SyncError};
use worker::{JobQueue, QueueError, TenantJob};

use crate::due::{due_tenants, DueRules};

/// Jobs per push.
const PUSH_CHUNK: usize = 500;
/// Tenants whose follow-up batches are planned at once.
const FOLLOW_UP_CONCURRENCY: usize = 8;

/// The bounds of a tick.
#[derive(Debug, Clone)]
pub struct TickLimits {
    /// Jobs one tick pushes at most.
    pub max_per_tick: usize,
    /// No pushing while this many jobs are waiting already.
    pub max_backlog: u64,
}

impl Default for TickLimits {
    fn default() -> Self {
        TickLimits {
            max_per_tick: 2000,
            max_backlog: 5000,
        }
    }
}

/// What a tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    pub backlog: u64,
    pub due: usize,
    /// Due tenants another scheduler or a worker had queued meanwhile.
    pub already_queued: usize,
    pub prepare: usize,
    pub process: usize,
    /// Tenants that got follow-up batches (and a job).
    pub follow_up: usize,
    pub elapsed: Duration,
}

impl TickReport {
    pub fn pushed(&self) -> usize {
        self.prepare + self.process + self.follow_up
    }
}

/// Why a tick stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Everything a tick needs.
pub struct Ticker {
    pub engine: Arc<SyncEngine>,
    pub queue: Arc<dyn JobQueue>,
    pub rules: DueRules,
    pub limits: TickLimits,
}

impl Ticker {
    /// Runs one tick.
    pub async fn tick(&self) -> Result<TickReport, TickError> {
        let started = Instant::now();
        let store = self.engine.store();
        let mut report = TickReport {
            backlog: self.queue.backlog().await?,
            ..TickReport::default()
        };
        let room = usize::try_from(self.limits.max_backlog.saturating_sub(report.backlog))
            .unwrap_or(usize::MAX)
            .min(self.limits.max_per_tick);
        let queue_started = self.queue.started_at().await?;
        let now = Utc::now();
        let due = due_tenants(store, &self.rules, now, queue_started, room).await?;
        report.due = due.len();
        if due.is_empty() {
            report.elapsed = started.elapsed();
            return Ok(report);
        }

        let ids: Vec<TenantId> = due.iter().map(|d| d.user_id.clone()).collect();
        let stale_before = self.rules.enqueued_before(now, queue_started);
        let claimed: std::collections::HashSet<TenantId> = store
            .claim_enqueue(&ids, now, stale_before)
            .await?
            .into_iter()
            .collect();
        report.already_queued = due.len() - claimed.len();

        let mut jobs = Vec::with_capacity(claimed.len());
        let mut follow_ups = Vec::new();
        for d in due.into_iter().filter(|d| claimed.contains(&d.user_id)) {
            match d.work {
                DueWork::Prepare => {
                    report.prepare += 1;
                    jobs.push(TenantJob::Prepare(d.user_id));
                }
                DueWork::Process => {
                    report.process += 1;
                    jobs.push(TenantJob::Process(d.user_id));
                }
                DueWork::FollowUp => follow_ups.push(d.user_id),
            }
        }
        // Follow-ups take the tenant's lease to add batches; a tenant that got none keeps
        // its queued mark, so it is looked at again only after the stale period.
        let planned: Vec<(TenantId, Result<usize, SyncError>)> = futures::stream::iter(follow_ups)
            .map(|tenant| async move {
                let added = self
                    .engine
                    .schedule_follow_up(&tenant, FollowUp::default())
                    .await;
                (tenant, added)
            })
            .buffer_unordered(FOLLOW_UP_CONCURRENCY)
            .collect()
            .await;
        for (tenant, added) in planned {
            match added {
                Ok(0) => {}
                Ok(_) => {
                    report.follow_up += 1;
                    jobs.push(TenantJob::Process(tenant));
                }
                Err(e) => tracing::warn!(%tenant, error = %e, "cannot add follow-up batches"),
            }
        }

        for (index, chunk) in jobs.chunks(PUSH_CHUNK).enumerate() {
            if let Err(e) = self.queue.push(chunk).await {
                // Unmark what was not pushed so the next tick can queue it at once.
                for job in jobs.iter().skip(index * PUSH_CHUNK) {
                    let _ = store.clear_enqueue(job.tenant()).await;
                }
                return Err(e.into());
            }
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }
}
