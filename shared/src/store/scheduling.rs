//! What the scheduler asks the store (issue 4): which tenants may need a job now, and the
//! per-tenant "a job is queued" mark that keeps at most one outstanding job per tenant
//! however many schedulers and workers push.

use chrono::{DateTime, Utc};

use super::TenantId;

/// The scheduler's question for one tick. Every due tenant is unblocked, has no live lease
/// (`lease` empty or expired at `now`) and no job queued since `enqueued_before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueQuery {
    pub now: DateTime<Utc>,
    /// A queued job older than this is presumed lost (Redis lost it, its worker died before
    /// starting it): the tenant may be enqueued again.
    pub enqueued_before: DateTime<Utc>,
    /// A done tenant is due for incremental batches when one of its modules had its last
    /// incremental batch before this (or never had one).
    pub incremental_before: DateTime<Utc>,
    /// The same for reconcile batches.
    pub reconcile_before: DateTime<Utc>,
    /// The same for verify batches (a module never verified, or asked to be, is due).
    pub verify_before: DateTime<Utc>,
    /// At most this many tenants of each kind of work.
    pub limit: usize,
}

/// Which job a due tenant needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DueWork {
    /// `not_started` with a saved connection: plan the initial sync.
    Prepare,
    /// `in_progress` or `done` with a runnable batch: run it.
    Process,
    /// `done`, nothing runnable, and an incremental, reconcile or verify interval has passed: add
    /// follow-up batches (the engine's `schedule_follow_up`), then run them.
    FollowUp,
}

/// One tenant the scheduler should enqueue a job for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTenant {
    pub user_id: TenantId,
    pub work: DueWork,
}
