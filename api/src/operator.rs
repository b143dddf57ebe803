//! Operators' actions on tenants, shared by the admin routes and `odoo-sync admin`: list
//! tenants with status and errors (searched by user id prefix, filtered, paged, with the
//! number that match), show one with its failed batches, retry permanently failed batches,
//! resync from scratch (the saved connection saved again), verify now, pause and resume.
//! None of them runs a sync: workers pick the changes up.
//!
//! Progress as operators see it keeps what was synced apart from what was given up on:
//! `syncedPercentage` counts done windows only, while the tenant status's
//! `progressPercentage` (DESIGN.md 4.3, unchanged) counts finished ones, done or failed.

use chrono::Utc;
use serde::Serialize;
use shared::store::{
    BatchCounts, BatchKind, BatchStatus, SharedStore, StoreError, SyncStatus, TenantError,
    TenantId, TenantSearch, TenantState, MAX_TENANT_PAGE, PAUSED_CODE,
};
use shared::sync::SyncProgress;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::scrub::StoredErrorScrubber;
use crate::status::{rfc3339, ProgressBody, StatusError};
use crate::warning::{warnings_of, WarningBody};

/// Longest page of tenants.
pub const MAX_PAGE: u32 = MAX_TENANT_PAGE;

/// One tenant as operators see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantSummary {
    pub user_id: String,
    pub sync_status: String,
    pub connection_info_available: bool,
    /// Present while the tenant is blocked (paused ones included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StatusError>,
    pub paused: bool,
    /// Initial batches, as the tenant's status shows them. Its `progressPercentage` counts
    /// batches given up on as finished, so it rises as batches fail: see `syncedPercentage`.
    pub progress: ProgressBody,
    /// Windows actually synced (done) out of all planned, rounded down: 100 only once every
    /// window is done; batches given up on never raise it. 0 before the first plan, 100 for
    /// a sync that had nothing to fetch.
    #[schema(maximum = 100)]
    pub synced_percentage: u64,
    /// Permanently failed batches of every kind.
    pub failed_batches: u64,
    /// Failed batches waiting for another attempt.
    pub retrying_batches: u64,
    pub odoo_version: Option<String>,
    pub protocol: Option<String>,
    /// What to act on before the sync breaks (as in the tenant's status); empty for most.
    pub warnings: Vec<WarningBody>,
    /// The worker holding the tenant, while its lease is live.
    pub worker: Option<String>,
    pub updated_at: String,
    /// The synced modules with their reconcile and verify history.
    pub modules: Vec<ModuleSummary>,
}

/// One synced module of a tenant as operators see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModuleSummary {
    pub module: String,
    /// The Odoo model read for it.
    pub model: String,
    /// The newest `write_date` mirrored (Odoo's clock, RFC 3339).
    pub watermark: Option<String>,
    pub last_reconcile_at: Option<String>,
    pub last_verify_at: Option<String>,
    /// Records the last verify found different from Odoo and rewrote.
    pub last_verify_corrected: Option<u64>,
    /// Records every verify so far has corrected.
    pub verify_corrected_total: u64,
}

/// A failed batch with its error.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchFailure {
    pub id: String,
    pub module: String,
    pub kind: String,
    /// `failed` (will be retried) or `permanently_failed`.
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub window_start: String,
    pub window_end: String,
}

/// One tenant with its failed batches.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantDetail {
    #[serde(flatten)]
    pub summary: TenantSummary,
    pub failures: Vec<BatchFailure>,
}

/// A page of tenants.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantPage {
    pub tenants: Vec<TenantSummary>,
    /// Pass as `after` (with the same `search` and `status`) for the next page; null on the
    /// last page.
    pub next_cursor: Option<String>,
    /// Tenants matching `search` and `status` on every page.
    pub total: u64,
}

/// What an action did.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    pub user_id: String,
    /// `retry`, `resync`, `verify`, `pause` or `resume`.
    pub action: String,
    /// Batches given new attempts (retry only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retried_batches: Option<u64>,
}

/// Why an action could not be done.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("tenant {0} does not exist")]
    UnknownTenant(String),
    #[error("tenant {0} has no saved connection to sync from")]
    NoConnection(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for OperatorError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownTenant(id) => OperatorError::UnknownTenant(id),
            other => OperatorError::Store(other),
        }
    }
}

impl From<OperatorError> for ApiError {
    fn from(e: OperatorError) -> Self {
        match e {
            OperatorError::UnknownTenant(_) => ApiError::NotFound {
                code: "unknown_tenant",
                message: e.to_string(),
            },
            OperatorError::NoConnection(_) => ApiError::Conflict {
                code: "no_connection",
                message: e.to_string(),
            },
            OperatorError::Store(e) => e.into(),
        }
    }
}

