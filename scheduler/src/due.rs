//! Which tenants need a job now: the store's answer to the scheduler's [`DueQuery`], built
//! from the intervals in the settings and bounded by the room the tick has.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use shared::store::{DueQuery, DueTenant, SharedStore, StoreError};

/// The intervals that make a tenant due.
#[derive(Debug, Clone)]
pub struct DueRules {
    /// A queued job older than this is presumed lost and the tenant may be queued again.
    pub enqueue_stale: Duration,
    pub incremental_interval: Duration,
    pub reconcile_interval: Duration,
    pub verify_interval: Duration,
}

impl DueRules {
    /// The query for `now`, asking for at most `limit` tenants of each kind of work.
    pub fn query(&self, now: DateTime<Utc>, limit: usize) -> DueQuery {
        DueQuery {
            now,
            enqueued_before: now - to_delta(self.enqueue_stale),
            incremental_before: now - to_delta(self.incremental_interval),
            reconcile_before: now - to_delta(self.reconcile_interval),
            verify_before: now - to_delta(self.verify_interval),
            limit,
        }
    }
}

/// Due tenants, each once (the first kind of work the store listed wins), at most `limit`
/// in all.
pub async fn due_tenants(
    store: &SharedStore,
    rules: &DueRules,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<DueTenant>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let found = store.due_tenants(&rules.query(now, limit)).await?;
    let mut seen = HashSet::new();
    Ok(found
        .into_iter()
        .filter(|d| seen.insert(d.user_id.clone()))
        .take(limit)
        .collect())
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}
