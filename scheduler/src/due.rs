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
    /// When a queued mark counts as lost: older than `enqueue_stale`, or set before the
    /// queue's server last started (`queue_started`: the job went with it).
    pub fn enqueued_before(
        &self,
        now: DateTime<Utc>,
        queue_started: Option<DateTime<Utc>>,
    ) -> DateTime<Utc> {
        let stale = now - to_delta(self.enqueue_stale);
        queue_started.map_or(stale, |started| stale.max(started))
    }

    /// The query for `now`, asking for at most `limit` tenants of each kind of work.
    pub fn query(
        &self,
        now: DateTime<Utc>,
        queue_started: Option<DateTime<Utc>>,
        limit: usize,
    ) -> DueQuery {
        DueQuery {
            now,
            enqueued_before: self.enqueued_before(now, queue_started),
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
    queue_started: Option<DateTime<Utc>>,
    limit: usize,
) -> Result<Vec<DueTenant>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let found = store
        .due_tenants(&rules.query(now, queue_started, limit))
        .await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> DueRules {
        DueRules {
            enqueue_stale: Duration::from_secs(120),
            incremental_interval: Duration::from_secs(60),
            reconcile_interval: Duration::from_secs(3600),
            verify_interval: Duration::from_secs(86400),
        }
    }

    #[test]
    fn a_mark_older_than_the_queue_server_is_lost() {
        let now = Utc::now();
        let restarted = now - TimeDelta::seconds(5);
        assert_eq!(
            rules().enqueued_before(now, Some(restarted)),
            restarted,
            "a restart 5 s ago makes marks older than it stale, not only those of 2 min"
        );
        let long_ago = now - TimeDelta::days(3);
        assert_eq!(
            rules().enqueued_before(now, Some(long_ago)),
            now - TimeDelta::seconds(120)
        );
        assert_eq!(
            rules().enqueued_before(now, None),
            now - TimeDelta::seconds(120)
        );
    }
}
