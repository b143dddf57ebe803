//! The values the store keeps: tenant ids and states, leases, batches and mirrored records.
//! Each enum has the snake_case name DESIGN.md's collections and status JSON use.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::modules::{EmployeeAccess, Module};

/// A tenant's id (the app's userId, the JWT `sub`): 1 to 128 characters of letters, digits
/// and `_ - . : @`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

/// A tenant id that is empty, too long or has other characters.
#[derive(Debug, thiserror::Error)]
#[error("invalid tenant id {0:?}: use 1 to 128 letters, digits or _ - . : @")]
pub struct InvalidTenantId(pub String);

impl TenantId {
    pub fn parse(input: &str) -> Result<Self, InvalidTenantId> {
        let ok = !input.is_empty()
            && input.len() <= 128
            && input
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@'));
        if ok {
            Ok(TenantId(input.to_string()))
        } else {
            Err(InvalidTenantId(input.chars().take(140).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = InvalidTenantId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TenantId::parse(&value)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares a string enum with its stored names, `as_str`, `Display` and `FromStr`.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        concat!("unknown ", stringify!($name), " {:?}"),
                        other
                    )),
                }
            }
        }
    };
}

stored_enum!(
    /// Where a tenant's first sync stands (`syncStatus`).
    SyncStatus {
        NotStarted => "not_started",
        InProgress => "in_progress",
        Done => "done",
    }
);

stored_enum!(
    /// Why a batch exists.
    BatchKind {
        Initial => "initial",
        Incremental => "incremental",
        Reconcile => "reconcile",
        Verify => "verify",
    }
);

stored_enum!(
    /// A batch's state.
    BatchStatus {
        Pending => "pending",
        InProgress => "in_progress",
        Done => "done",
        Failed => "failed",
        PermanentlyFailed => "permanently_failed",
    }
);

/// An error worth showing on the tenant's status: a stable code and a readable message
/// (never a secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantError {
    pub code: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// What prepare learnt about the tenant's Odoo.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// e.g. "17.0".
    pub odoo_version: String,
    /// `json2`, `xmlrpc` or `jsonrpc`.
    pub protocol: String,
    /// The modules to sync (their apps are installed, their models readable).
    pub modules: Vec<PlannedModule>,
    pub employee_access: EmployeeAccess,
}

/// A module prepare planned: the model it reads on this tenant's server and the fields its
/// [patterns](crate::modules::ModuleSpec::field_patterns) found there.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedModule {
    pub module: Module,
    pub model: String,
    pub extra_fields: Vec<String>,
}

/// Per-module sync state of a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleState {
    pub module: Module,
    /// The Odoo model read for it on this tenant's server.
    pub model: String,
    /// Fields read besides the module's own: what its field patterns (custom fields such as
    /// `x_studio_*`, or every field of a declared module) found on this tenant's server at
    /// the last prepare, reconcile or verify.
    pub extra_fields: Vec<String>,
    /// The newest `write_date` seen in Odoo's data for this module (Odoo's clock, not ours).
    pub watermark: Option<DateTime<Utc>>,
    pub last_incremental_at: Option<DateTime<Utc>>,
    pub last_reconcile_at: Option<DateTime<Utc>>,
    /// When the module last got a verify batch (`None` also after an operator asked for one).
    pub last_verify_at: Option<DateTime<Utc>>,
    /// Records the last finished verify found different from Odoo and rewrote.
    pub last_verify_corrected: Option<u64>,
    /// Records every verify of this module has corrected so far.
    pub verify_corrected_total: u64,
}

/// A tenant's state (`odoosyncstatuses`).
#[derive(Debug, Clone, PartialEq)]
pub struct TenantState {
    pub user_id: TenantId,
    pub sync_status: SyncStatus,
    /// Set when the tenant cannot go on until a person acts; no work runs meanwhile.
    pub blocked: Option<TenantError>,
    pub odoo_version: Option<String>,
    pub protocol: Option<String>,
    pub employee_access: Option<EmployeeAccess>,
    /// The synced modules; empty before the first prepare.
    pub modules: Vec<ModuleState>,
    /// The current lease, live or expired.
    pub lease: Option<LeaseInfo>,
    /// The fencing counter: incremented by every lease acquisition.
    pub fence: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TenantState {
    pub fn module(&self, module: Module) -> Option<&ModuleState> {
        self.modules.iter().find(|m| m.module == module)
    }

    /// A `done` tenant `t` on an Odoo of `version` over `protocol`, for unit tests.
    #[cfg(test)]
    pub(crate) fn sample(version: &str, protocol: &str) -> TenantState {
        TenantState {
            user_id: TenantId::parse("t").unwrap_or_else(|e| unreachable!("{e}")),
            sync_status: SyncStatus::Done,
            blocked: None,
            odoo_version: Some(version.into()),
            protocol: Some(protocol.into()),
            employee_access: None,
            modules: Vec::new(),
            lease: None,
            fence: 0,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }
}

/// The lease as stored on the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    pub holder: String,
    pub token: i64,
    pub expires_at: DateTime<Utc>,
}

/// Proof that a worker holds a tenant: every fenced write carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub user_id: TenantId,
    pub holder: String,
    /// The fencing token: the tenant's counter when this lease was taken.
    pub token: i64,
    pub expires_at: DateTime<Utc>,
}

