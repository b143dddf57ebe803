//! MongoDB documents to and from the store's types: tenants, batches (a fetch group's windows
//! included), leases, and records as JSON. Reads name the document kind and field of anything
//! that does not parse, so a corrupt document is reported, never guessed at.

use std::time::Duration;

use chrono::{DateTime, Utc};
use mongodb::bson::{self, doc, Bson, Document};
use serde_json::{Map, Value};

use super::corrupt;
use crate::modules::{EmployeeAccess, Module};
use crate::store::{
    Batch, BatchCounts, BatchId, BatchKind, BatchStatus, BatchWindow, Lease, LeaseInfo,
    ModuleState, NewBatch, PlannedModule, StoreError, SyncStatus, TenantError, TenantId,
    TenantState,
};

// ---------------------------------------------------------------------------------------------
// documents written

pub(super) fn date(at: DateTime<Utc>) -> Bson {
    Bson::DateTime(bson::DateTime::from_millis(at.timestamp_millis()))
}

pub(super) fn opt_date(at: Option<DateTime<Utc>>) -> Bson {
    at.map(date).unwrap_or(Bson::Null)
}

/// Counts are stored as i64 (BSON has no unsigned type); absurdly large values saturate.
pub(super) fn count_bson(count: impl TryInto<i64>) -> Bson {
    Bson::Int64(count.try_into().unwrap_or(i64::MAX))
}

pub(super) fn ttl_millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

/// Matches the tenant only while it still carries this lease.
pub(super) fn fence_filter(lease: &Lease) -> Document {
    doc! {
        "userId": lease.user_id.as_str(),
        "lease.token": lease.token,
        "lease.holder": &lease.holder,
    }
}

pub(super) fn batch_filter(user_id: &TenantId, batch_id: &BatchId) -> Document {
    doc! { "_id": batch_id.as_str(), "userId": user_id.as_str() }
}

pub(super) fn new_tenant_doc(user_id: &TenantId, now: DateTime<Utc>) -> Document {
    doc! {
        "userId": user_id.as_str(),
        "syncStatus": SyncStatus::NotStarted.as_str(),
        "blocked": Bson::Null,
        "odooVersion": Bson::Null,
        "protocol": Bson::Null,
        "employeeAccess": Bson::Null,
        "modules": [],
        "lease": Bson::Null,
        // The fence starts from the clock, not 0, so a tenant deleted and created again never
        // hands out a token a worker from before the deletion may still hold.
        "fence": now.timestamp_micros(),
        "nextSeq": 0_i64,
        "createdAt": date(now),
        "updatedAt": date(now),
    }
}

/// Batches run initial first, then incremental, then reconcile; `seq` orders each group.
/// The batch's `priority` field: the order runnable batches are taken in, one value per kind
/// (queries by kind filter on it, which the runnable index serves).
pub(super) fn priority(kind: BatchKind) -> i32 {
    match kind {
        BatchKind::Initial => 0,
        BatchKind::Incremental => 1,
        BatchKind::Reconcile => 2,
        BatchKind::Verify => 3,
    }
}

pub(super) fn batch_doc(batch: &Batch) -> Document {
    doc! {
        "_id": batch.id.as_str(),
        "userId": batch.user_id.as_str(),
        "module": batch.module.as_str(),
        "kind": batch.kind.as_str(),
        "priority": priority(batch.kind),
        "windowStart": date(batch.window_start),
        "windowEnd": date(batch.window_end),
        "status": batch.status.as_str(),
        "attempts": i64::from(batch.attempts),
        "expectedCount": batch.expected_count.map(count_bson).unwrap_or(Bson::Null),
        // The progress figures sum it (`batch_counts`); documents without it count as one.
        "windowCount": count_bson(batch.window_count()),
        "windows": windows_bson(&batch.windows),
        "fetchedCount": batch.fetched_count.map(count_bson).unwrap_or(Bson::Null),
        "lastError": batch.last_error.as_deref().map(Bson::from).unwrap_or(Bson::Null),
        "nextAttemptAt": date(batch.next_attempt_at),
        "leaseToken": batch.lease_token.map(Bson::Int64).unwrap_or(Bson::Null),
        "seq": batch.seq,
        "createdAt": date(batch.created_at),
        "updatedAt": date(batch.updated_at),
        "startedAt": opt_date(batch.started_at),
        "finishedAt": opt_date(batch.finished_at),
    }
}

/// A fetch group's windows; null for a batch of one window (most of them), so those
/// documents stay small.
pub(super) fn windows_bson(windows: &[BatchWindow]) -> Bson {
    if windows.is_empty() {
        return Bson::Null;
    }
    Bson::Array(
        windows
            .iter()
            .map(|w| {
                Bson::Document(doc! {
                    "start": date(w.start),
                    "end": date(w.end),
                    "count": count_bson(w.count),
                })
            })
            .collect(),
    )
}

