//! Conversions between the store's values and SQLite's columns: fixed-width UTC time text,
//! the JSON kept in text columns (blocked error, modules, record documents), row decoding and
//! the mapping of sqlx errors onto [`StoreError`].

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Row, Sqlite, Type};

use crate::modules::Module;
use crate::store::{
    Batch, BatchId, BatchKind, BatchStatus, BatchWindow, LeaseInfo, MirrorRecord, ModuleState,
    StoreError, StoredRecord, TenantError, TenantId, TenantState,
};

// ---- time ----

/// A time as stored in a column: fixed width with nanoseconds, so that text order is time
/// order (`lease_expires_at <= ?`, `next_attempt_at <= ?`, `write_date >=` compare as text)
/// and reading it back gives exactly the value written.
pub(super) fn ts(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// [`ts`] for an optional time.
pub(super) fn ts_opt(time: Option<DateTime<Utc>>) -> Option<String> {
    time.map(ts)
}

/// A time as it appears inside JSON documents: RFC 3339 with `Z`, fractional seconds only
/// when there are any (Odoo's `write_date` is whole seconds, and `FieldValue` writes those
/// the same way).
pub(super) fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parses a stored time; `what` names the column for the error.
pub(super) fn parse_ts(what: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("{what}: bad time {text:?}: {e}")))
}

fn parse_ts_opt(what: &str, text: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    text.map(|t| parse_ts(what, &t)).transpose()
}

/// `now + ttl`, refusing a ttl too large to represent.
pub(super) fn add_ttl(
    now: DateTime<Utc>,
    ttl: std::time::Duration,
) -> Result<DateTime<Utc>, StoreError> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| StoreError::Backend(format!("lease ttl {ttl:?} is out of range")))
}

// ---- numbers ----

/// A count or id from the caller as SQLite's i64.
pub(super) fn to_i64(what: &str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Backend(format!("{what} {value} is too large")))
}

pub(super) fn to_u64(what: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what}: negative {value}")))
}

// ---- errors ----

/// Maps a sqlx error: what is worth retrying (pool exhausted, I/O, the database locked past
/// the busy timeout, disk full) is `Unavailable`, undecodable data is `Corrupt`, the rest is
/// `Backend`.
pub(super) fn db_err(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err.to_string()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(err.to_string())
        }
        sqlx::Error::Database(db) => {
            let primary = db
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .map(|c| c & 0xff);
            match primary {
                // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN
                Some(5 | 6 | 10 | 13 | 14) => StoreError::Unavailable(err.to_string()),
                // SQLITE_CORRUPT, SQLITE_NOTADB
                Some(11 | 26) => StoreError::Corrupt(err.to_string()),
                _ => StoreError::Backend(err.to_string()),
            }
        }
        _ => StoreError::Backend(err.to_string()),
    }
}

/// One column of a row, a decoding failure being corrupt data rather than a panic.
pub(super) fn col<'r, T>(row: &'r SqliteRow, name: &str) -> Result<T, StoreError>
where
    T: Decode<'r, Sqlite> + Type<Sqlite>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// A stored enum name parsed back.
fn parse_name<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn parse_json<T: for<'de> Deserialize<'de>>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

// ---- tenants ----

/// The columns [`tenant_from_row`] reads.
pub(super) const TENANT_COLUMNS: &str = "user_id, sync_status, blocked, odoo_version, protocol, \
     employee_access, modules, lease_holder, lease_token, lease_expires_at, fence, created_at, \
     updated_at";

/// One module's state as kept in the tenant's `modules` JSON array.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StoredModule {
    pub module: String,
    pub model: String,
    #[serde(default)]
    pub extra_fields: Vec<String>,
    pub watermark: Option<String>,
    pub last_incremental_at: Option<String>,
    pub last_reconcile_at: Option<String>,
    #[serde(default)]
    pub last_verify_at: Option<String>,
    #[serde(default)]
    pub last_verify_corrected: Option<u64>,
    #[serde(default)]
    pub verify_corrected_total: u64,
}

impl StoredModule {
    /// A module new to the tenant. It counts as verified at `now`: its initial sync reads
    /// every record.
    pub(super) fn new(module: Module, model: &str, now: &str) -> Self {
        StoredModule {
            module: module.as_str().to_string(),
            model: model.to_string(),
            extra_fields: Vec::new(),
            watermark: None,
            last_incremental_at: None,
            last_reconcile_at: None,
            last_verify_at: Some(now.to_string()),
            last_verify_corrected: None,
            verify_corrected_total: 0,
        }
    }