/// A batch's id (a UUID string in both stores).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BatchId(pub String);

impl BatchId {
    pub fn new_random() -> Self {
        BatchId(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One planned `write_date` window `[start, end)` of a batch that holds several, with the
/// number of records Odoo counted in it when planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub count: u64,
}

/// A batch to create: one module's records with `window_start <= write_date < window_end`.
///
/// An initial batch is one *fetch group*: the windows the planner packed to be read with one
/// run of pages. Its `windows` list them (each at most `MAX_WINDOW_HOURS` and, where the
/// data allows, `LIMIT_PER_CALL` records), so the plan still shows the window rule while the
/// store keeps one document per group instead of one per window. A batch of one window
/// (incremental, reconcile, verify, a busy hour) has no `windows`: it is its own window.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBatch {
    pub module: Module,
    pub kind: BatchKind,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// The planner's count for the whole span, when it had one.
    pub expected_count: Option<u64>,
    /// The windows inside the span when there are several (in order, covering it with
    /// known-empty gaps); empty when the batch is a single window.
    pub windows: Vec<BatchWindow>,
}

impl NewBatch {
    /// A batch of a single window.
    pub fn window(
        module: Module,
        kind: BatchKind,
        window_start: DateTime<Utc>,
        window_end: DateTime<Utc>,
        expected_count: Option<u64>,
    ) -> Self {
        NewBatch {
            module,
            kind,
            window_start,
            window_end,
            expected_count,
            windows: Vec::new(),
        }
    }

    /// A fetch group of consecutive windows (at least one); one window makes a plain batch.
    pub fn group(module: Module, kind: BatchKind, windows: &[BatchWindow]) -> Option<Self> {
        let (first, last) = (windows.first()?, windows.last()?);
        Some(NewBatch {
            module,
            kind,
            window_start: first.start,
            window_end: last.end,
            expected_count: Some(windows.iter().map(|w| w.count).sum()),
            windows: if windows.len() > 1 {
                windows.to_vec()
            } else {
                Vec::new()
            },
        })
    }

    /// How many windows the batch stands for in progress figures.
    pub fn window_count(&self) -> u64 {
        window_count(&self.windows)
    }
}

fn window_count(windows: &[BatchWindow]) -> u64 {
    (windows.len() as u64).max(1)
}

/// A stored batch (`odoosyncbatches`).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub id: BatchId,
    pub user_id: TenantId,
    pub module: Module,
    pub kind: BatchKind,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub status: BatchStatus,
    pub attempts: u32,
    pub expected_count: Option<u64>,
    /// The planned windows of a fetch group (see [`NewBatch::windows`]); empty for a batch
    /// of one window.
    pub windows: Vec<BatchWindow>,
    pub fetched_count: Option<u64>,
    pub last_error: Option<String>,
    /// When a failed batch may run again.
    pub next_attempt_at: DateTime<Utc>,
    /// The lease token of the worker that last started it.
    pub lease_token: Option<i64>,
    /// Creation order within the tenant (ties of `created_at` broken by it).
    pub seq: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl BatchKind {
    /// Initial batches run first, then incremental, then reconcile, then verify.
    pub fn priority(self) -> u8 {
        match self {
            BatchKind::Initial => 0,
            BatchKind::Incremental => 1,
            BatchKind::Reconcile => 2,
            BatchKind::Verify => 3,
        }
    }

    /// Whether what this batch reads from Odoo is stored as the truth even when its
    /// `write_date` is older than the stored one. Initial and incremental batches read by
    /// `write_date` windows and may meet a record twice, so the newer version wins there;
    /// reconcile and verify re-read records because their stored version is suspect (a late
    /// commit, a `write_date` moved back by a direct SQL fix, a merge that changed nothing's
    /// `write_date`). The lease fence, not the date, keeps a stale worker out of both.
    pub fn reads_truth(self) -> bool {
        matches!(self, BatchKind::Reconcile | BatchKind::Verify)
    }
}

impl Batch {
    /// A new batch as both stores create it from a plan: pending, no attempt yet.
    pub fn pending(user_id: &TenantId, new: &NewBatch, seq: i64, now: DateTime<Utc>) -> Self {
        Batch {
            id: BatchId::new_random(),
            user_id: user_id.clone(),
            module: new.module,
            kind: new.kind,
            window_start: new.window_start,
            window_end: new.window_end,
            status: BatchStatus::Pending,
            attempts: 0,
            expected_count: new.expected_count,
            windows: new.windows.clone(),
            fetched_count: None,
            last_error: None,
            next_attempt_at: now,
            lease_token: None,
            seq,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
        }
    }

