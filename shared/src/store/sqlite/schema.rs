//! The SQLite schema: the same collections as MongoDB (DESIGN.md 4.2) as tables, created
//! idempotently at open. Times are fixed-width UTC text (see `codec::ts`), JSON is text.

use sqlx::SqlitePool;

use super::codec::db_err;
use crate::modules::Module;
use crate::store::StoreError;

/// Bumped when the schema changes; stored in `PRAGMA user_version` so a later version can
/// tell which migrations an existing file needs.
const SCHEMA_VERSION: i64 = 3;

/// Tenants and batches. `ON DELETE CASCADE` is a safety net: `delete_tenant` deletes the
/// children itself.
const BASE_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS odoosyncstatuses (
        user_id          TEXT PRIMARY KEY NOT NULL,
        sync_status      TEXT NOT NULL,
        blocked          TEXT,
        odoo_version     TEXT,
        protocol         TEXT,
        employee_access  TEXT,
        modules          TEXT NOT NULL DEFAULT '[]',
        lease_holder     TEXT,
        lease_token      INTEGER,
        lease_expires_at TEXT,
        fence            INTEGER NOT NULL DEFAULT 0,
        next_seq         INTEGER NOT NULL DEFAULT 0,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS odoosyncbatches (
        id              TEXT PRIMARY KEY NOT NULL,
        user_id         TEXT NOT NULL
                        REFERENCES odoosyncstatuses(user_id) ON DELETE CASCADE,
        module          TEXT NOT NULL,
        kind            TEXT NOT NULL,
        priority        INTEGER NOT NULL,
        window_start    TEXT NOT NULL,
        window_end      TEXT NOT NULL,
        status          TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        expected_count  INTEGER,
        fetched_count   INTEGER,
        last_error      TEXT,
        next_attempt_at TEXT NOT NULL,
        lease_token     INTEGER,
        seq             INTEGER NOT NULL,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        started_at      TEXT,
        finished_at     TEXT
    )",
    // next_runnable_batch and batch_counts look up by tenant and status; batches() lists
    // by tenant in seq order.
    "CREATE INDEX IF NOT EXISTS odoosyncbatches_runnable
        ON odoosyncbatches (user_id, status, priority, seq)",
    "CREATE INDEX IF NOT EXISTS odoosyncbatches_by_seq ON odoosyncbatches (user_id, seq)",
    // The last fence of each deleted tenant. A tenant saved again after a deletion continues
    // from it, so a worker still holding a lease from before the deletion can never see its
    // token handed out again (the fencing token is never reused for a user id).
    "CREATE TABLE IF NOT EXISTS odoosyncfences (
        user_id TEXT PRIMARY KEY NOT NULL,
        fence   INTEGER NOT NULL
    )",
];

/// Columns added after version 1, as `(table, column, declaration)`: added to a table that
/// lacks them, so a file made by an older version is brought up to date at open.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    // Version 2: the tenant's saved Odoo connection (JSON of `StoredConnection`, the secret
    // encrypted), NULL until one is saved.
    ("odoosyncstatuses", "connection", "TEXT"),
    // The scheduler's queued-job mark (issue 4), NULL when no job is queued.
    ("odoosyncstatuses", "enqueued_at", "TEXT"),
    // Version 3: a fetch group's windows in one batch (JSON of `BatchWindow`s, NULL for a
    // batch of one window) and how many windows progress counts it as.
    ("odoosyncbatches", "windows", "TEXT"),
    (
        "odoosyncbatches",
        "window_count",
        "INTEGER NOT NULL DEFAULT 1",
    ),
];

/// Adds `column` to `table` unless it is there.
async fn add_column_if_missing(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    table: &str,
    column: &str,
    declaration: &str,
) -> Result<(), StoreError> {
    let present: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM pragma_table_info(?) WHERE name = ?")
            .bind(table)
            .bind(column)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
    if present.is_none() {
        // Names and declarations are constants of this file.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {table} ADD COLUMN {column} {declaration}"
        )))
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

/// One record table per module, named as its MongoDB collection. The primary key is the
/// unique `{userId, odooId}` index of DESIGN.md 4.2 and serves the per-tenant id-ordered scans.
fn record_table(module: Module) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
            user_id    TEXT NOT NULL REFERENCES odoosyncstatuses(user_id) ON DELETE CASCADE,
            odoo_id    INTEGER NOT NULL,
            write_date TEXT NOT NULL,
            active     INTEGER NOT NULL,
            deleted_at TEXT,
            synced_at  TEXT NOT NULL,
            document   TEXT NOT NULL,
            PRIMARY KEY (user_id, odoo_id)
        )",
        table = module.collection()
    )
}

/// Creates whatever is missing, in one transaction so that two processes opening a new file
/// at once do not interleave.
pub(super) async fn apply(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "the database has schema version {version}, newer than this program's \
             {SCHEMA_VERSION}: upgrade odoo-sync"
        )));
    }
    for ddl in BASE_TABLES {
        sqlx::query(*ddl).execute(&mut *tx).await.map_err(db_err)?;
    }
    for module in Module::all() {
        sqlx::query(sqlx::AssertSqlSafe(record_table(module)))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    for (table, column, declaration) in ADDED_COLUMNS {
        add_column_if_missing(&mut tx, table, column, declaration).await?;
    }
    // PRAGMA takes no bound parameters; the value is a constant of this file.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA user_version = {SCHEMA_VERSION}"
    )))
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)
}
