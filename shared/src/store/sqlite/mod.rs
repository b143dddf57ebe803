//! The SQLite store: the embedded default, one file under the data dir, with the behaviour of
//! the MongoDB store (see the [`Store`] trait). Several processes may open the same file: WAL
//! lets readers run beside the one writer, every fenced write runs in a `BEGIN IMMEDIATE`
//! transaction that first checks the lease, and a busy timeout makes writers queue instead of
//! failing at once.

mod codec;
mod connection;
mod operator;
mod records;
mod scheduling;
mod schema;

use crate::store::PlannedModule;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Sqlite, SqlitePool, Transaction};

use self::codec::{
    add_ttl, batch_from_row, blocked_json, col, db_err, modules_json, parse_modules, priority,
    record_from_row, rfc3339, tenant_from_row, to_i64, to_u64, ts, ts_opt, windows_json,
    StoredModule, BATCH_COLUMNS, RECORD_COLUMNS, TENANT_COLUMNS,
};
use super::{
    by_module, Batch, BatchCounts, BatchId, BatchKind, BatchStatus, BatchWrite, DueQuery,
    DueTenant, Lease, NewBatch, Prepared, ReconcileSummary, Store, StoreError, StoreOverview,
    StoredConnection, StoredRecord, StoredVersion, SyncStatus, TenantError, TenantId, TenantState,
    WriteSummary,
};
use crate::modules::Module;

/// The database file inside the data dir.
pub const FILE_NAME: &str = "odoo-sync.sqlite3";

/// How long a writer waits for another (in this or another process) before giving up with
/// `Unavailable`. Fenced transactions are short, so a wait this long means something is stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Writers serialise on SQLite's one write lock, so more connections only help readers (the
/// API's status polls) run beside a writer.
const MAX_CONNECTIONS: u32 = 4;

/// Records per multi-row upsert statement: 6 parameters each, well under SQLite's limit of
/// 32766, and few enough statements for a batch of thousands.
const UPSERT_CHUNK: usize = 100;

/// Alive ids per insert into the reconcile temp table (one JSON array parameter each).
const ALIVE_CHUNK: usize = 10_000;

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and its parent directory, and
    /// creates the schema.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL never corrupts the file; a power cut may lose the last
            // commits, and it also stops every worker on this machine, so no lease or fence
            // handed out in those commits can be in use afterwards.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(BUSY_TIMEOUT * 3)
            .connect_with(options)
            .await
            .map_err(db_err)?;
        schema::apply(&pool).await?;
        Ok(SqliteStore {
            pool,
            path: path.to_path_buf(),
        })
    }

    /// Opens `<data_dir>/odoo-sync.sqlite3`.
    pub async fn open_in_dir(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open(&data_dir.join(FILE_NAME)).await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection, waiting for running statements to end.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction holding SQLite's write lock from its first statement, so that a
    /// read-then-write inside it cannot be interleaved with another writer.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)
    }

    /// A write transaction in which `lease` is the tenant's current lease; `LeaseLost`
    /// (nothing written) otherwise. Every fenced method does all its writes in it.
    async fn fenced(&self, lease: &Lease) -> Result<Transaction<'static, Sqlite>, StoreError> {
        let mut tx = self.begin_write().await?;
        let held: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM odoosyncstatuses \
             WHERE user_id = ? AND lease_token = ? AND lease_holder = ?",
        )
        .bind(lease.user_id.as_str())
        .bind(lease.token)
        .bind(lease.holder.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if held.is_none() {
            tx.rollback().await.map_err(db_err)?;
            return Err(lease_lost(&lease.user_id));
        }
        Ok(tx)
    }
}

fn lease_lost(user_id: &TenantId) -> StoreError {
    StoreError::LeaseLost {
        user_id: user_id.to_string(),
    }
}

