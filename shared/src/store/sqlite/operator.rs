//! Operators' queries and actions on SQLite (issue 5): tenants page by page (searched by
//! user id prefix and filtered, issue 13), retrying permanently failed batches, an
//! operator's block, and counts across every tenant.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::codec::{blocked_json, db_err, tenant_from_row, to_u64, ts, TENANT_COLUMNS};
use super::SqliteStore;
use crate::modules::Module;
use crate::store::{
    BatchStatus, StoreError, StoreOverview, SyncStatus, TenantError, TenantFilter, TenantId,
    TenantMatches, TenantSearch, TenantState,
};

/// The operators' tenant search: a range of the `user_id` primary key (the prefix), the
/// sync status (bound twice: NULL for any), a blocking error when the third value is 1, a
/// permanently failed batch (found through the batches' `(user_id, status, ...)` index)
/// when the fourth is 1. Binds: low, high, status, status, blocked, failed, and the
/// permanently failed status's name.
const SEARCH: &str = "FROM odoosyncstatuses t WHERE t.user_id >= ? AND t.user_id < ? \
     AND (? IS NULL OR t.sync_status = ?) \
     AND (? = 0 OR t.blocked IS NOT NULL) \
     AND (? = 0 OR EXISTS (SELECT 1 FROM odoosyncbatches b \
          WHERE b.user_id = t.user_id AND b.status = ?))";

impl SqliteStore {
    pub(super) async fn list_tenants_impl(
        &self,
        after: Option<&TenantId>,
        limit: u32,
    ) -> Result<Vec<TenantState>, StoreError> {
        // Every tenant id sorts after the empty string.
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM odoosyncstatuses WHERE user_id > ? \
             ORDER BY user_id LIMIT ?"
        )))
        .bind(after.map_or("", TenantId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(tenant_from_row).collect()
    }

    pub(super) async fn find_tenants_impl(
        &self,
        search: &TenantSearch,
    ) -> Result<TenantMatches, StoreError> {
        let limit = search.page_size();
        let (low, high) = search.id_range();
        let status = search
            .filter
            .and_then(TenantFilter::sync_status)
            .map(|s| s.as_str());
        let blocked = i64::from(search.filter == Some(TenantFilter::Blocked));
        let failed = i64::from(search.filter == Some(TenantFilter::Failed));
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) {SEARCH}")))
            .bind(&low)
            .bind(&high)
            .bind(status)
            .bind(status)
            .bind(blocked)
            .bind(failed)
            .bind(BatchStatus::PermanentlyFailed.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        // Every tenant id sorts after the empty string.
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} {SEARCH} AND t.user_id > ? ORDER BY t.user_id LIMIT ?"
        )))
        .bind(&low)
        .bind(&high)
        .bind(status)
        .bind(status)
        .bind(blocked)
        .bind(failed)
        .bind(BatchStatus::PermanentlyFailed.as_str())
        .bind(search.after.as_ref().map_or("", TenantId::as_str))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let tenants = rows
            .iter()
            .map(tenant_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TenantMatches::page(
            tenants,
            limit,
            to_u64("tenant count", total)?,
        ))
    }

    pub(super) async fn retry_failed_batches_impl(
        &self,
        user_id: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "UPDATE odoosyncbatches SET status = ?, attempts = 0, next_attempt_at = ?, \
             finished_at = NULL, updated_at = ? WHERE user_id = ? AND status = ?",
        )
        .bind(BatchStatus::Failed.as_str())
        .bind(ts(now))
        .bind(ts(now))
        .bind(user_id.as_str())
        .bind(BatchStatus::PermanentlyFailed.as_str())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(result.rows_affected())
    }

    pub(super) async fn set_operator_block_impl(
        &self,
        user_id: &TenantId,
        error: Option<&TenantError>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = if error.is_some() {
            "UPDATE odoosyncstatuses SET blocked = ?, lease_holder = NULL, lease_token = NULL, \
             lease_expires_at = NULL, fence = fence + 1, updated_at = ? WHERE user_id = ?"
        } else {
            "UPDATE odoosyncstatuses SET blocked = ?, updated_at = ? WHERE user_id = ?"
        };
        let result = sqlx::query(sql)
            .bind(blocked_json(error)?)
            .bind(ts(now))
            .bind(user_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::UnknownTenant(user_id.to_string()));
        }
        Ok(())
    }

    pub(super) async fn overview_impl(
        &self,
        now: DateTime<Utc>,
    ) -> Result<StoreOverview, StoreError> {
        let mut overview = StoreOverview::default();
        let tenants: Vec<(String, i64)> = sqlx::query_as(
            "SELECT sync_status, COUNT(*) FROM odoosyncstatuses GROUP BY sync_status",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for (status, n) in tenants {
            let status = SyncStatus::from_str(&status)
                .map_err(|e| StoreError::Corrupt(format!("tenant sync_status: {e}")))?;
            overview.tenants.insert(status, to_u64("tenant count", n)?);
        }
        let batches: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, SUM(window_count) FROM odoosyncbatches GROUP BY status")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        for (status, n) in batches {
            let status = BatchStatus::from_str(&status)
                .map_err(|e| StoreError::Corrupt(format!("batch status: {e}")))?;
            let n = to_u64("batch count", n)?;
            let counts = &mut overview.batches;
            match status {
                BatchStatus::Pending => counts.pending = n,
                BatchStatus::InProgress => counts.in_progress = n,
                BatchStatus::Done => counts.done = n,
                BatchStatus::Failed => counts.failed = n,
                BatchStatus::PermanentlyFailed => counts.permanently_failed = n,
            }
        }
        let (blocked, live): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(blocked IS NOT NULL), 0), \
             COALESCE(SUM(lease_expires_at > ?), 0) FROM odoosyncstatuses",
        )
        .bind(ts(now))
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        overview.blocked_tenants = to_u64("blocked tenants", blocked)?;
        overview.live_leases = to_u64("live leases", live)?;
        for module in Module::all() {
            let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {table} WHERE deleted_at IS NULL",
                table = module.collection()
            )))
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
            overview.records.insert(module, to_u64("record count", n)?);
        }
        let corrected: Vec<(String, i64)> = sqlx::query_as(
            "SELECT json_extract(m.value, '$.module'), \
             SUM(json_extract(m.value, '$.verifyCorrectedTotal')) \
             FROM odoosyncstatuses t, json_each(t.modules) m \
             WHERE json_extract(m.value, '$.verifyCorrectedTotal') > 0 \
             GROUP BY json_extract(m.value, '$.module')",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for (module, n) in corrected {
            let module = Module::from_str(&module)
                .map_err(|e| StoreError::Corrupt(format!("tenant module: {e}")))?;
            overview
                .verify_corrected
                .insert(module, to_u64("verify count", n)?);
        }
        Ok(overview)
    }
}
