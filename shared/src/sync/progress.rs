//! A tenant's progress as the frontend sees it (DESIGN.md 4.3): initial batches finished
//! out of planned, failures visible.

use serde::Serialize;

use crate::store::BatchCounts;

/// The `progress` object of `GET /odoo/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncProgress {
    pub total_batches: u64,
    /// Done.
    pub completed_batches: u64,
    /// Permanently failed: given up after `MAX_BATCH_ATTEMPTS`.
    pub failed_batches: u64,
    /// Everything else: waiting, running, or failed and due for another attempt.
    pub pending_batches: u64,
    /// Finished (done or permanently failed) out of total, rounded; 100 when nothing was
    /// planned.
    pub progress_percentage: u64,
}

impl SyncProgress {
    pub fn from_counts(counts: &BatchCounts) -> Self {
        let total = counts.total();
        let finished = counts.finished();
        let progress_percentage = (finished * 100 + total / 2)
            .checked_div(total)
            .unwrap_or(100);
        SyncProgress {
            total_batches: total,
            completed_batches: counts.done,
            failed_batches: counts.permanently_failed,
            pending_batches: total - finished,
            progress_percentage,
        }
    }

    /// Before the first prepare nothing is planned and nothing is done.
    pub fn not_started() -> Self {
        SyncProgress {
            total_batches: 0,
            completed_batches: 0,
            failed_batches: 0,
            pending_batches: 0,
            progress_percentage: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_design_example() {
        let p = SyncProgress::from_counts(&BatchCounts {
            pending: 3,
            in_progress: 1,
            done: 8,
            failed: 0,
            permanently_failed: 0,
        });
        assert_eq!(
            serde_json::to_value(p).expect("serialises"),
            serde_json::json!({"totalBatches": 12, "completedBatches": 8, "failedBatches": 0,
                "pendingBatches": 4, "progressPercentage": 67})
        );
        let p = SyncProgress::from_counts(&BatchCounts {
            done: 1,
            permanently_failed: 1,
            failed: 2,
            ..BatchCounts::default()
        });
        assert_eq!(
            (p.pending_batches, p.failed_batches, p.progress_percentage),
            (2, 1, 50)
        );
    }
}