pub(super) fn modules_bson(modules: &[ModuleState]) -> Vec<Document> {
    modules
        .iter()
        .map(|m| {
            doc! {
                "module": m.module.as_str(),
                "model": &m.model,
                "extraFields": &m.extra_fields,
                "watermark": opt_date(m.watermark),
                "lastIncrementalAt": opt_date(m.last_incremental_at),
                "lastReconcileAt": opt_date(m.last_reconcile_at),
                "lastVerifyAt": opt_date(m.last_verify_at),
                "lastVerifyCorrected": m.last_verify_corrected.map(count_bson).unwrap_or(Bson::Null),
                "verifyCorrectedTotal": count_bson(m.verify_corrected_total),
            }
        })
        .collect()
}

/// The module's state after a prepare: its sync history kept when it was synced before. A
/// module new to the tenant counts as verified now: its initial sync reads every record.
pub(super) fn kept_module(
    old: &[ModuleState],
    planned: &PlannedModule,
    now: DateTime<Utc>,
) -> ModuleState {
    let before = old.iter().find(|m| m.module == planned.module);
    ModuleState {
        module: planned.module,
        model: planned.model.clone(),
        extra_fields: planned.extra_fields.clone(),
        watermark: before.and_then(|m| m.watermark),
        last_incremental_at: before.and_then(|m| m.last_incremental_at),
        last_reconcile_at: before.and_then(|m| m.last_reconcile_at),
        last_verify_at: before.map_or(Some(now), |m| m.last_verify_at),
        last_verify_corrected: before.and_then(|m| m.last_verify_corrected),
        verify_corrected_total: before.map_or(0, |m| m.verify_corrected_total),
    }
}

/// Records when the module last got an incremental or reconcile batch.
pub(super) fn stamp_module(modules: &mut [ModuleState], batch: &NewBatch, now: DateTime<Utc>) {
    let Some(state) = modules.iter_mut().find(|m| m.module == batch.module) else {
        return;
    };
    match batch.kind {
        BatchKind::Incremental => state.last_incremental_at = Some(now),
        BatchKind::Reconcile => state.last_reconcile_at = Some(now),
        BatchKind::Verify => state.last_verify_at = Some(now),
        BatchKind::Initial => {}
    }
}

// ---------------------------------------------------------------------------------------------
// documents read

/// A stored document's fields, read with errors that name the document kind and field.
pub(super) struct Fields<'a> {
    doc: &'a Document,
    what: &'static str,
}

impl<'a> Fields<'a> {
    pub(super) fn new(doc: &'a Document, what: &'static str) -> Self {
        Fields { doc, what }
    }

    pub(super) fn bad(&self, key: &str, expected: &str) -> StoreError {
        corrupt(format!(
            "{} field {key:?}: expected {expected}, found {:?}",
            self.what,
            self.doc.get(key)
        ))
    }