/// The tenant row of a fenced transaction (it exists: the fence check found it).
async fn tenant_in(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: &TenantId,
) -> Result<SqliteRow, StoreError> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {TENANT_COLUMNS}, next_seq FROM odoosyncstatuses WHERE user_id = ?"
    )))
    .bind(user_id.as_str())
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?
    .ok_or_else(|| lease_lost(user_id))
}

/// The tenant's stored module states, read inside a fenced transaction.
async fn modules_in(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: &TenantId,
) -> Result<Vec<StoredModule>, StoreError> {
    let row = tenant_in(tx, user_id).await?;
    parse_modules(&col::<String>(&row, "modules")?)
}

/// Reads the tenant's modules, lets `change` edit them and writes them back with `updated_at`.
/// Only called inside a write transaction, so no other writer can slip in between.
async fn update_modules(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: &TenantId,
    now: DateTime<Utc>,
    change: impl FnOnce(&mut Vec<StoredModule>),
) -> Result<(), StoreError> {
    let mut modules = modules_in(tx, user_id).await?;
    change(&mut modules);
    sqlx::query("UPDATE odoosyncstatuses SET modules = ?, updated_at = ? WHERE user_id = ?")
        .bind(modules_json(&modules)?)
        .bind(ts(now))
        .bind(user_id.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The stored state of `module`, if prepare recorded it. Batches are only made for recorded
/// modules, so a missing one is left alone rather than invented without its model.
fn module_mut(modules: &mut [StoredModule], module: Module) -> Option<&mut StoredModule> {
    modules.iter_mut().find(|m| m.module == module.as_str())
}

/// Inserts `batches` for the tenant with consecutive `seq` numbers from its counter.
async fn insert_batches(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: &TenantId,
    batches: &[NewBatch],
    now: DateTime<Utc>,
) -> Result<Vec<Batch>, StoreError> {
    let row = tenant_in(tx, user_id).await?;
    let mut seq: i64 = col(&row, "next_seq")?;
    let mut created = Vec::with_capacity(batches.len());
    for new in batches {
        let batch = Batch::pending(user_id, new, seq, now);
        sqlx::query(
            "INSERT INTO odoosyncbatches (id, user_id, module, kind, priority, window_start, \
             window_end, status, attempts, expected_count, windows, window_count, \
             next_attempt_at, seq, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(batch.id.as_str())
        .bind(user_id.as_str())
        .bind(batch.module.as_str())
        .bind(batch.kind.as_str())
        .bind(priority(batch.kind))
        .bind(ts(batch.window_start))
        .bind(ts(batch.window_end))
        .bind(batch.status.as_str())
        .bind(
            batch
                .expected_count
                .map(|c| to_i64("expected_count", c))
                .transpose()?,
        )
        .bind(windows_json(&batch.windows)?)
        .bind(to_i64("window_count", batch.window_count())?)
        .bind(ts(now))
        .bind(seq)
        .bind(ts(now))
        .bind(ts(now))
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        created.push(batch);
        seq += 1;
    }
    sqlx::query("UPDATE odoosyncstatuses SET next_seq = ? WHERE user_id = ?")
        .bind(seq)
        .bind(user_id.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(created)
}

/// Makes an `in_progress` tenant `done` when none of its initial batches is left to run;
/// returns whether it did.
async fn finish_initial_in(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: &TenantId,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let unfinished: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM odoosyncbatches WHERE user_id = ? AND kind = ? \
         AND status IN (?, ?, ?) LIMIT 1",
    )
    .bind(user_id.as_str())
    .bind(BatchKind::Initial.as_str())
    .bind(BatchStatus::Pending.as_str())
    .bind(BatchStatus::InProgress.as_str())
    .bind(BatchStatus::Failed.as_str())
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?;
    if unfinished.is_some() {
        return Ok(false);
    }
    let finished = sqlx::query(
        "UPDATE odoosyncstatuses SET sync_status = ?, updated_at = ? \
         WHERE user_id = ? AND sync_status = ?",
    )
    .bind(SyncStatus::Done.as_str())
    .bind(ts(now))
    .bind(user_id.as_str())
    .bind(SyncStatus::InProgress.as_str())
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(finished.rows_affected() == 1)
}

/// Marks a batch of the tenant done; `UnknownBatch` when the tenant has no such batch.
async fn finish_batch(
    tx: &mut Transaction<'static, Sqlite>,
    batch: &Batch,
    fetched: usize,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    finish_batches(tx, &batch.user_id, &[(batch, fetched)], now).await
}

/// Marks the batches `done` with their fetched counts, in one statement (a fetch group may
/// hold a hundred windows); `UnknownBatch` when one is missing.
async fn finish_batches(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: &TenantId,
    batches: &[(&Batch, usize)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let counts: serde_json::Map<String, serde_json::Value> = batches
        .iter()
        .map(|(batch, fetched)| {
            (
                batch.id.to_string(),
                serde_json::Value::from(*fetched as u64),
            )
        })
        .collect();
    let counts = serde_json::Value::Object(counts).to_string();
    let result = sqlx::query(
        "UPDATE odoosyncbatches SET status = ?1, finished_at = ?2, updated_at = ?2, \
         fetched_count = (SELECT value FROM json_each(?3) WHERE key = odoosyncbatches.id) \
         WHERE user_id = ?4 AND id IN (SELECT key FROM json_each(?3))",
    )
    .bind(BatchStatus::Done.as_str())
    .bind(ts(now))
    .bind(counts)
    .bind(user_id.as_str())
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    if result.rows_affected() as usize != batches.len() {
        let missing = batches
            .iter()
            .map(|(b, _)| b.id.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(StoreError::UnknownBatch(missing));
    }
    Ok(())
}

/// A batch handed in for a lease must be one of the lease's tenant.
fn check_batch_tenant(lease: &Lease, batch: &Batch) -> Result<(), StoreError> {
    if batch.user_id == lease.user_id {
        Ok(())
    } else {
        Err(StoreError::UnknownBatch(batch.id.to_string()))
    }
}

/// Loads `alive_ids` into this connection's temp table, emptied first.
async fn load_alive_ids(
    tx: &mut Transaction<'static, Sqlite>,
    alive_ids: &[i64],
) -> Result<(), StoreError> {
    // A temp table lives with the connection, which the pool reuses: create once, empty each
    // time.
    for sql in [
        "CREATE TEMP TABLE IF NOT EXISTS reconcile_alive (id INTEGER PRIMARY KEY)",
        "DELETE FROM temp.reconcile_alive",
    ] {
        sqlx::query(sql).execute(&mut **tx).await.map_err(db_err)?;
    }
    for chunk in alive_ids.chunks(ALIVE_CHUNK) {
        let ids = serde_json::to_string(chunk)
            .map_err(|e| StoreError::Backend(format!("alive ids: {e}")))?;
        sqlx::query(
            "INSERT OR IGNORE INTO temp.reconcile_alive (id) SELECT value FROM json_each(?)",
        )
        .bind(ids)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn ensure_tenant(&self, user_id: &TenantId) -> Result<TenantState, StoreError> {
        let now = ts(Utc::now());
        // The no-op update makes RETURNING give the row whether it was inserted or existed,
        // in one statement. A tenant deleted before continues from its last fence.
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO odoosyncstatuses (user_id, sync_status, fence, created_at, updated_at) \
             VALUES (?, ?, \
                     COALESCE((SELECT fence FROM odoosyncfences WHERE user_id = ?), 0), ?, ?) \
             ON CONFLICT (user_id) DO UPDATE SET updated_at = odoosyncstatuses.updated_at \
             RETURNING {TENANT_COLUMNS}"
        )))
        .bind(user_id.as_str())
        .bind(SyncStatus::NotStarted.as_str())
        .bind(user_id.as_str())
        .bind(&now)
        .bind(&now)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        tenant_from_row(&row)
    }

    async fn tenant(&self, user_id: &TenantId) -> Result<Option<TenantState>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM odoosyncstatuses WHERE user_id = ?"
        )))
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn delete_tenant(&self, user_id: &TenantId) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO odoosyncfences (user_id, fence) \
             SELECT user_id, fence FROM odoosyncstatuses WHERE user_id = ? \
             ON CONFLICT (user_id) DO UPDATE SET fence = max(fence, excluded.fence)",
        )
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let tables = Module::all()
            .into_iter()
            .map(|m| m.collection())
            .chain(["odoosyncbatches", "odoosyncstatuses"]);
        for table in tables {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE user_id = ?"
            )))
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn save_connection(
        &self,
        user_id: &TenantId,
        connection: &StoredConnection,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.save_connection_impl(user_id, connection, now).await
    }

    async fn connection(&self, user_id: &TenantId) -> Result<Option<StoredConnection>, StoreError> {
        self.connection_impl(user_id).await
    }

    async fn acquire_lease(
        &self,
        user_id: &TenantId,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let now = Utc::now();
        let expires_at = add_ttl(now, ttl)?;
        // SQLite evaluates every SET expression on the old row, so both read the old fence.
        let token: Option<i64> = sqlx::query_scalar(
            "UPDATE odoosyncstatuses SET fence = fence + 1, lease_token = fence + 1, \
             lease_holder = ?, lease_expires_at = ? \
             WHERE user_id = ? AND (lease_holder IS NULL OR lease_expires_at <= ?) \
             RETURNING lease_token",
        )
        .bind(holder)
        .bind(ts(expires_at))
        .bind(user_id.as_str())
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        if let Some(token) = token {
            return Ok(Some(Lease {
                user_id: user_id.clone(),
                holder: holder.to_string(),
                token,
                expires_at,
            }));
        }
        match self.tenant(user_id).await? {
            Some(_) => Ok(None),
            None => Err(StoreError::UnknownTenant(user_id.to_string())),
        }
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
        let expires_at = add_ttl(Utc::now(), ttl)?;
        let result = sqlx::query(
            "UPDATE odoosyncstatuses SET lease_expires_at = ? \
             WHERE user_id = ? AND lease_token = ? AND lease_holder = ?",
        )
        .bind(ts(expires_at))
        .bind(lease.user_id.as_str())
        .bind(lease.token)
        .bind(lease.holder.as_str())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if result.rows_affected() == 0 {
            return Err(lease_lost(&lease.user_id));
        }
        Ok(Lease {
            expires_at,
            ..lease.clone()
        })
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        // The fence stays: the next holder's token must still be higher than this one.
        sqlx::query(
            "UPDATE odoosyncstatuses \
             SET lease_holder = NULL, lease_token = NULL, lease_expires_at = NULL \
             WHERE user_id = ? AND lease_token = ? AND lease_holder = ?",
        )
        .bind(lease.user_id.as_str())
        .bind(lease.token)
        .bind(lease.holder.as_str())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn record_prepare(
        &self,
        lease: &Lease,
        prepared: &Prepared,
        batches: &[NewBatch],
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, StoreError> {
        let mut tx = self.fenced(lease).await?;
        let user_id = &lease.user_id;
        sqlx::query("DELETE FROM odoosyncbatches WHERE user_id = ?")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // The modules become the prepared ones, in their order; a module already synced keeps
        // its watermark and times (its mirrored records stay too), with the model read now.
        let before = modules_in(&mut tx, user_id).await?;
        let modules: Vec<StoredModule> = prepared
            .modules
            .iter()
            .map(|planned| {
                let kept = before.iter().find(|m| m.module == planned.module.as_str());
                StoredModule {
                    model: planned.model.clone(),
                    extra_fields: planned.extra_fields.clone(),
                    ..kept.cloned().unwrap_or_else(|| {
                        StoredModule::new(planned.module, &planned.model, &ts(now))
                    })
                }
            })
            .collect();
        let status = if batches.is_empty() {
            SyncStatus::Done
        } else {
            SyncStatus::InProgress
        };
        sqlx::query(
            "UPDATE odoosyncstatuses SET odoo_version = ?, protocol = ?, employee_access = ?, \
             modules = ?, sync_status = ?, blocked = NULL, updated_at = ? WHERE user_id = ?",
        )
        .bind(prepared.odoo_version.as_str())
        .bind(prepared.protocol.as_str())
        .bind(prepared.employee_access.as_str())
        .bind(modules_json(&modules)?)
        .bind(status.as_str())
        .bind(ts(now))
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let created = insert_batches(&mut tx, user_id, batches, now).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(created)
    }

    async fn add_batches(
        &self,
        lease: &Lease,
        batches: &[NewBatch],
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, StoreError> {
        let mut tx = self.fenced(lease).await?;
        let created = insert_batches(&mut tx, &lease.user_id, batches, now).await?;
        let stamp = Some(ts(now));
        update_modules(&mut tx, &lease.user_id, now, |modules| {
            for batch in batches {
                let Some(state) = module_mut(modules, batch.module) else {
                    continue;
                };
                match batch.kind {
                    BatchKind::Incremental => state.last_incremental_at = stamp.clone(),
                    BatchKind::Reconcile => state.last_reconcile_at = stamp.clone(),
                    BatchKind::Verify => state.last_verify_at = stamp.clone(),
                    BatchKind::Initial => {}
                }
            }
        })
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(created)
    }

    async fn set_sync_status(
        &self,
        lease: &Lease,
        status: SyncStatus,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.fenced(lease).await?;
        sqlx::query(
            "UPDATE odoosyncstatuses SET sync_status = ?, updated_at = ? WHERE user_id = ?",
        )
        .bind(status.as_str())
        .bind(ts(now))
        .bind(lease.user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn set_blocked(
        &self,
        lease: &Lease,
        error: Option<&TenantError>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.fenced(lease).await?;
        sqlx::query("UPDATE odoosyncstatuses SET blocked = ?, updated_at = ? WHERE user_id = ?")
            .bind(blocked_json(error)?)
            .bind(ts(now))
            .bind(lease.user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn add_modules(
        &self,
        lease: &Lease,
        added: &[PlannedModule],
        batches: &[NewBatch],
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, StoreError> {
        let mut tx = self.fenced(lease).await?;
        let stamp = ts(now);
        update_modules(&mut tx, &lease.user_id, now, |modules| {
            for planned in added {
                if module_mut(modules, planned.module).is_none() {
                    let mut state = StoredModule::new(planned.module, &planned.model, &stamp);
                    state.extra_fields = planned.extra_fields.clone();
                    modules.push(state);
                }
            }
        })
        .await?;
        let created = insert_batches(&mut tx, &lease.user_id, batches, now).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(created)
    }

    async fn set_module_fields(
        &self,
        lease: &Lease,
        module: Module,
        extra_fields: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.fenced(lease).await?;
        update_modules(&mut tx, &lease.user_id, now, |modules| {
            if let Some(state) = module_mut(modules, module) {
                state.extra_fields = extra_fields.to_vec();
            }
        })
        .await?;
        tx.commit().await.map_err(db_err)
    }

    async fn next_runnable_batch(
        &self,
        user_id: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<Option<Batch>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {BATCH_COLUMNS} FROM odoosyncbatches WHERE user_id = ? \
             AND (status IN (?, ?) OR (status = ? AND next_attempt_at <= ?)) \
             ORDER BY priority, seq LIMIT 1"
        )))
        .bind(user_id.as_str())
        .bind(BatchStatus::Pending.as_str())
        .bind(BatchStatus::InProgress.as_str())
        .bind(BatchStatus::Failed.as_str())
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(batch_from_row).transpose()
    }

    async fn next_runnable_batches(
        &self,
        user_id: &TenantId,
        now: DateTime<Utc>,
        max: usize,
    ) -> Result<Vec<Batch>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {BATCH_COLUMNS} FROM odoosyncbatches WHERE user_id = ? \
             AND (status IN (?, ?) OR (status = ? AND next_attempt_at <= ?)) \
             ORDER BY priority, seq LIMIT ?"
        )))
        .bind(user_id.as_str())
        .bind(BatchStatus::Pending.as_str())
        .bind(BatchStatus::InProgress.as_str())
        .bind(BatchStatus::Failed.as_str())
        .bind(ts(now))
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(batch_from_row).collect()
    }

    async fn start_batch(
        &self,
        lease: &Lease,
        batch_id: &BatchId,
        now: DateTime<Utc>,
    ) -> Result<Batch, StoreError> {
        let mut tx = self.fenced(lease).await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE odoosyncbatches SET status = ?, attempts = attempts + 1, started_at = ?, \
             lease_token = ?, updated_at = ? WHERE id = ? AND user_id = ? \
             RETURNING {BATCH_COLUMNS}"
        )))
        .bind(BatchStatus::InProgress.as_str())
        .bind(ts(now))
        .bind(lease.token)
        .bind(ts(now))
        .bind(batch_id.as_str())
        .bind(lease.user_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            tx.rollback().await.map_err(db_err)?;
            return Err(StoreError::UnknownBatch(batch_id.to_string()));
        };
        let batch = batch_from_row(&row)?;
        tx.commit().await.map_err(db_err)?;
        Ok(batch)
    }

    async fn complete_batches(
        &self,
        lease: &Lease,
        writes: &[BatchWrite<'_>],
        now: DateTime<Utc>,
    ) -> Result<WriteSummary, StoreError> {
        for write in writes {
            check_batch_tenant(lease, write.batch)?;
        }
        let mut tx = self.fenced(lease).await?;
        // Dropping `tx` on an error rolls everything back: the group is all or nothing.
        let mut written = 0;
        let mut distinct = 0;
        let finished: Vec<(&Batch, usize)> =
            writes.iter().map(|w| (w.batch, w.records.len())).collect();
        finish_batches(&mut tx, &lease.user_id, &finished, now).await?;
        let mut verified = Vec::new();
        let mut watermarks: Vec<(Module, String)> = Vec::new();
        for part in by_module(writes) {
            let mut renames = Vec::new();
            for chunk in part.records.chunks(UPSERT_CHUNK) {
                let (count, renamed) = records::upsert_chunk(
                    &mut tx,
                    part.module,
                    &lease.user_id,
                    chunk,
                    part.truth,
                    now,
                )
                .await?;
                written += count;
                renames.extend(renamed);
            }
            records::follow_renames(&mut tx, part.module, &lease.user_id, &renames).await?;
            distinct += part.records.len() as u64;
            if part.verify {
                verified.push((part.module, part.records.len() as u64));
            }
            if let Some(at) = part.watermark {
                watermarks.push((part.module, ts(at)));
            }
        }
        if !verified.is_empty() {
            update_modules(&mut tx, &lease.user_id, now, |modules| {
                for (module, corrected) in &verified {
                    if let Some(state) = module_mut(modules, *module) {
                        state.last_verify_corrected = Some(*corrected);
                        state.verify_corrected_total += corrected;
                    }
                }
            })
            .await?;
        }
        if !watermarks.is_empty() {
            update_modules(&mut tx, &lease.user_id, now, |modules| {
                for (module, new) in &watermarks {
                    if let Some(state) = module_mut(modules, *module) {
                        // Fixed-width text compares as time; a missing or unreadable old
                        // value is replaced.
                        if state
                            .watermark
                            .as_deref()
                            .is_none_or(|old| old < new.as_str())
                        {
                            state.watermark = Some(new.clone());
                        }
                    }
                }
            })
            .await?;
        }
        let finished_initial = if writes.iter().any(|w| w.batch.kind == BatchKind::Initial) {
            finish_initial_in(&mut tx, &lease.user_id, now).await?
        } else {
            false
        };
        tx.commit().await.map_err(db_err)?;
        Ok(WriteSummary {
            written,
            skipped_older: distinct.saturating_sub(written),
            finished_initial,
        })
    }

    async fn complete_reconcile(
        &self,
        lease: &Lease,
        batch: &Batch,
        alive_ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<ReconcileSummary, StoreError> {
        check_batch_tenant(lease, batch)?;
        let mut tx = self.fenced(lease).await?;
        finish_batch(&mut tx, batch, alive_ids.len(), now).await?;
        load_alive_ids(&mut tx, alive_ids).await?;
        let table = batch.module.collection();
        // The document's deletedAt follows the column, so readers of either agree.
        let marked = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET deleted_at = ?, document = json_set(document, '$.deletedAt', ?) \
             WHERE user_id = ? AND deleted_at IS NULL \
             AND odoo_id NOT IN (SELECT id FROM temp.reconcile_alive)"
        )))
        .bind(ts(now))
        .bind(rfc3339(now))
        .bind(lease.user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let restored = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET deleted_at = NULL, \
             document = json_set(document, '$.deletedAt', NULL) \
             WHERE user_id = ? AND deleted_at IS NOT NULL \
             AND odoo_id IN (SELECT id FROM temp.reconcile_alive)"
        )))
        .bind(lease.user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("DELETE FROM temp.reconcile_alive")
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(ReconcileSummary {
            marked_deleted: marked.rows_affected(),
            restored: restored.rows_affected(),
        })
    }

    async fn fail_batch(
        &self,
        lease: &Lease,
        batch_id: &BatchId,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (status, finished_at) = match retry_at {
            Some(_) => (BatchStatus::Failed, None),
            None => (BatchStatus::PermanentlyFailed, Some(now)),
        };
        let mut tx = self.fenced(lease).await?;
        let result = sqlx::query(
            "UPDATE odoosyncbatches SET status = ?, last_error = ?, \
             next_attempt_at = COALESCE(?, next_attempt_at), finished_at = ?, updated_at = ? \
             WHERE id = ? AND user_id = ?",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(ts_opt(retry_at))
        .bind(ts_opt(finished_at))
        .bind(ts(now))
        .bind(batch_id.as_str())
        .bind(lease.user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if result.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Err(StoreError::UnknownBatch(batch_id.to_string()));
        }
        let finished_initial = match retry_at {
            None => finish_initial_in(&mut tx, &lease.user_id, now).await?,
            Some(_) => false,
        };
        tx.commit().await.map_err(db_err)?;
        Ok(finished_initial)
    }

    async fn batch_counts(
        &self,
        user_id: &TenantId,
        kind: BatchKind,
    ) -> Result<BatchCounts, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, SUM(window_count) FROM odoosyncbatches \
             WHERE user_id = ? AND kind = ? GROUP BY status",
        )
        .bind(user_id.as_str())
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut counts = BatchCounts::default();
        for (status, n) in rows {
            let status = BatchStatus::from_str(&status)
                .map_err(|e| StoreError::Corrupt(format!("batch status: {e}")))?;
            let n = to_u64("batch count", n)?;
            match status {
                BatchStatus::Pending => counts.pending = n,
                BatchStatus::InProgress => counts.in_progress = n,
                BatchStatus::Done => counts.done = n,
                BatchStatus::Failed => counts.failed = n,
                BatchStatus::PermanentlyFailed => counts.permanently_failed = n,
            }
        }
        Ok(counts)
    }

    async fn batches(&self, user_id: &TenantId) -> Result<Vec<Batch>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {BATCH_COLUMNS} FROM odoosyncbatches WHERE user_id = ? ORDER BY seq"
        )))
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(batch_from_row).collect()
    }

    async fn records(
        &self,
        user_id: &TenantId,
        module: Module,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RECORD_COLUMNS} FROM {table} WHERE user_id = ? AND odoo_id > ? \
             ORDER BY odoo_id LIMIT ?",
            table = module.collection()
        )))
        .bind(user_id.as_str())
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(record_from_row).collect()
    }

    async fn stored_versions(
        &self,
        user_id: &TenantId,
        module: Module,
    ) -> Result<Vec<StoredVersion>, StoreError> {
        records::stored_versions(&self.pool, user_id, module).await
    }

    async fn records_by_ids(
        &self,
        user_id: &TenantId,
        module: Module,
        ids: &[i64],
    ) -> Result<Vec<StoredRecord>, StoreError> {
        records::records_by_ids(&self.pool, user_id, module, ids).await
    }

    async fn record_count(
        &self,
        user_id: &TenantId,
        module: Module,
        include_deleted: bool,
    ) -> Result<u64, StoreError> {
        let live_only = if include_deleted {
            ""
        } else {
            " AND deleted_at IS NULL"
        };
        let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE user_id = ?{live_only}",
            table = module.collection()
        )))
        .bind(user_id.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        u64::try_from(count).map_err(|_| StoreError::Corrupt(format!("record count {count}")))
    }

    async fn due_tenants(&self, query: &DueQuery) -> Result<Vec<DueTenant>, StoreError> {
        scheduling::due_tenants(&self.pool, query).await
    }

    async fn claim_enqueue(
        &self,
        user_ids: &[TenantId],
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Vec<TenantId>, StoreError> {
        scheduling::claim_enqueue(&self.pool, user_ids, now, stale_before).await
    }

    async fn clear_enqueue(&self, user_id: &TenantId) -> Result<(), StoreError> {
        scheduling::clear_enqueue(&self.pool, user_id).await
    }

    async fn list_tenants(
        &self,
        after: Option<&TenantId>,
        limit: u32,
    ) -> Result<Vec<TenantState>, StoreError> {
        self.list_tenants_impl(after, limit).await
    }

    async fn find_tenants(
        &self,
        search: &crate::store::TenantSearch,
    ) -> Result<crate::store::TenantMatches, StoreError> {
        self.find_tenants_impl(search).await
    }

    async fn retry_failed_batches(
        &self,
        user_id: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.retry_failed_batches_impl(user_id, now).await
    }

    async fn set_operator_block(
        &self,
        user_id: &TenantId,
        error: Option<&TenantError>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.set_operator_block_impl(user_id, error, now).await
    }

    async fn set_connection_modules(
        &self,
        user_id: &TenantId,
        modules: Option<&[String]>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT connection FROM odoosyncstatuses WHERE user_id = ?")
                .bind(user_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let Some(Some(json)) = stored else {
            return Err(StoreError::UnknownTenant(user_id.to_string()));
        };
        let mut connection: StoredConnection = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("tenant {user_id}: connection: {e}")))?;
        connection.modules = modules.map(<[String]>::to_vec);
        let json = serde_json::to_string(&connection)
            .map_err(|e| StoreError::Backend(format!("encoding the connection: {e}")))?;
        sqlx::query("UPDATE odoosyncstatuses SET connection = ? WHERE user_id = ?")
            .bind(json)
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        update_modules(&mut tx, user_id, now, |modules| {
            for state in modules.iter_mut() {
                state.last_incremental_at = None;
            }
        })
        .await?;
        tx.commit().await.map_err(db_err)
    }

    async fn request_verify(
        &self,
        user_id: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let known: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM odoosyncstatuses WHERE user_id = ?")
                .bind(user_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        if known.is_none() {
            return Err(StoreError::UnknownTenant(user_id.to_string()));
        }
        update_modules(&mut tx, user_id, now, |modules| {
            for state in modules.iter_mut() {
                state.last_verify_at = None;
            }
        })
        .await?;
        tx.commit().await.map_err(db_err)
    }

    async fn overview(&self, now: DateTime<Utc>) -> Result<StoreOverview, StoreError> {
        self.overview_impl(now).await
    }
}