fn add_counts(a: BatchCounts, b: BatchCounts) -> BatchCounts {
    BatchCounts {
        pending: a.pending + b.pending,
        in_progress: a.in_progress + b.in_progress,
        done: a.done + b.done,
        failed: a.failed + b.failed,
        permanently_failed: a.permanently_failed + b.permanently_failed,
    }
}

async fn summary(
    store: &SharedStore,
    scrubber: &StoredErrorScrubber,
    state: TenantState,
) -> Result<TenantSummary, StoreError> {
    let id = &state.user_id;
    let initial = store.batch_counts(id, BatchKind::Initial).await?;
    let mut all = initial;
    for kind in [
        BatchKind::Incremental,
        BatchKind::Reconcile,
        BatchKind::Verify,
    ] {
        all = add_counts(all, store.batch_counts(id, kind).await?);
    }
    let progress = if state.sync_status == SyncStatus::NotStarted {
        SyncProgress::not_started()
    } else {
        SyncProgress::from_counts(&initial)
    };
    let synced_percentage = synced_percentage(&progress);
    let now = Utc::now();
    let connection = store.connection(id).await?;
    let redactor = scrubber.redactor(connection.as_ref());
    Ok(TenantSummary {
        user_id: id.to_string(),
        sync_status: state.sync_status.as_str().into(),
        warnings: warnings_of(&state, connection.as_ref()),
        connection_info_available: connection.is_some(),
        paused: state
            .blocked
            .as_ref()
            .is_some_and(|b| b.code == PAUSED_CODE),
        error: state.blocked.map(|e| StatusError {
            code: e.code,
            message: redactor.text(&e.message),
            at: rfc3339(e.at),
        }),
        progress: progress.into(),
        synced_percentage,
        failed_batches: all.permanently_failed,
        retrying_batches: all.failed,
        odoo_version: state.odoo_version,
        protocol: state.protocol,
        worker: state.lease.filter(|l| l.expires_at > now).map(|l| l.holder),
        updated_at: rfc3339(state.updated_at),
        modules: state
            .modules
            .iter()
            .map(|m| ModuleSummary {
                module: m.module.as_str().into(),
                model: m.model.clone(),
                watermark: m.watermark.map(rfc3339),
                last_reconcile_at: m.last_reconcile_at.map(rfc3339),
                last_verify_at: m.last_verify_at.map(rfc3339),
                last_verify_corrected: m.last_verify_corrected,
                verify_corrected_total: m.verify_corrected_total,
            })
            .collect(),
    })
}

/// Done windows out of all, rounded down (so 100 means every window is synced); when
/// nothing was planned, what the status says (0 before the first plan, else 100).
pub fn synced_percentage(progress: &SyncProgress) -> u64 {
    (progress.completed_batches * 100)
        .checked_div(progress.total_batches)
        .unwrap_or(progress.progress_percentage)
}

/// One page of the tenants `search` asks for (its limit capped at [`MAX_PAGE`]).
pub async fn list(
    store: &SharedStore,
    scrubber: &StoredErrorScrubber,
    search: &TenantSearch,
) -> Result<TenantPage, StoreError> {
    let found = store.find_tenants(search).await?;
    let next_cursor = found
        .more
        .then(|| found.tenants.last().map(|s| s.user_id.to_string()))
        .flatten();
    let mut tenants = Vec::with_capacity(found.tenants.len());
    for state in found.tenants {
        tenants.push(summary(store, scrubber, state).await?);
    }
    Ok(TenantPage {
        tenants,
        next_cursor,
        total: found.total,
    })
}

/// One tenant with its failed batches.
pub async fn detail(
    store: &SharedStore,
    scrubber: &StoredErrorScrubber,
    user_id: &TenantId,
) -> Result<TenantDetail, OperatorError> {
    let state = store
        .tenant(user_id)
        .await?
        .ok_or_else(|| OperatorError::UnknownTenant(user_id.to_string()))?;
    let redactor = scrubber.redactor(store.connection(user_id).await?.as_ref());
    let failures = store
        .batches(user_id)
        .await?
        .into_iter()
        .filter(|b| {
            matches!(
                b.status,
                BatchStatus::Failed | BatchStatus::PermanentlyFailed
            )
        })
        .map(|b| BatchFailure {
            id: b.id.to_string(),
            module: b.module.as_str().into(),
            kind: b.kind.as_str().into(),
            status: b.status.as_str().into(),
            attempts: b.attempts,
            last_error: b.last_error.map(|e| redactor.text(&e)),
            window_start: rfc3339(b.window_start),
            window_end: rfc3339(b.window_end),
        })
        .collect();
    Ok(TenantDetail {
        summary: summary(store, scrubber, state).await?,
        failures,
    })
}

