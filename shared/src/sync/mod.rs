//! The sync engine: plans a tenant's initial batches, runs them one at a time under the
//! tenant's lease with validated, fenced writes, then keeps the mirror current with
//! incremental batches and finds deletions with reconcile batches (DESIGN.md section 5).
//!
//! - [`window`]: the `WindowSizer` that plans windows cheaply;
//! - [`runner`]: the `BatchRunner` that fetches and validates one batch (a window, or a
//!   fetch group of windows);
//! - [`lease`]: the `TenantLease` held while working;
//! - [`engine`]: `SyncEngine`, the steps callers run (prepare, schedule follow-ups,
//!   reconcile, verify) and what each step reports;
//! - [`step`]: running a tenant's batches, one fetch group or many under one lease with the
//!   next group fetched while the last is written;
//! - [`progress`]: the status numbers the frontend shows.

pub mod engine;
pub mod lease;
pub mod progress;
pub mod runner;
pub mod step;
pub mod window;

pub use engine::{EngineOptions, FollowUp, Step, SyncEngine, SyncError};
pub use lease::TenantLease;
pub use progress::SyncProgress;
pub use runner::{BatchRunner, FetchError, FetchedRecords};
pub use window::{fetch_groups, WindowLimits, WindowSizer};
