//! What operators ask the store (issue 5): tenants page by page — searched by user id prefix,
//! filtered by what an operator acts on, with the number that match (issue 13) — counts
//! across every tenant for metrics, and the values those answers are made of.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::{BatchCounts, SyncStatus, TenantId, TenantState};
use crate::modules::Module;

/// Counts across every tenant, read at once for `/metrics` and the operator page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOverview {
    /// Tenants by `syncStatus`.
    pub tenants: BTreeMap<SyncStatus, u64>,
    /// Tenants with a blocking error (paused ones included).
    pub blocked_tenants: u64,
    /// Tenants whose lease has not expired: the ones a worker is on now.
    pub live_leases: u64,
    /// Batches of every kind by status.
    pub batches: BatchCounts,
    /// Mirrored records not deleted in Odoo, by module.
    pub records: BTreeMap<Module, u64>,
    /// Records verifies have found different from Odoo and rewritten, by module, summed over
    /// every tenant (modules no verify corrected anything in are left out).
    pub verify_corrected: BTreeMap<Module, u64>,
}

/// The blocking error an operator's pause sets (`blocked.code`).
pub const PAUSED_CODE: &str = "paused";

/// Longest page of tenants [`super::Store::find_tenants`] gives at once.
pub const MAX_TENANT_PAGE: u32 = 200;

/// Which tenants an operator wants to see. Filters may overlap: a blocked tenant is also
/// `in_progress` or `done`, and a tenant with failed batches may be `done`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenantFilter {
    /// `syncStatus` is `not_started`.
    NotStarted,
    /// `syncStatus` is `in_progress`.
    InProgress,
    /// `syncStatus` is `done`.
    Done,
    /// Stopped until a person acts: a blocking error (refused credentials...) or a pause.
    Blocked,
    /// At least one batch (of any kind) was given up on: `permanently_failed`, waiting for
    /// an operator's retry.
    Failed,
}

impl TenantFilter {
    /// Every filter, in the order the operator page offers them.
    pub const ALL: [TenantFilter; 5] = [
        TenantFilter::NotStarted,
        TenantFilter::InProgress,
        TenantFilter::Done,
        TenantFilter::Blocked,
        TenantFilter::Failed,
    ];

    /// The name in query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantFilter::NotStarted => "not_started",
            TenantFilter::InProgress => "in_progress",
            TenantFilter::Done => "done",
            TenantFilter::Blocked => "blocked",
            TenantFilter::Failed => "failed",
        }
    }

    /// The sync status this filter asks for, when it is one.
    pub fn sync_status(self) -> Option<SyncStatus> {
        match self {
            TenantFilter::NotStarted => Some(SyncStatus::NotStarted),
            TenantFilter::InProgress => Some(SyncStatus::InProgress),
            TenantFilter::Done => Some(SyncStatus::Done),
            TenantFilter::Blocked | TenantFilter::Failed => None,
        }
    }
}

impl fmt::Display for TenantFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a [`TenantFilter`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tenant filter {0:?}: expected not_started, in_progress, done, blocked or failed")]
pub struct UnknownTenantFilter(pub String);

impl FromStr for TenantFilter {
    type Err = UnknownTenantFilter;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantFilter::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownTenantFilter(s.chars().take(64).collect()))
    }
}

/// A page of the operators' tenant list: tenants in `userId` order whose id starts with
/// `prefix` (case-sensitive, as ids are) and that match `filter`, after `after` (exclusive),
/// at most `limit` (1 to [`MAX_TENANT_PAGE`]; stores clamp it).
///
/// A prefix, not a substring: both stores answer it from their `userId` index as one range
/// (`prefix <= userId < prefix + "~"`, `~` sorting after every character an id may hold),
/// so a search costs the same with 100 tenants or 1,000,000.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSearch {
    pub prefix: Option<String>,
    pub filter: Option<TenantFilter>,
    pub after: Option<TenantId>,
    pub limit: u32,
}

impl TenantSearch {
    /// The first `limit` tenants, unfiltered.
    pub fn first(limit: u32) -> TenantSearch {
        TenantSearch {
            prefix: None,
            filter: None,
            after: None,
            limit,
        }
    }

    /// The page size the stores use: `limit` within 1 and [`MAX_TENANT_PAGE`].
    pub fn page_size(&self) -> u32 {
        self.limit.clamp(1, MAX_TENANT_PAGE)
    }

    /// The `[low, high)` range of user ids the prefix stands for; every id when there is
    /// no prefix. Ids are ASCII letters, digits and `_-.:@`, all of which sort before `~`.
    pub fn id_range(&self) -> (String, String) {
        let prefix = self.prefix.as_deref().unwrap_or("");
        (prefix.to_string(), format!("{prefix}~"))
    }
}

/// One page of [`TenantSearch`]'s answer.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantMatches {
    pub tenants: Vec<TenantState>,
    /// Tenants matching the prefix and filter on every page (not only after `after`).
    pub total: u64,
    /// More matching tenants come after the last one of this page.
    pub more: bool,
}

impl TenantMatches {
    /// A page from tenants read with a limit one past the page's (`limit + 1`): the extra
    /// one, when found, only says that more follow.
    pub(crate) fn page(mut tenants: Vec<TenantState>, limit: u32, total: u64) -> Self {
        let limit = limit as usize;
        let more = tenants.len() > limit;
        tenants.truncate(limit);
        TenantMatches {
            tenants,
            total,
            more,
        }
    }
}
