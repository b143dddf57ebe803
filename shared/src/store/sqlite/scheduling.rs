//! The scheduler's queries on SQLite (issue 4): due tenants and the per-tenant queued-job
//! mark (`enqueued_at`, a column added by `schema`), the same behaviour as the MongoDB store.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, SqlitePool};

use super::codec::{db_err, ts};
use crate::store::{DueQuery, DueTenant, DueWork, StoreError, SyncStatus, TenantId};

/// Tenants claimed per write transaction.
const CHUNK: usize = 500;

/// Not blocked, no live lease, no recent job queued. Binds: now, enqueued_before.
const FREE: &str = "t.blocked IS NULL \
     AND (t.lease_holder IS NULL OR t.lease_expires_at <= ?) \
     AND (t.enqueued_at IS NULL OR t.enqueued_at < ?)";

/// A runnable batch of the tenant `t`. Binds: now.
const RUNNABLE: &str = "SELECT 1 FROM odoosyncbatches b WHERE b.user_id = t.user_id \
     AND (b.status IN ('pending', 'in_progress') OR (b.status = 'failed' AND b.next_attempt_at <= ?))";

pub(super) async fn due_tenants(
    pool: &SqlitePool,
    query: &DueQuery,
) -> Result<Vec<DueTenant>, StoreError> {
    let mut due = Vec::new();
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    if limit == 0 {
        return Ok(due);
    }
    let now = ts(query.now);
    let stale = ts(query.enqueued_before);

    {
        let ids: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT t.user_id FROM odoosyncstatuses t \
             WHERE t.sync_status = ? AND t.connection IS NOT NULL AND {FREE} LIMIT ?"
        )))
        .bind(SyncStatus::NotStarted.as_str())
        .bind(&now)
        .bind(&stale)
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
        push(&mut due, ids, DueWork::Prepare);
    }

    let ids: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT t.user_id FROM odoosyncstatuses t \
         WHERE t.sync_status IN (?, ?) AND {FREE} AND EXISTS ({RUNNABLE}) LIMIT ?"
    )))
    .bind(SyncStatus::InProgress.as_str())
    .bind(SyncStatus::Done.as_str())
    .bind(&now)
    .bind(&stale)
    .bind(&now)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    push(&mut due, ids, DueWork::Process);

    let ids: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT t.user_id FROM odoosyncstatuses t \
         WHERE t.sync_status = ? AND {FREE} \
         AND EXISTS (SELECT 1 FROM json_each(t.modules) m WHERE \
             json_extract(m.value, '$.lastIncrementalAt') IS NULL \
             OR json_extract(m.value, '$.lastIncrementalAt') < ? \
             OR json_extract(m.value, '$.lastReconcileAt') IS NULL \
             OR json_extract(m.value, '$.lastReconcileAt') < ? \
             OR json_extract(m.value, '$.lastVerifyAt') IS NULL \
             OR json_extract(m.value, '$.lastVerifyAt') < ?) \
         AND NOT EXISTS ({RUNNABLE}) LIMIT ?"
    )))
    .bind(SyncStatus::Done.as_str())
    .bind(&now)
    .bind(&stale)
    .bind(ts(query.incremental_before))
    .bind(ts(query.reconcile_before))
    .bind(ts(query.verify_before))
    .bind(&now)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    push(&mut due, ids, DueWork::FollowUp);
    Ok(due)
}

fn push(due: &mut Vec<DueTenant>, ids: Vec<String>, work: DueWork) {
    due.extend(
        ids.iter()
            .filter_map(|id| TenantId::parse(id).ok())
            .map(|user_id| DueTenant { user_id, work }),
    );
}

pub(super) async fn claim_enqueue(
    pool: &SqlitePool,
    user_ids: &[TenantId],
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<Vec<TenantId>, StoreError> {
    let mut claimed = Vec::new();
    let (now, stale) = (ts(now), ts(stale_before));
    for chunk in user_ids.chunks(CHUNK) {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        for user_id in chunk {
            let won: Option<String> = sqlx::query_scalar(
                "UPDATE odoosyncstatuses SET enqueued_at = ? \
                 WHERE user_id = ? AND (enqueued_at IS NULL OR enqueued_at < ?) \
                 RETURNING user_id",
            )
            .bind(&now)
            .bind(user_id.as_str())
            .bind(&stale)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            if won.is_some() {
                claimed.push(user_id.clone());
            }
        }
        tx.commit().await.map_err(db_err)?;
    }
    Ok(claimed)
}

pub(super) async fn clear_enqueue(pool: &SqlitePool, user_id: &TenantId) -> Result<(), StoreError> {
    sqlx::query("UPDATE odoosyncstatuses SET enqueued_at = NULL WHERE user_id = ?")
        .bind(user_id.as_str())
        .execute(pool)
        .await
        .map_err(db_err)?;
    Ok(())
}
