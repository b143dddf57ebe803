//! The ceiling beside the engine's write rate: the very documents the engine stored, written
//! again into the same server as plainly as it allows, in transactions of `LIMIT_PER_CALL`
//! records, into tables or collections with the same indexes. What the engine adds on top
//! (fetching, mapping, fences, batch bookkeeping) is the gap between the two.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::options::{ReadConcern, WriteConcern};
use mongodb::Client;
use shared::modules::Module;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Row};

/// Records written and the seconds it took.
pub struct Ceiling {
    pub records: u64,
    pub seconds: f64,
}

impl Ceiling {
    pub fn rate(&self) -> f64 {
        self.records as f64 / self.seconds.max(f64::EPSILON)
    }
}

/// Copies `tenant`'s mirrored documents of `modules` from database `from` into database `to`
/// of the same mongod: `insertMany` of `per_txn` documents per majority-committed snapshot
/// transaction (how the store writes), the target collections indexed like the source.
/// Only the inserts are timed.
pub async fn mongo(
    client: &Client,
    from: &str,
    to: &str,
    tenant: &str,
    modules: &[Module],
    per_txn: usize,
) -> anyhow::Result<Ceiling> {
    let mut batches: Vec<(String, Vec<Document>)> = Vec::new();
    for module in modules {
        let name = module.collection();
        let source = client.database(from).collection::<Document>(name);
        let target = client.database(to).collection::<Document>(name);
        let indexes: Vec<_> = source.list_indexes().await?.try_collect().await?;
        let indexes: Vec<_> = indexes
            .into_iter()
            .filter(|i| i.keys != doc! { "_id": 1 })
            .collect();
        client.database(to).create_collection(name).await?;
        if !indexes.is_empty() {
            target.create_indexes(indexes).await?;
        }
        let docs: Vec<Document> = source
            .find(doc! { "userId": tenant })
            .await?
            .try_collect()
            .await?;
        for chunk in docs.chunks(per_txn.max(1)) {
            let fresh = chunk
                .iter()
                .map(|d| {
                    let mut d = d.clone();
                    d.remove("_id");
                    d
                })
                .collect();
            batches.push((name.to_string(), fresh));
        }
    }
    let records = batches.iter().map(|(_, d)| d.len() as u64).sum();
    let started = Instant::now();
    for (name, docs) in batches {
        let mut session = client.start_session().await?;
        session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .write_concern(WriteConcern::majority())
            .await?;
        client
            .database(to)
            .collection::<Document>(&name)
            .insert_many(docs)
            .session(&mut session)
            .await?;
        session.commit_transaction().await?;
    }
    Ok(Ceiling {
        records,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Copies `modules`' rows of the SQLite store at `from` into a fresh file at `to` with the
/// same schema and the same connection settings (WAL, synchronous NORMAL): one
/// multi-row `INSERT … ON CONFLICT DO UPDATE` (the store's own statement) of `per_txn` rows
/// per transaction. Only the inserts are timed.
pub async fn sqlite(
    from: &Path,
    to: &Path,
    modules: &[Module],
    per_txn: usize,
) -> anyhow::Result<Ceiling> {
    // One connection, so the source stays attached while the copy is prepared.
    let target = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(to)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true),
        )
        .await?;
    sqlx::query("ATTACH DATABASE ? AS src")
        .bind(from.display().to_string())
        .execute(&target)
        .await?;
    // The whole schema (module tables refer to the tenants' table), tables first.
    let schema: Vec<String> = sqlx::query_scalar(
        "SELECT sql FROM src.sqlite_master WHERE type IN ('table', 'index') \
         AND sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type DESC",
    )
    .fetch_all(&target)
    .await?;
    for statement in schema {
        sqlx::query(AssertSqlSafe(statement))
            .execute(&target)
            .await?;
    }
    sqlx::query("INSERT INTO main.odoosyncstatuses SELECT * FROM src.odoosyncstatuses")
        .execute(&target)
        .await
        .context("copying the tenants the records belong to")?;
    type Row7 = (String, i64, String, bool, Option<String>, String, String);
    let mut tables: Vec<(String, Vec<Row7>)> = Vec::new();
    for module in modules {
        let table = module.collection();
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT user_id, odoo_id, write_date, active, deleted_at, synced_at, document FROM src.{table}"
        )))
        .fetch_all(&target)
        .await?;
        let rows = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                    r.try_get(5)?,
                    r.try_get(6)?,
                ))
            })
            .collect::<Result<Vec<Row7>, sqlx::Error>>()
            .context("reading the engine's rows")?;
        tables.push((table.to_string(), rows));
    }
    sqlx::query("DETACH DATABASE src").execute(&target).await?;
    let records = tables.iter().map(|(_, rows)| rows.len() as u64).sum();
    let started = Instant::now();
    for (table, rows) in &tables {
        for chunk in rows.chunks(per_txn.max(1)) {
            let values = vec!["(?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO {table} (user_id, odoo_id, write_date, active, deleted_at, synced_at, \
                 document) VALUES {values} \
                 ON CONFLICT (user_id, odoo_id) DO UPDATE SET write_date = excluded.write_date, \
                 active = excluded.active, deleted_at = NULL, synced_at = excluded.synced_at, \
                 document = excluded.document WHERE excluded.write_date >= {table}.write_date"
            );
            let mut tx = target.begin().await?;
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for row in chunk {
                query = query
                    .bind(&row.0)
                    .bind(row.1)
                    .bind(&row.2)
                    .bind(row.3)
                    .bind(&row.4)
                    .bind(&row.5)
                    .bind(&row.6);
            }
            query.execute(&mut *tx).await?;
            tx.commit().await?;
        }
    }
    Ok(Ceiling {
        records,
        seconds: started.elapsed().as_secs_f64(),
    })
}
