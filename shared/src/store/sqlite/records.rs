//! Mirrored records in SQLite: the upserts of a fenced write (the newest version wins, or
//! Odoo's answer wins for reconcile and verify), renames followed into the records that link
//! to a renamed one, and the reads reconcile and verify compare against.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Sqlite, SqlitePool, Transaction};

use super::codec::{col, db_err, parse_ts, record_document, record_from_row, ts, RECORD_COLUMNS};
use crate::mirror::DISPLAY_NAME;
use crate::modules::Module;
use crate::store::{MirrorRecord, StoreError, StoredRecord, StoredVersion, TenantId};

/// A record whose display name changed: its odooId and new name.
pub(super) type Rename = (i64, String);

/// Ids per `json_each` parameter.
const ID_CHUNK: usize = 10_000;

/// Upserts one chunk of records of `module`. Unless `truth` (reconcile, verify), a stored
/// record with a newer `write_date` is kept. Returns how many rows were inserted or
/// replaced, and the renames among the replaced records.
pub(super) async fn upsert_chunk(
    tx: &mut Transaction<'static, Sqlite>,
    module: Module,
    user_id: &TenantId,
    records: &[&MirrorRecord],
    truth: bool,
    now: DateTime<Utc>,
) -> Result<(u64, Vec<Rename>), StoreError> {
    let table = module.collection();
    let ids: Vec<i64> = records.iter().map(|r| r.odoo_id).collect();
    let before = stored_before(tx, table, user_id, &ids).await?;
    let rows = vec!["(?, ?, ?, ?, NULL, ?, ?)"; records.len()].join(", ");
    // Equal write dates replace: the same version seen again is rewritten (and undeleted).
    let newer_only = if truth {
        String::new()
    } else {
        format!(" WHERE excluded.write_date >= {table}.write_date")
    };
    let sql = format!(
        "INSERT INTO {table} (user_id, odoo_id, write_date, active, deleted_at, synced_at, \
         document) VALUES {rows} \
         ON CONFLICT (user_id, odoo_id) DO UPDATE SET write_date = excluded.write_date, \
         active = excluded.active, deleted_at = NULL, synced_at = excluded.synced_at, \
         document = excluded.document{newer_only}"
    );
    let synced_at = ts(now);
    let mut query = sqlx::query(AssertSqlSafe(sql));
    let mut renames = Vec::new();
    for record in records {
        let document = serde_json::to_string(&record_document(user_id, record, now))
            .map_err(|e| StoreError::Backend(format!("record {}: {e}", record.odoo_id)))?;
        query = query
            .bind(user_id.as_str())
            .bind(record.odoo_id)
            .bind(ts(record.write_date))
            .bind(record.active)
            .bind(synced_at.clone())
            .bind(document);
        let new_name = record.raw.get(DISPLAY_NAME).and_then(|v| v.as_str());
        if let (Some((stored_date, stored_name)), Some(name)) =
            (before.get(&record.odoo_id), new_name)
        {
            let replaced = truth || *stored_date <= record.write_date;
            if replaced && stored_name.as_deref() != Some(name) {
                renames.push((record.odoo_id, name.to_string()));
            }
        }
    }
    let result = query.execute(&mut **tx).await.map_err(db_err)?;
    Ok((result.rows_affected(), renames))
}

/// `write_date` and display name of the stored records among `ids`.
async fn stored_before(
    tx: &mut Transaction<'static, Sqlite>,
    table: &str,
    user_id: &TenantId,
    ids: &[i64],
) -> Result<HashMap<i64, (DateTime<Utc>, Option<String>)>, StoreError> {
    let ids = serde_json::to_string(ids).map_err(|e| StoreError::Backend(format!("ids: {e}")))?;
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT odoo_id, write_date, json_extract(document, '$.raw.{DISPLAY_NAME}') AS name \
         FROM {table} WHERE user_id = ? AND odoo_id IN (SELECT value FROM json_each(?))"
    )))
    .bind(user_id.as_str())
    .bind(ids)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err)?;
    let mut stored = HashMap::with_capacity(rows.len());
    for row in &rows {
        let date = parse_ts("write_date", &col::<String>(row, "write_date")?)?;
        // A display name stored as something else than text counts as none.
        let name: Option<String> = col(row, "name").ok().flatten();
        stored.insert(col::<i64>(row, "odoo_id")?, (date, name));
    }
    Ok(stored)
}

/// Shows each renamed record of `target` under its new name in every mirrored record that
/// links to it, as Odoo now answers for them (their `write_date` stays: Odoo's does).
pub(super) async fn follow_renames(
    tx: &mut Transaction<'static, Sqlite>,
    target: Module,
    user_id: &TenantId,
    renames: &[Rename],
) -> Result<(), StoreError> {
    if renames.is_empty() {
        return Ok(());
    }
    for link in target.links_to() {
        let (id_path, name_path) = (
            format!("$.{}", link.id_field()),
            format!("$.{}", link.name_field()),
        );
        // Versions may name the field differently: the raw pair is rewritten under the name
        // the record has, never added under another.
        for odoo_field in link.odoo_fields {
            let raw_path = format!("$.raw.{odoo_field}");
            let sql = format!(
                "UPDATE {table} SET document = json_set(document, '{name_path}', ?1, \
                 '{raw_path}', json_array(?2, ?1)) \
                 WHERE user_id = ?3 AND json_extract(document, '{id_path}') = ?2 \
                 AND json_extract(document, '{name_path}') IS NOT ?1 \
                 AND json_type(document, '{raw_path}') IS NOT NULL",
                table = link.module.collection()
            );
            for (id, name) in renames {
                sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(name.as_str())
                    .bind(*id)
                    .bind(user_id.as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_err)?;
            }
        }
    }
    Ok(())
}

pub(super) async fn stored_versions(
    pool: &SqlitePool,
    user_id: &TenantId,
    module: Module,
) -> Result<Vec<StoredVersion>, StoreError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT odoo_id, write_date, deleted_at IS NOT NULL AS deleted FROM {table} \
         WHERE user_id = ? ORDER BY odoo_id",
        table = module.collection()
    )))
    .bind(user_id.as_str())
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            Ok(StoredVersion {
                odoo_id: col(row, "odoo_id")?,
                write_date: parse_ts("write_date", &col::<String>(row, "write_date")?)?,
                deleted: col(row, "deleted")?,
            })
        })
        .collect()
}

pub(super) async fn records_by_ids(
    pool: &SqlitePool,
    user_id: &TenantId,
    module: Module,
    ids: &[i64],
) -> Result<Vec<StoredRecord>, StoreError> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(ID_CHUNK) {
        let chunk =
            serde_json::to_string(chunk).map_err(|e| StoreError::Backend(format!("ids: {e}")))?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RECORD_COLUMNS} FROM {table} WHERE user_id = ? \
             AND odoo_id IN (SELECT value FROM json_each(?)) ORDER BY odoo_id",
            table = module.collection()
        )))
        .bind(user_id.as_str())
        .bind(chunk)
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
        for row in &rows {
            found.push(record_from_row(row)?);
        }
    }
    found.sort_by_key(|r| r.odoo_id);
    Ok(found)
}
