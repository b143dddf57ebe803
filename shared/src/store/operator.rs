//! What operators ask the store (issue 5): tenants page by page, counts across every tenant
//! for metrics, and the values those answers are made of.

use std::collections::BTreeMap;

use super::{BatchCounts, SyncStatus};
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