    fn to_state(&self) -> Result<ModuleState, StoreError> {
        Ok(ModuleState {
            module: parse_name("modules.module", &self.module)?,
            model: self.model.clone(),
            extra_fields: self.extra_fields.clone(),
            watermark: parse_ts_opt("modules.watermark", self.watermark.clone())?,
            last_incremental_at: parse_ts_opt(
                "modules.lastIncrementalAt",
                self.last_incremental_at.clone(),
            )?,
            last_reconcile_at: parse_ts_opt(
                "modules.lastReconcileAt",
                self.last_reconcile_at.clone(),
            )?,
            last_verify_at: parse_ts_opt("modules.lastVerifyAt", self.last_verify_at.clone())?,
            last_verify_corrected: self.last_verify_corrected,
            verify_corrected_total: self.verify_corrected_total,
        })
    }
}

/// Reads the `modules` column.
pub(super) fn parse_modules(text: &str) -> Result<Vec<StoredModule>, StoreError> {
    parse_json("modules", text)
}

/// Writes the `modules` column.
pub(super) fn modules_json(modules: &[StoredModule]) -> Result<String, StoreError> {
    serde_json::to_string(modules).map_err(|e| StoreError::Backend(format!("modules: {e}")))
}

/// Writes the `blocked` column.
pub(super) fn blocked_json(error: Option<&TenantError>) -> Result<Option<String>, StoreError> {
    error
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Backend(format!("blocked: {e}")))
}

/// A tenant from a row selected with [`TENANT_COLUMNS`].
pub(super) fn tenant_from_row(row: &SqliteRow) -> Result<TenantState, StoreError> {
    let user_id: String = col(row, "user_id")?;
    let user_id = TenantId::parse(&user_id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let status: String = col(row, "sync_status")?;
    let blocked: Option<String> = col(row, "blocked")?;
    let access: Option<String> = col(row, "employee_access")?;
    let modules: String = col(row, "modules")?;
    let holder: Option<String> = col(row, "lease_holder")?;
    let token: Option<i64> = col(row, "lease_token")?;
    let expires: Option<String> = col(row, "lease_expires_at")?;
    let lease = match (holder, token, expires) {
        (Some(holder), Some(token), Some(expires)) => Some(LeaseInfo {
            holder,
            token,
            expires_at: parse_ts("lease_expires_at", &expires)?,
        }),
        // Released leases clear all three; a partial lease is not something this code writes.
        (None, None, None) => None,
        _ => {
            return Err(StoreError::Corrupt(format!(
                "tenant {user_id}: partial lease"
            )))
        }
    };
    Ok(TenantState {
        sync_status: parse_name("sync_status", &status)?,
        blocked: blocked.map(|b| parse_json("blocked", &b)).transpose()?,
        odoo_version: col(row, "odoo_version")?,
        protocol: col(row, "protocol")?,
        employee_access: access
            .map(|a| parse_name("employee_access", &a))
            .transpose()?,
        modules: parse_modules(&modules)?
            .iter()
            // A module declared in another process's settings (an `export` or `admin` run
            // without `--config`) is left out of what this process reads.
            .filter(|m| {
                let known = Module::named(&m.module).is_some();
                if !known {
                    tracing::warn!(module = %m.module, "a tenant syncs a module these settings do not declare; left out");
                }
                known
            })
            .map(StoredModule::to_state)
            .collect::<Result<_, _>>()?,
        lease,
        fence: col(row, "fence")?,
        created_at: parse_ts("created_at", &col::<String>(row, "created_at")?)?,
        updated_at: parse_ts("updated_at", &col::<String>(row, "updated_at")?)?,
        user_id,
    })
}

// ---- batches ----

/// The columns [`batch_from_row`] reads.
pub(super) const BATCH_COLUMNS: &str = "id, user_id, module, kind, window_start, window_end, \
     status, attempts, expected_count, windows, fetched_count, last_error, next_attempt_at, \
     lease_token, seq, created_at, updated_at, started_at, finished_at";

/// Run order: initial batches first, then by creation. Incremental and reconcile batches share
/// a priority because the trait orders them only by creation.
pub(super) fn priority(kind: BatchKind) -> i64 {
    match kind {
        BatchKind::Initial => 0,
        BatchKind::Incremental | BatchKind::Reconcile | BatchKind::Verify => 1,
    }
}

/// A batch from a row selected with [`BATCH_COLUMNS`].
pub(super) fn batch_from_row(row: &SqliteRow) -> Result<Batch, StoreError> {
    let user_id: String = col(row, "user_id")?;
    let attempts: i64 = col(row, "attempts")?;
    let time = |name: &str| -> Result<DateTime<Utc>, StoreError> {
        parse_ts(name, &col::<String>(row, name)?)
    };
    let time_opt = |name: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        parse_ts_opt(name, col(row, name)?)
    };
    let count = |name: &str| -> Result<Option<u64>, StoreError> {
        col::<Option<i64>>(row, name)?
            .map(|c| to_u64(name, c))
            .transpose()
    };
    Ok(Batch {
        id: BatchId(col(row, "id")?),
        user_id: TenantId::parse(&user_id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        module: parse_name("module", &col::<String>(row, "module")?)?,
        kind: parse_name("kind", &col::<String>(row, "kind")?)?,
        window_start: time("window_start")?,
        window_end: time("window_end")?,
        status: parse_name::<BatchStatus>("status", &col::<String>(row, "status")?)?,
        attempts: u32::try_from(attempts)
            .map_err(|_| StoreError::Corrupt(format!("attempts: {attempts}")))?,
        expected_count: count("expected_count")?,
        windows: windows_from_json(col(row, "windows")?)?,
        fetched_count: count("fetched_count")?,
        last_error: col(row, "last_error")?,
        next_attempt_at: time("next_attempt_at")?,
        lease_token: col(row, "lease_token")?,
        seq: col(row, "seq")?,
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
        started_at: time_opt("started_at")?,
        finished_at: time_opt("finished_at")?,
    })
}

/// A fetch group's windows as stored (JSON), NULL for a batch of one window.
pub(super) fn windows_json(windows: &[BatchWindow]) -> Result<Option<String>, StoreError> {
    if windows.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(windows)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("batch windows: {e}")))
}