    /// The value, `None` when missing or null.
    pub(super) fn value(&self, key: &str) -> Option<&'a Bson> {
        match self.doc.get(key) {
            None | Some(Bson::Null) => None,
            Some(value) => Some(value),
        }
    }

    pub(super) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, StoreError> {
        match self.value(key) {
            None => Ok(None),
            Some(Bson::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.bad(key, "a string")),
        }
    }

    pub(super) fn str(&self, key: &str) -> Result<&'a str, StoreError> {
        self.opt_str(key)?.ok_or_else(|| self.bad(key, "a string"))
    }

    pub(super) fn parsed<T: std::str::FromStr>(&self, key: &str) -> Result<T, StoreError> {
        self.str(key)?
            .parse()
            .map_err(|_| self.bad(key, "a known name"))
    }

    pub(super) fn opt_parsed<T: std::str::FromStr>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        self.opt_str(key)?
            .map(|s| s.parse().map_err(|_| self.bad(key, "a known name")))
            .transpose()
    }

    pub(super) fn opt_i64(&self, key: &str) -> Result<Option<i64>, StoreError> {
        match self.value(key) {
            None => Ok(None),
            Some(Bson::Int64(i)) => Ok(Some(*i)),
            Some(Bson::Int32(i)) => Ok(Some(i64::from(*i))),
            Some(_) => Err(self.bad(key, "an integer")),
        }
    }

    pub(super) fn i64(&self, key: &str) -> Result<i64, StoreError> {
        self.opt_i64(key)?
            .ok_or_else(|| self.bad(key, "an integer"))
    }

    pub(super) fn opt_u64(&self, key: &str) -> Result<Option<u64>, StoreError> {
        self.opt_i64(key)?
            .map(|i| u64::try_from(i).map_err(|_| self.bad(key, "a count")))
            .transpose()
    }

    /// A list of strings; missing or null is empty (documents written before the key existed).
    pub(super) fn opt_strings(&self, key: &str) -> Result<Vec<String>, StoreError> {
        match self.value(key) {
            None | Some(Bson::Null) => Ok(Vec::new()),
            Some(Bson::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Bson::String(s) => Ok(s.clone()),
                    _ => Err(self.bad(key, "a list of strings")),
                })
                .collect(),
            Some(_) => Err(self.bad(key, "a list of strings")),
        }
    }

    /// A batch's windows; missing or null is none (a batch of one window).
    pub(super) fn windows(&self, key: &str) -> Result<Vec<BatchWindow>, StoreError> {
        let items = match self.value(key) {
            None => return Ok(Vec::new()),
            Some(Bson::Array(items)) => items,
            Some(_) => return Err(self.bad(key, "a list of windows")),
        };
        items
            .iter()
            .map(|item| {
                let Bson::Document(window) = item else {
                    return Err(self.bad(key, "a list of windows"));
                };
                let w = Fields::new(window, "batch window");
                Ok(BatchWindow {
                    start: w.date("start")?,
                    end: w.date("end")?,
                    count: w.opt_u64("count")?.unwrap_or(0),
                })
            })
            .collect()
    }

    pub(super) fn bool(&self, key: &str) -> Result<bool, StoreError> {
        match self.value(key) {
            Some(Bson::Boolean(b)) => Ok(*b),
            _ => Err(self.bad(key, "a boolean")),
        }
    }

    pub(super) fn opt_date(&self, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        match self.value(key) {
            None => Ok(None),
            Some(Bson::DateTime(at)) => DateTime::from_timestamp_millis(at.timestamp_millis())
                .map(Some)
                .ok_or_else(|| self.bad(key, "a representable date")),
            Some(_) => Err(self.bad(key, "a date")),
        }
    }

    pub(super) fn date(&self, key: &str) -> Result<DateTime<Utc>, StoreError> {
        self.opt_date(key)?.ok_or_else(|| self.bad(key, "a date"))
    }

    pub(super) fn opt_doc(&self, key: &str) -> Result<Option<&'a Document>, StoreError> {
        match self.value(key) {
            None => Ok(None),
            Some(Bson::Document(d)) => Ok(Some(d)),
            Some(_) => Err(self.bad(key, "a document")),
        }
    }
}

pub(super) fn tenant_id_of(fields: &Fields<'_>) -> Result<TenantId, StoreError> {
    let raw = fields.str("userId")?;
    TenantId::parse(raw).map_err(|e| corrupt(e.to_string()))
}

pub(super) fn tenant_from_doc(doc: &Document) -> Result<TenantState, StoreError> {
    let fields = Fields::new(doc, "tenant");
    let blocked = fields
        .opt_doc("blocked")?
        .map(|b| {
            let f = Fields::new(b, "tenant.blocked");
            Ok::<_, StoreError>(TenantError {
                code: f.str("code")?.to_string(),
                message: f.str("message")?.to_string(),
                at: f.date("at")?,
            })
        })
        .transpose()?;
    let lease = fields
        .opt_doc("lease")?
        .map(|l| {
            let f = Fields::new(l, "tenant.lease");
            Ok::<_, StoreError>(LeaseInfo {
                holder: f.str("holder")?.to_string(),
                token: f.i64("token")?,
                expires_at: f.date("expiresAt")?,
            })
        })
        .transpose()?;
    Ok(TenantState {
        user_id: tenant_id_of(&fields)?,
        sync_status: fields.parsed("syncStatus")?,
        blocked,
        odoo_version: fields.opt_str("odooVersion")?.map(str::to_string),
        protocol: fields.opt_str("protocol")?.map(str::to_string),
        employee_access: fields.opt_parsed::<EmployeeAccess>("employeeAccess")?,
        modules: modules_of(doc)?,
        lease,
        fence: fields.i64("fence")?,
        created_at: fields.date("createdAt")?,
        updated_at: fields.date("updatedAt")?,
    })
}

