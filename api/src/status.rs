//! A tenant's sync status as the frontend polls it (`GET /odoo/status`, DESIGN.md 4.3):
//! `connectionInfoAvailable`, `syncStatus`, `progress` (initial batches), and `error` while
//! the tenant is blocked; plus its strong ETag, a digest of the JSON, so polls can be
//! answered with 304 and the event stream can tell when something changed.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use shared::store::{BatchKind, SharedStore, StoreError, SyncStatus, TenantId};
use shared::sync::SyncProgress;
use utoipa::ToSchema;

use crate::scrub::StoredErrorScrubber;
use crate::warning::{warnings_of, WarningBody};

/// The `progress` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgressBody {
    pub total_batches: u64,
    /// Batches done.
    pub completed_batches: u64,
    /// Batches given up after `MAX_BATCH_ATTEMPTS`.
    pub failed_batches: u64,
    /// Batches waiting, running, or failed and due for another attempt.
    pub pending_batches: u64,
    /// Finished (done or failed for good) out of total, rounded.
    #[schema(maximum = 100)]
    pub progress_percentage: u64,
}

impl From<SyncProgress> for ProgressBody {
    fn from(p: SyncProgress) -> Self {
        ProgressBody {
            total_batches: p.total_batches,
            completed_batches: p.completed_batches,
            failed_batches: p.failed_batches,
            pending_batches: p.pending_batches,
            progress_percentage: p.progress_percentage,
        }
    }
}

/// Why the tenant's sync is stopped until a person acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatusError {
    /// e.g. `authentication_failed`, `access_denied`, `paused`.
    pub code: String,
    pub message: String,
    /// When it happened (RFC 3339).
    pub at: String,
}

/// The body of `GET /odoo/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusBody {
    /// A connection is saved.
    pub connection_info_available: bool,
    /// `not_started`, `in_progress` or `done`.
    #[schema(example = "in_progress")]
    pub sync_status: String,
    pub progress: ProgressBody,
    /// Present only while the tenant is blocked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StatusError>,
    /// The Odoo version found by the last prepare, e.g. `17.0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub odoo_version: Option<String>,
    /// Present only when there is something to act on before the sync breaks, e.g.
    /// `protocol_removed_in_odoo_20`: an Odoo 19 tenant synced over XML-RPC or JSON-RPC,
    /// which Odoo 20 removes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<WarningBody>,
}

impl StatusBody {
    /// The strong ETag of this body (quoted).
    pub fn etag(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&json);
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        format!("\"{hex}\"")
    }
}

pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The tenant's status now; a tenant the store does not know yet is `not_started` without
/// a connection. A stored error is scrubbed of the tenant's secret.
pub async fn tenant_status(
    store: &SharedStore,
    user_id: &TenantId,
    scrubber: &StoredErrorScrubber,
) -> Result<StatusBody, StoreError> {
    let Some(state) = store.tenant(user_id).await? else {
        return Ok(StatusBody {
            connection_info_available: false,
            sync_status: SyncStatus::NotStarted.as_str().into(),
            progress: SyncProgress::not_started().into(),
            error: None,
            odoo_version: None,
            warnings: Vec::new(),
        });
    };
    let connection = store.connection(user_id).await?;
    let progress = if state.sync_status == SyncStatus::NotStarted {
        SyncProgress::not_started()
    } else {
        SyncProgress::from_counts(&store.batch_counts(user_id, BatchKind::Initial).await?)
    };
    Ok(StatusBody {
        warnings: warnings_of(&state, connection.as_ref()),
        connection_info_available: connection.is_some(),
        sync_status: state.sync_status.as_str().into(),
        progress: progress.into(),
        error: state.blocked.map(|e| StatusError {
            code: e.code,
            message: scrubber.redactor(connection.as_ref()).text(&e.message),
            at: rfc3339(e.at),
        }),
        odoo_version: state.odoo_version,
    })
}

/// True when an `If-None-Match` header value matches `etag` (weak comparison, `*`, lists).
pub fn if_none_match(header: &str, etag: &str) -> bool {
    let bare = etag.trim_start_matches("W/");
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_handles_lists_weak_tags_and_star() {
        let tag = "\"abc\"";
        assert!(if_none_match("\"abc\"", tag));
        assert!(if_none_match("W/\"abc\"", tag));
        assert!(if_none_match("\"x\", \"abc\"", tag));
        assert!(if_none_match("*", tag));
        assert!(!if_none_match("\"abd\"", tag));
        assert!(!if_none_match("", tag));
    }

    #[test]
    fn etag_changes_with_the_body() {
        let body = StatusBody {
            connection_info_available: true,
            sync_status: "in_progress".into(),
            progress: SyncProgress::not_started().into(),
            error: None,
            odoo_version: None,
            warnings: Vec::new(),
        };
        let mut other = body.clone();
        other.progress.total_batches = 3;
        assert_eq!(body.etag(), body.clone().etag());
        assert_ne!(body.etag(), other.etag());
        assert!(body.etag().starts_with('"') && body.etag().ends_with('"'));
    }
}