    /// Whether a worker holding the tenant may run it now: pending, failed and due, or left
    /// `in_progress` by a worker that lost the tenant.
    pub fn is_runnable(&self, now: DateTime<Utc>) -> bool {
        match self.status {
            BatchStatus::Pending | BatchStatus::InProgress => true,
            BatchStatus::Failed => self.next_attempt_at <= now,
            BatchStatus::Done | BatchStatus::PermanentlyFailed => false,
        }
    }

    /// How many windows the batch stands for in progress figures.
    pub fn window_count(&self) -> u64 {
        window_count(&self.windows)
    }
}

/// Counts of batches by status, in windows: a fetch group of many windows counts as many
/// (the `totalBatches` a frontend shows does not depend on how windows were grouped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchCounts {
    pub pending: u64,
    pub in_progress: u64,
    pub done: u64,
    pub failed: u64,
    pub permanently_failed: u64,
}

impl BatchCounts {
    pub fn total(&self) -> u64 {
        self.pending + self.in_progress + self.done + self.failed + self.permanently_failed
    }

    /// Done or permanently failed: nothing more will happen to these.
    pub fn finished(&self) -> u64 {
        self.done + self.permanently_failed
    }
}

/// A structured field value of a mirrored record.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// Stored as a real date-time (BSON date in MongoDB, RFC 3339 text in SQLite).
    DateTime(DateTime<Utc>),
    /// Stored as a date-time at midnight UTC in MongoDB, `YYYY-MM-DD` in SQLite.
    Date(NaiveDate),
}

impl FieldValue {
    /// The value as JSON (dates as RFC 3339 / `YYYY-MM-DD` text).
    pub fn to_json(&self) -> Value {
        match self {
            FieldValue::Null => Value::Null,
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::Int(i) => Value::from(*i),
            FieldValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            FieldValue::Text(s) => Value::String(s.clone()),
            FieldValue::DateTime(d) => {
                Value::String(d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            }
            FieldValue::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
        }
    }
}

/// A record ready to store: the structured fields of its module in camelCase plus `raw`,
/// every field as Odoo returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorRecord {
    pub odoo_id: i64,
    pub write_date: DateTime<Utc>,
    pub create_date: Option<DateTime<Utc>>,
    /// `true` for models without an `active` field.
    pub active: bool,
    /// Structured fields, camelCase names (e.g. `amountTotal`, `partnerId`, `partnerName`).
    pub fields: Vec<(String, FieldValue)>,
    pub raw: Map<String, Value>,
}

/// A mirrored record as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub odoo_id: i64,
    pub write_date: DateTime<Utc>,
    pub active: bool,
    pub deleted_at: Option<DateTime<Utc>>,
    pub synced_at: DateTime<Utc>,
    /// The whole stored document as JSON: `userId`, `odooId`, the structured fields,
    /// `active`, `writeDate`, `createDate`, `raw`, `syncedAt`, `deletedAt` (dates as
    /// RFC 3339 text).
    pub document: Value,
}

/// One fetched batch to write with [`super::Store::complete_batches`].
#[derive(Debug, Clone, Copy)]
pub struct BatchWrite<'a> {
    pub batch: &'a Batch,
    pub records: &'a [MirrorRecord],
    /// The newest `write_date` the fetch saw (Odoo's clock), if any.
    pub watermark: Option<DateTime<Utc>>,
}

/// What `complete_batches` wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Records inserted or replaced.
    pub written: u64,
    /// Records left alone because the store already had a newer `writeDate`.
    pub skipped_older: u64,
    /// This write finished the tenant's initial sync (`in_progress` became `done`).
    pub finished_initial: bool,
}

/// A stored record's version, what a reconcile compares with Odoo's `(id, write_date)` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredVersion {
    pub odoo_id: i64,
    pub write_date: DateTime<Utc>,
    pub deleted: bool,
}

/// What `complete_reconcile` changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileSummary {
    pub marked_deleted: u64,
    pub restored: u64,
}

/// A secret encrypted at rest (AES-256-GCM): which key encrypted it, so keys can rotate,
/// the nonce and the ciphertext with its tag, both base64. Never holds clear text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptedSecret {
    pub key_id: String,
    pub nonce: String,
    pub ciphertext: String,
}

/// A tenant's saved Odoo connection as stored in its status document (`connection`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredConnection {
    pub url: String,
    pub db: String,
    pub username: String,
    /// `password` or `api_key`.
    pub secret_kind: String,
    pub secret: EncryptedSecret,
    pub saved_at: DateTime<Utc>,
    /// The modules the tenant asked to sync (names); `None`: the settings' default ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules: Option<Vec<String>>,
    /// The protocol the tenant asked for (`json2`, `xmlrpc`, `jsonrpc`); `None`: detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}