pub(super) fn modules_of(tenant: &Document) -> Result<Vec<ModuleState>, StoreError> {
    let items = match tenant.get("modules") {
        None | Some(Bson::Null) => return Ok(Vec::new()),
        Some(Bson::Array(items)) => items,
        Some(other) => return Err(corrupt(format!("tenant modules: not an array: {other:?}"))),
    };
    items
        .iter()
        .filter(|item| known_module(item))
        .map(|item| {
            let Bson::Document(d) = item else {
                return Err(corrupt(format!("tenant module entry: {item:?}")));
            };
            let f = Fields::new(d, "tenant module");
            Ok(ModuleState {
                module: f.parsed("module")?,
                model: f.str("model")?.to_string(),
                extra_fields: f.opt_strings("extraFields")?,
                watermark: f.opt_date("watermark")?,
                last_incremental_at: f.opt_date("lastIncrementalAt")?,
                last_reconcile_at: f.opt_date("lastReconcileAt")?,
                last_verify_at: f.opt_date("lastVerifyAt")?,
                last_verify_corrected: f.opt_u64("lastVerifyCorrected")?,
                verify_corrected_total: f.opt_u64("verifyCorrectedTotal")?.unwrap_or(0),
            })
        })
        .collect()
}

/// Whether a module entry names a module this process knows. One declared in another
/// process's settings (an `export` or `admin` run without `--config`) is left out of what this
/// process reads rather than making the whole tenant unreadable.
pub(super) fn known_module(item: &Bson) -> bool {
    let name = match item {
        Bson::Document(d) => d.get_str("module").ok(),
        _ => None,
    };
    match name {
        Some(name) if Module::named(name).is_none() => {
            tracing::warn!(
                module = name,
                "a tenant syncs a module these settings do not declare; left out"
            );
            false
        }
        _ => true,
    }
}

pub(super) fn lease_from_doc(user_id: &TenantId, tenant: &Document) -> Result<Lease, StoreError> {
    let fields = Fields::new(tenant, "tenant");
    let lease = fields
        .opt_doc("lease")?
        .ok_or_else(|| corrupt("tenant has no lease right after taking it"))?;
    let f = Fields::new(lease, "tenant.lease");
    Ok(Lease {
        user_id: user_id.clone(),
        holder: f.str("holder")?.to_string(),
        token: f.i64("token")?,
        expires_at: f.date("expiresAt")?,
    })
}

pub(super) fn batch_from_doc(doc: &Document) -> Result<Batch, StoreError> {
    let f = Fields::new(doc, "batch");
    let attempts = u32::try_from(f.i64("attempts")?).map_err(|_| f.bad("attempts", "a count"))?;
    Ok(Batch {
        id: BatchId(f.str("_id")?.to_string()),
        user_id: tenant_id_of(&f)?,
        module: f.parsed("module")?,
        kind: f.parsed("kind")?,
        window_start: f.date("windowStart")?,
        window_end: f.date("windowEnd")?,
        status: f.parsed("status")?,
        attempts,
        expected_count: f.opt_u64("expectedCount")?,
        windows: f.windows("windows")?,
        fetched_count: f.opt_u64("fetchedCount")?,
        last_error: f.opt_str("lastError")?.map(str::to_string),
        next_attempt_at: f.date("nextAttemptAt")?,
        lease_token: f.opt_i64("leaseToken")?,
        seq: f.i64("seq")?,
        created_at: f.date("createdAt")?,
        updated_at: f.date("updatedAt")?,
        started_at: f.opt_date("startedAt")?,
        finished_at: f.opt_date("finishedAt")?,
    })
}

pub(super) fn count_slot(counts: &mut BatchCounts, status: BatchStatus) -> &mut u64 {
    match status {
        BatchStatus::Pending => &mut counts.pending,
        BatchStatus::InProgress => &mut counts.in_progress,
        BatchStatus::Done => &mut counts.done,
        BatchStatus::Failed => &mut counts.failed,
        BatchStatus::PermanentlyFailed => &mut counts.permanently_failed,
    }
}

pub(super) fn doc_to_json(doc: &Document) -> Map<String, Value> {
    doc.iter()
        .map(|(k, v)| (k.clone(), bson_to_json(v)))
        .collect()
}

/// BSON as plain JSON: dates as RFC 3339 text in UTC (`Z`, fractions only when present),
/// numbers as numbers; anything this store never writes in its relaxed Extended JSON form.
pub(super) fn bson_to_json(value: &Bson) -> Value {
    match value {
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Boolean(b) => Value::Bool(*b),
        Bson::Int32(i) => Value::from(*i),
        Bson::Int64(i) => Value::from(*i),
        Bson::Double(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Bson::String(s) => Value::String(s.clone()),
        Bson::Array(items) => Value::Array(items.iter().map(bson_to_json).collect()),
        Bson::Document(d) => Value::Object(doc_to_json(d)),
        Bson::DateTime(at) => match DateTime::from_timestamp_millis(at.timestamp_millis()) {
            Some(at) => Value::String(at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            None => value.clone().into_relaxed_extjson(),
        },
        other => other.clone().into_relaxed_extjson(),
    }
}