async fn existing(store: &SharedStore, user_id: &TenantId) -> Result<TenantState, OperatorError> {
    store
        .tenant(user_id)
        .await?
        .ok_or_else(|| OperatorError::UnknownTenant(user_id.to_string()))
}

/// Gives the tenant's permanently failed batches new attempts.
pub async fn retry(store: &SharedStore, user_id: &TenantId) -> Result<ActionResult, OperatorError> {
    existing(store, user_id).await?;
    let retried = store.retry_failed_batches(user_id, Utc::now()).await?;
    tracing::info!(tenant = %user_id, retried, "operator retried failed batches");
    Ok(ActionResult {
        user_id: user_id.to_string(),
        action: "retry".into(),
        retried_batches: Some(retried),
    })
}

/// Starts the tenant's sync over from scratch with its saved connection.
pub async fn resync(
    store: &SharedStore,
    user_id: &TenantId,
) -> Result<ActionResult, OperatorError> {
    existing(store, user_id).await?;
    let connection = store
        .connection(user_id)
        .await?
        .ok_or_else(|| OperatorError::NoConnection(user_id.to_string()))?;
    store
        .save_connection(user_id, &connection, Utc::now())
        .await?;
    tracing::info!(tenant = %user_id, "operator restarted the sync from scratch");
    Ok(ActionResult {
        user_id: user_id.to_string(),
        action: "resync".into(),
        retried_batches: None,
    })
}

/// Asks for a verify of every module of the tenant: the scheduler finds it due and a worker
/// re-reads every mirrored record, rewriting those that differ from Odoo.
pub async fn verify(
    store: &SharedStore,
    user_id: &TenantId,
) -> Result<ActionResult, OperatorError> {
    store.request_verify(user_id, Utc::now()).await?;
    tracing::info!(tenant = %user_id, "operator asked for a verify");
    Ok(ActionResult {
        user_id: user_id.to_string(),
        action: "verify".into(),
        retried_batches: None,
    })
}

/// Pauses the tenant: no work runs until it is resumed; a batch in flight writes nothing.
pub async fn pause(store: &SharedStore, user_id: &TenantId) -> Result<ActionResult, OperatorError> {
    let now = Utc::now();
    let paused = TenantError {
        code: PAUSED_CODE.into(),
        message: "paused by an operator".into(),
        at: now,
    };
    store
        .set_operator_block(user_id, Some(&paused), now)
        .await?;
    tracing::info!(tenant = %user_id, "operator paused the tenant");
    Ok(ActionResult {
        user_id: user_id.to_string(),
        action: "pause".into(),
        retried_batches: None,
    })
}

/// Resumes a paused tenant, or unblocks one stopped by an error a person has fixed.
pub async fn resume(
    store: &SharedStore,
    user_id: &TenantId,
) -> Result<ActionResult, OperatorError> {
    store.set_operator_block(user_id, None, Utc::now()).await?;
    tracing::info!(tenant = %user_id, "operator resumed the tenant");
    Ok(ActionResult {
        user_id: user_id.to_string(),
        action: "resume".into(),
        retried_batches: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(done: u64, failed: u64, other: u64) -> SyncProgress {
        SyncProgress::from_counts(&BatchCounts {
            done,
            permanently_failed: failed,
            pending: other,
            ..BatchCounts::default()
        })
    }

    #[test]
    fn synced_percentage_never_counts_failures() {
        // Half the windows given up: the status says 50 %, nothing is synced.
        let p = progress(0, 2, 2);
        assert_eq!((p.progress_percentage, synced_percentage(&p)), (50, 0));
        // Failures added as the sync goes on raise the status's number, not this one.
        assert_eq!(synced_percentage(&progress(1, 0, 3)), 25);
        assert_eq!(synced_percentage(&progress(1, 2, 1)), 25);
        // Rounded down: 100 only when every window is synced.
        let p = progress(199, 0, 1);
        assert_eq!((p.progress_percentage, synced_percentage(&p)), (100, 99));
        assert_eq!(synced_percentage(&progress(4, 0, 0)), 100);
        assert_eq!(synced_percentage(&progress(3, 1, 0)), 75);
        // Nothing planned: as the status says.
        assert_eq!(synced_percentage(&SyncProgress::not_started()), 0);
        assert_eq!(synced_percentage(&progress(0, 0, 0)), 100);
    }
}