fn windows_from_json(stored: Option<String>) -> Result<Vec<BatchWindow>, StoreError> {
    stored.map_or(Ok(Vec::new()), |json| {
        serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("batch windows: {e}")))
    })
}

// ---- records ----

/// The JSON document of a mirrored record (DESIGN.md 4.2): the structured fields, then the
/// fixed keys, which win over a structured field of the same name.
pub(super) fn record_document(
    user_id: &TenantId,
    record: &MirrorRecord,
    synced_at: DateTime<Utc>,
) -> Value {
    let mut doc = Map::with_capacity(record.fields.len() + 9);
    for (name, value) in &record.fields {
        doc.insert(name.clone(), value.to_json());
    }
    doc.insert("userId".into(), Value::from(user_id.as_str()));
    doc.insert("odooId".into(), Value::from(record.odoo_id));
    doc.insert("active".into(), Value::Bool(record.active));
    doc.insert("writeDate".into(), Value::from(rfc3339(record.write_date)));
    doc.insert(
        "createDate".into(),
        record
            .create_date
            .map_or(Value::Null, |d| Value::from(rfc3339(d))),
    );
    doc.insert("raw".into(), Value::Object(record.raw.clone()));
    doc.insert("syncedAt".into(), Value::from(rfc3339(synced_at)));
    doc.insert("deletedAt".into(), Value::Null);
    Value::Object(doc)
}

/// The columns [`record_from_row`] reads.
pub(super) const RECORD_COLUMNS: &str =
    "odoo_id, write_date, active, deleted_at, synced_at, document";

/// A stored record from a row selected with [`RECORD_COLUMNS`].
pub(super) fn record_from_row(row: &SqliteRow) -> Result<StoredRecord, StoreError> {
    let document: String = col(row, "document")?;
    Ok(StoredRecord {
        odoo_id: col(row, "odoo_id")?,
        write_date: parse_ts("write_date", &col::<String>(row, "write_date")?)?,
        active: col(row, "active")?,
        deleted_at: parse_ts_opt("deleted_at", col(row, "deleted_at")?)?,
        synced_at: parse_ts("synced_at", &col::<String>(row, "synced_at")?)?,
        document: parse_json("document", &document)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn stored_times_round_trip_and_sort_as_text() {
        let a = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::nanoseconds(1);
        assert_eq!(parse_ts("t", &ts(a)).unwrap(), a);
        assert_eq!(parse_ts("t", &ts(b)).unwrap(), b);
        assert!(ts(a) < ts(b));
        assert_eq!(ts(a).len(), ts(b).len());
    }

    #[test]
    fn document_times_are_rfc3339_with_z() {
        let a = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(rfc3339(a), "2024-01-02T03:04:05Z");
    }
}
