//! The tenant's saved Odoo connection on SQLite: the `connection` column of
//! `odoosyncstatuses`, JSON of [`StoredConnection`] (the secret stays encrypted).

use chrono::{DateTime, Utc};

use super::codec::{db_err, ts};
use super::SqliteStore;
use crate::store::{StoreError, StoredConnection, SyncStatus, TenantId};

impl SqliteStore {
    /// See [`crate::store::Store::save_connection`]. One write transaction: the tenant is
    /// created if needed (continuing from the fence of a deleted tenant of the same id), the
    /// connection replaced, the lease dropped and the fence bumped (an old holder's writes
    /// fail), the plan and the per-module state forgotten, and the batches deleted.
    pub(super) async fn save_connection_impl(
        &self,
        user_id: &TenantId,
        connection: &StoredConnection,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(connection)
            .map_err(|e| StoreError::Backend(format!("encoding the connection: {e}")))?;
        let now = ts(now);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO odoosyncstatuses (user_id, sync_status, fence, created_at, updated_at) \
             VALUES (?, ?, COALESCE((SELECT fence FROM odoosyncfences WHERE user_id = ?), 0), \
                     ?, ?) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id.as_str())
        .bind(SyncStatus::NotStarted.as_str())
        .bind(user_id.as_str())
        .bind(&now)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "UPDATE odoosyncstatuses SET connection = ?, sync_status = ?, blocked = NULL, \
             odoo_version = NULL, protocol = NULL, employee_access = NULL, modules = '[]', \
             lease_holder = NULL, lease_token = NULL, lease_expires_at = NULL, \
             fence = fence + 1, updated_at = ? WHERE user_id = ?",
        )
        .bind(json)
        .bind(SyncStatus::NotStarted.as_str())
        .bind(&now)
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("DELETE FROM odoosyncbatches WHERE user_id = ?")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    /// See [`crate::store::Store::connection`].
    pub(super) async fn connection_impl(
        &self,
        user_id: &TenantId,
    ) -> Result<Option<StoredConnection>, StoreError> {
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT connection FROM odoosyncstatuses WHERE user_id = ?")
                .bind(user_id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        stored
            .flatten()
            .map(|json| {
                serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("tenant {user_id}: connection: {e}")))
            })
            .transpose()
    }
}
