//! The MongoDB store: collections and indexes of DESIGN.md 4.2; fenced writes in
//! transactions (the server runs as a replica set).
//!
//! Fencing: every fenced method runs in one multi-document transaction whose first write is an
//! update of the tenant document filtered by the caller's lease token and holder. A lost lease
//! matches nothing and the transaction is dropped; a concurrent lease takeover writes the same
//! tenant document, so MongoDB's write-conflict detection makes the two exclusive (the loser
//! gets a `TransientTransactionError`, retries, and then sees the new token).
//!
//! Lease clocks are the database's (`$$NOW`), so workers on machines with skewed clocks agree
//! on when a lease has expired. Every other timestamp is the caller's `now`.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mongodb::bson::{self, doc, Bson, Document};
use mongodb::error::{
    ErrorKind, WriteFailure, RETRYABLE_WRITE_ERROR, TRANSIENT_TRANSACTION_ERROR,
    UNKNOWN_TRANSACTION_COMMIT_RESULT,
};
use mongodb::options::{ClientOptions, IndexOptions, ReadConcern, ReturnDocument, WriteConcern};
use mongodb::{Client, ClientSession, Collection, Database, IndexModel};
use tokio::sync::Semaphore;

use super::{
    by_module, Batch, BatchCounts, BatchId, BatchKind, BatchStatus, BatchWrite, DueQuery,
    DueTenant, Lease, ModuleState, NewBatch, PlannedModule, Prepared, ReconcileSummary, Store,
    StoreError, StoreOverview, StoredConnection, StoredRecord, StoredVersion, SyncStatus,
    TenantError, TenantId, TenantState, WriteSummary,
};
use crate::modules::Module;

use self::codec::{
    batch_doc, batch_filter, batch_from_doc, count_bson, count_slot, date, doc_to_json,
    fence_filter, kept_module, lease_from_doc, modules_bson, modules_of, new_tenant_doc, opt_date,
    priority, stamp_module, tenant_from_doc, ttl_millis, Fields,
};

mod codec;
mod connection;
mod operator;
mod records;
mod scheduling;

/// Database used when the URI names none.
const DEFAULT_DATABASE: &str = "odoo_sync";
const TENANTS: &str = "odoosyncstatuses";
const BATCHES: &str = "odoosyncbatches";

/// Whole-transaction attempts on transient errors (write conflicts, elections).
const MAX_TXN_ATTEMPTS: u32 = 6;
/// Commit retries when the server's answer was lost (`UnknownTransactionCommitResult`).
const MAX_COMMIT_ATTEMPTS: u32 = 3;
/// Upsert statements per `update` command...
const UPSERT_CHUNK: usize = 500;
/// ...and at most about this many bytes of them, well under the 16 MiB command limit.
const UPSERT_CHUNK_BYTES: usize = 8 * 1024 * 1024;
/// Fenced transactions one store handle runs at once: half the driver's default pool of 10
/// connections, leaving the rest to plain reads (lease, tenant, progress).
const TRANSACTIONS_AT_ONCE: usize = 5;
/// Ids per `$in` list.
const ID_CHUNK: usize = 1000;

/// The MongoDB implementation of [`Store`].
#[derive(Clone, Debug)]
pub struct MongoStore {
    client: Client,
    db: Database,
    /// Transactions running at once. Each operation of a transaction checks a connection
    /// out of the driver's pool on its own, so with hundreds of tenants in flight a started
    /// transaction would queue behind every newer one and outlive the server's transaction
    /// lifetime. Admitting a few at a time keeps each one short; Odoo fetches, which are
    /// most of a job's time, are not limited by this.
    transactions: Arc<Semaphore>,
}

impl MongoStore {
    /// Connects to `uri` (database from its path, `odoo_sync` when it has none) and makes
    /// sure the indexes exist.
    pub async fn connect(uri: &str) -> Result<MongoStore, StoreError> {
        let options = ClientOptions::parse(uri).await.map_err(mongo_error)?;
        let db_name = options
            .default_database
            .clone()
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        let client = Client::with_options(options).map_err(mongo_error)?;
        MongoStore::new(client, &db_name).await
    }

    /// A store on `db_name` of an existing client; makes sure the indexes exist.
    pub async fn new(client: Client, db_name: &str) -> Result<MongoStore, StoreError> {
        let db = client.database(db_name);
        let store = MongoStore {
            client,
            db,
            transactions: Arc::new(Semaphore::new(TRANSACTIONS_AT_ONCE)),
        };
        store.ensure_indexes().await?;
        Ok(store)
    }

    /// The database this store uses.
    pub fn database_name(&self) -> &str {
        self.db.name()
    }

    /// Creates the unique and query indexes of DESIGN.md 4.2 (a no-op when they exist).
    pub async fn ensure_indexes(&self) -> Result<(), StoreError> {
        for module in Module::all() {
            create_index(
                &self.records(module),
                doc! { "userId": 1, "odooId": 1 },
                true,
            )
            .await?;
        }
        create_index(&self.tenants(), doc! { "userId": 1 }, true).await?;
        let batches = self.batches_coll();
        // Serves next_runnable_batch (equality on userId and status, sorted by priority, seq)
        // and, through `priority` standing for the kind, the counts by kind and status: one
        // index fewer to update on every batch write.
        create_index(
            &batches,
            doc! { "userId": 1, "status": 1, "priority": 1, "seq": 1 },
            false,
        )
        .await?;
        create_index(&batches, doc! { "userId": 1, "seq": 1 }, false).await?;
        self.ensure_scheduling_indexes().await?;
        Ok(())
    }

    fn tenants(&self) -> Collection<Document> {
        self.db.collection(TENANTS)
    }

    fn batches_coll(&self) -> Collection<Document> {
        self.db.collection(BATCHES)
    }

    fn records(&self, module: Module) -> Collection<Document> {
        self.db.collection(module.collection())
    }

    // ---- transactions ----

    /// Runs `attempt` (one whole transaction) again while it fails with a transient error.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, TxnError>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            let permit = self.transactions.acquire().await;
            let result = attempt().await;
            drop(permit);
            match result {
                Ok(value) => return Ok(value),
                Err(TxnError::Mongo(e))
                    if tries < MAX_TXN_ATTEMPTS
                        && e.contains_label(TRANSIENT_TRANSACTION_ERROR) =>
                {
                    // A short, growing pause lets the conflicting transaction finish first.
                    tokio::time::sleep(Duration::from_millis(5 << tries)).await;
                }
                Err(e) => return Err(e.into_store()),
            }
        }
    }

    /// Starts a transaction and checks the fence as its first write: the tenant document must
    /// still carry this lease. Dropping the session without committing aborts the transaction.
    async fn begin_fenced(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<ClientSession, TxnError> {
        self.begin_fenced_raising(lease, now, &[]).await
    }

    /// [`Self::begin_fenced`] that also raises module watermarks in the fencing update (one
    /// command instead of one more per module): each to its date unless already as new.
    async fn begin_fenced_raising(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        watermarks: &[(Module, DateTime<Utc>)],
    ) -> Result<ClientSession, TxnError> {
        let mut session = self.client.start_session().await?;
        session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .write_concern(WriteConcern::majority())
            .await?;
        let mut set = doc! { "updatedAt": date(now) };
        let mut filters = Vec::new();
        for (index, (module, watermark)) in watermarks.iter().enumerate() {
            let name = format!("w{index}");
            set.insert(format!("modules.$[{name}].watermark"), date(*watermark));
            // `$not $gte` also matches a missing or null watermark.
            filters.push(doc! {
                format!("{name}.module"): module.as_str(),
                format!("{name}.watermark"): { "$not": { "$gte": date(*watermark) } },
            });
        }
        let tenants = self.tenants();
        let update = tenants.update_one(fence_filter(lease), doc! { "$set": set });
        let update = if filters.is_empty() {
            update
        } else {
            update.array_filters(filters)
        };
        let fenced = update.session(&mut session).await?;
        if fenced.matched_count == 0 {
            return Err(lease_lost(lease).into());
        }
        Ok(session)
    }

    /// The tenant document as this transaction sees it.
    async fn tenant_in(
        &self,
        session: &mut ClientSession,
        user_id: &TenantId,
    ) -> Result<Document, TxnError> {
        self.tenants()
            .find_one(doc! { "userId": user_id.as_str() })
            .session(session)
            .await?
            .ok_or_else(|| StoreError::UnknownTenant(user_id.to_string()).into())
    }

    /// Reserves `count` consecutive batch sequence numbers and returns the first.
    async fn reserve_seqs(
        &self,
        session: &mut ClientSession,
        user_id: &TenantId,
        count: usize,
    ) -> Result<i64, TxnError> {
        let count = i64::try_from(count).map_err(|_| backend("too many batches"))?;
        let before = self
            .tenants()
            .find_one_and_update(
                doc! { "userId": user_id.as_str() },
                doc! { "$inc": { "nextSeq": count } },
            )
            .return_document(ReturnDocument::Before)
            .session(session)
            .await?
            .ok_or_else(|| StoreError::UnknownTenant(user_id.to_string()))?;
        Ok(Fields::new(&before, "tenant")
            .opt_i64("nextSeq")?
            .unwrap_or(0))
    }

    /// Inserts `batches` as pending with sequence numbers from `first_seq`.
    async fn insert_batches(
        &self,
        session: &mut ClientSession,
        user_id: &TenantId,
        batches: &[NewBatch],
        first_seq: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, TxnError> {
        let created: Vec<Batch> = batches
            .iter()
            .zip(first_seq..)
            .map(|(new, seq)| Batch::pending(user_id, new, seq, now))
            .collect();
        if !created.is_empty() {
            let docs: Vec<Document> = created.iter().map(batch_doc).collect();
            self.batches_coll()
                .insert_many(docs)
                .session(session)
                .await?;
        }
        Ok(created)
    }

    /// Sets fields of one of the tenant's batches; `UnknownBatch` when it does not exist.
    async fn update_batch(
        &self,
        session: &mut ClientSession,
        user_id: &TenantId,
        batch_id: &BatchId,
        set: Document,
    ) -> Result<(), TxnError> {
        let updated = self
            .batches_coll()
            .update_one(batch_filter(user_id, batch_id), doc! { "$set": set })
            .session(session)
            .await?;
        if updated.matched_count == 0 {
            return Err(StoreError::UnknownBatch(batch_id.to_string()).into());
        }
        Ok(())
    }

    /// Sets fields of the tenant document inside a fenced transaction.
    async fn set_tenant_fields(
        &self,
        lease: &Lease,
        set: Document,
        now: DateTime<Utc>,
    ) -> Result<(), TxnError> {
        let mut session = self.begin_fenced(lease, now).await?;
        self.tenants()
            .update_one(
                doc! { "userId": lease.user_id.as_str() },
                doc! { "$set": set },
            )
            .session(&mut session)
            .await?;
        commit(&mut session).await
    }

    // ---- one attempt of each fenced method ----

    async fn record_prepare_once(
        &self,
        lease: &Lease,
        prepared: &Prepared,
        batches: &[NewBatch],
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, TxnError> {
        let mut session = self.begin_fenced(lease, now).await?;
        let user_id = &lease.user_id;
        let tenant = self.tenant_in(&mut session, user_id).await?;
        let old = modules_of(&tenant)?;
        let modules: Vec<ModuleState> = prepared
            .modules
            .iter()
            .map(|planned| kept_module(&old, planned, now))
            .collect();
        let status = if batches.is_empty() {
            SyncStatus::Done
        } else {
            SyncStatus::InProgress
        };
        self.tenants()
            .update_one(
                doc! { "userId": user_id.as_str() },
                doc! { "$set": {
                    "odooVersion": &prepared.odoo_version,
                    "protocol": &prepared.protocol,
                    "employeeAccess": prepared.employee_access.as_str(),
                    "modules": modules_bson(&modules),
                    "blocked": Bson::Null,
                    "syncStatus": status.as_str(),
                    "updatedAt": date(now),
                } },
            )
            .session(&mut session)
            .await?;
        self.batches_coll()
            .delete_many(doc! { "userId": user_id.as_str() })
            .session(&mut session)
            .await?;
        let first_seq = self
            .reserve_seqs(&mut session, user_id, batches.len())
            .await?;
        let created = self
            .insert_batches(&mut session, user_id, batches, first_seq, now)
            .await?;
        commit(&mut session).await?;
        Ok(created)
    }

    async fn add_batches_once(
        &self,
        lease: &Lease,
        batches: &[NewBatch],
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, TxnError> {
        self.add_batches_changing_modules(lease, batches, now, |modules| {
            for batch in batches {
                stamp_module(modules, batch, now);
            }
        })
        .await
    }

    async fn add_modules_once(
        &self,
        lease: &Lease,
        added: &[PlannedModule],
        batches: &[NewBatch],
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, TxnError> {
        self.add_batches_changing_modules(lease, batches, now, |modules| {
            for planned in added {
                if !modules.iter().any(|m| m.module == planned.module) {
                    modules.push(kept_module(&[], planned, now));
                }
            }
        })
        .await
    }

    /// In one fenced transaction: lets `change` edit the tenant's module states, writes them
    /// back and inserts `batches` with the next sequence numbers.
    async fn add_batches_changing_modules(
        &self,
        lease: &Lease,
        batches: &[NewBatch],
        now: DateTime<Utc>,
        change: impl FnOnce(&mut Vec<ModuleState>),
    ) -> Result<Vec<Batch>, TxnError> {
        let mut session = self.begin_fenced(lease, now).await?;
        let user_id = &lease.user_id;
        let tenant = self.tenant_in(&mut session, user_id).await?;
        let mut modules = modules_of(&tenant)?;
        change(&mut modules);
        self.tenants()
            .update_one(
                doc! { "userId": user_id.as_str() },
                doc! { "$set": { "modules": modules_bson(&modules), "updatedAt": date(now) } },
            )
            .session(&mut session)
            .await?;
        let first_seq = self
            .reserve_seqs(&mut session, user_id, batches.len())
            .await?;
        let created = self
            .insert_batches(&mut session, user_id, batches, first_seq, now)
            .await?;
        commit(&mut session).await?;
        Ok(created)
    }

    async fn start_batch_once(
        &self,
        lease: &Lease,
        batch_id: &BatchId,
        now: DateTime<Utc>,
    ) -> Result<Batch, TxnError> {
        let mut session = self.begin_fenced(lease, now).await?;
        let started = self
            .batches_coll()
            .find_one_and_update(
                batch_filter(&lease.user_id, batch_id),
                doc! {
                    "$set": {
                        "status": BatchStatus::InProgress.as_str(),
                        "startedAt": date(now),
                        "updatedAt": date(now),
                        "leaseToken": lease.token,
                    },
                    "$inc": { "attempts": 1 },
                },
            )
            .return_document(ReturnDocument::After)
            .session(&mut session)
            .await?
            .ok_or_else(|| StoreError::UnknownBatch(batch_id.to_string()))?;
        let batch = batch_from_doc(&started)?;
        commit(&mut session).await?;
        Ok(batch)
    }

    async fn complete_batches_once(
        &self,
        lease: &Lease,
        writes: &[BatchWrite<'_>],
        now: DateTime<Utc>,
    ) -> Result<WriteSummary, TxnError> {
        let user_id = &lease.user_id;
        if let Some(other) = writes.iter().find(|w| &w.batch.user_id != user_id) {
            return Err(StoreError::UnknownBatch(other.batch.id.to_string()).into());
        }
        let parts = by_module(writes);
        let watermarks: Vec<(Module, DateTime<Utc>)> = parts
            .iter()
            .filter_map(|part| Some((part.module, part.watermark?)))
            .collect();
        let mut session = self.begin_fenced_raising(lease, now, &watermarks).await?;
        let mut summary = WriteSummary::default();
        for part in parts {
            let module = part.module;
            let mut renames = Vec::new();
            for chunk in part.records.chunks(UPSERT_CHUNK) {
                let (written, renamed) = self
                    .upsert_chunk(&mut session, user_id, module, chunk, part.truth, now)
                    .await?;
                summary.written += written.written;
                summary.skipped_older += written.skipped_older;
                renames.extend(renamed);
            }
            self.follow_renames(&mut session, user_id, module, &renames)
                .await?;
            if part.verify {
                self.count_verified(&mut session, user_id, module, part.records.len() as u64)
                    .await?;
            }
        }
        self.finish_batches(&mut session, user_id, writes, now)
            .await?;
        if writes.iter().any(|w| w.batch.kind == BatchKind::Initial) {
            summary.finished_initial = self.finish_initial_in(&mut session, user_id, now).await?;
        }
        commit(&mut session).await?;
        Ok(summary)
    }

    /// Makes an `in_progress` tenant `done` when none of its initial batches is left to run;
    /// returns whether it did.
    async fn finish_initial_in(
        &self,
        session: &mut ClientSession,
        user_id: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<bool, TxnError> {
        let unfinished = self
            .batches_coll()
            .find_one(doc! {
                "userId": user_id.as_str(),
                "priority": priority(BatchKind::Initial),
                "status": { "$in": [
                    BatchStatus::Pending.as_str(),
                    BatchStatus::InProgress.as_str(),
                    BatchStatus::Failed.as_str(),
                ] },
            })
            .projection(doc! { "_id": 1 })
            .session(&mut *session)
            .await?;
        if unfinished.is_some() {
            return Ok(false);
        }
        let finished = self
            .tenants()
            .update_one(
                doc! {
                    "userId": user_id.as_str(),
                    "syncStatus": SyncStatus::InProgress.as_str(),
                },
                doc! { "$set": {
                    "syncStatus": SyncStatus::Done.as_str(),
                    "updatedAt": date(now),
                } },
            )
            .session(session)
            .await?;
        Ok(finished.modified_count == 1)
    }

    /// Marks the batches `done` with one `update` command; `UnknownBatch` when one is missing.
    async fn finish_batches(
        &self,
        session: &mut ClientSession,
        user_id: &TenantId,
        writes: &[BatchWrite<'_>],
        now: DateTime<Utc>,
    ) -> Result<(), TxnError> {
        let statements: Vec<Document> = writes
            .iter()
            .map(|w| {
                doc! {
                    "q": batch_filter(user_id, &w.batch.id),
                    "u": { "$set": {
                        "status": BatchStatus::Done.as_str(),
                        "fetchedCount": count_bson(w.records.len()),
                        "finishedAt": date(now),
                        "updatedAt": date(now),
                    } },
                }
            })
            .collect();
        let wanted = statements.len();
        let reply = self.update_command(session, BATCHES, statements).await?;
        let matched = reply
            .get_i32("n")
            .map_or(0, |n| usize::try_from(n).unwrap_or(0));
        if matched == wanted {
            return Ok(());
        }
        // Name the batches that are gone; the transaction is dropped, so none is marked.
        let ids: Vec<&str> = writes.iter().map(|w| w.batch.id.as_str()).collect();
        let mut cursor = self
            .batches_coll()
            .find(doc! { "_id": { "$in": &ids }, "userId": user_id.as_str() })
            .projection(doc! { "_id": 1 })
            .session(&mut *session)
            .await?;
        let mut found = HashSet::new();
        while let Some(doc) = cursor.next(session).await {
            if let Ok(id) = doc?.get_str("_id") {
                found.insert(id.to_string());
            }
        }
        let missing: Vec<&str> = ids.into_iter().filter(|id| !found.contains(*id)).collect();
        Err(StoreError::UnknownBatch(missing.join(", ")).into())
    }

    /// Sends upsert statements as `update` commands (MongoDB 6 has no `bulkWrite` command),
    /// split to stay well under the command size limit.
    async fn send_updates(
        &self,
        session: &mut ClientSession,
        collection: &str,
        statements: Vec<Document>,
    ) -> Result<(), TxnError> {
        let mut pending: Vec<Document> = Vec::new();
        let mut bytes = 0;
        for statement in statements {
            let size = bson::to_vec(&statement)
                .map_err(|e| backend(format!("encoding a record: {e}")))?
                .len();
            if !pending.is_empty() && bytes + size > UPSERT_CHUNK_BYTES {
                self.update_command(session, collection, std::mem::take(&mut pending))
                    .await?;
                bytes = 0;
            }
            bytes += size;
            pending.push(statement);
        }
        if !pending.is_empty() {
            self.update_command(session, collection, pending).await?;
        }
        Ok(())
    }

    /// Runs one `update` command; returns the server's reply (`n` = statements matched).
    async fn update_command(
        &self,
        session: &mut ClientSession,
        collection: &str,
        updates: Vec<Document>,
    ) -> Result<Document, TxnError> {
        let reply = self
            .db
            .run_command(doc! { "update": collection, "updates": updates, "ordered": true })
            .session(session)
            .await?;
        // The command "succeeds" even when statements fail: the failures are in the reply.
        if let Ok(errors) = reply.get_array("writeErrors") {
            if let Some(first) = errors.first() {
                return Err(backend(format!(
                    "upsert into {collection} failed ({} errors), first: {first}",
                    errors.len()
                ))
                .into());
            }
        }
        Ok(reply)
    }

    async fn complete_reconcile_once(
        &self,
        lease: &Lease,
        batch: &Batch,
        alive_ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<ReconcileSummary, TxnError> {
        let mut session = self.begin_fenced(lease, now).await?;
        let user_id = &lease.user_id;
        let alive: HashSet<i64> = alive_ids.iter().copied().collect();
        let stored = self
            .stored_deletions(&mut session, user_id, batch.module)
            .await?;
        let mut vanished = Vec::new();
        let mut returned = Vec::new();
        for (odoo_id, deleted) in stored {
            match (alive.contains(&odoo_id), deleted) {
                (false, false) => vanished.push(odoo_id),
                (true, true) => returned.push(odoo_id),
                _ => {}
            }
        }
        let collection = self.records(batch.module);
        let mut summary = ReconcileSummary::default();
        for ids in vanished.chunks(ID_CHUNK) {
            summary.marked_deleted += collection
                .update_many(
                    doc! { "userId": user_id.as_str(), "odooId": { "$in": ids }, "deletedAt": Bson::Null },
                    doc! { "$set": { "deletedAt": date(now) } },
                )
                .session(&mut session)
                .await?
                .modified_count;
        }
        for ids in returned.chunks(ID_CHUNK) {
            summary.restored += collection
                .update_many(
                    doc! { "userId": user_id.as_str(), "odooId": { "$in": ids }, "deletedAt": { "$ne": Bson::Null } },
                    doc! { "$set": { "deletedAt": Bson::Null } },
                )
                .session(&mut session)
                .await?
                .modified_count;
        }
        self.update_batch(
            &mut session,
            user_id,
            &batch.id,
            doc! {
                "status": BatchStatus::Done.as_str(),
                "fetchedCount": count_bson(alive.len()),
                "finishedAt": date(now),
                "updatedAt": date(now),
            },
        )
        .await?;
        commit(&mut session).await?;
        Ok(summary)
    }

    /// Every stored odooId of the module with whether it is marked deleted.
    async fn stored_deletions(
        &self,
        session: &mut ClientSession,
        user_id: &TenantId,
        module: Module,
    ) -> Result<Vec<(i64, bool)>, TxnError> {
        let mut cursor = self
            .records(module)
            .find(doc! { "userId": user_id.as_str() })
            .projection(doc! { "_id": 0, "odooId": 1, "deletedAt": 1 })
            .session(&mut *session)
            .await?;
        let mut stored = Vec::new();
        while let Some(found) = cursor.next(session).await {
            let found = found?;
            let fields = Fields::new(&found, "record");
            stored.push((
                fields.i64("odooId")?,
                fields.opt_date("deletedAt")?.is_some(),
            ));
        }
        Ok(stored)
    }

    async fn fail_batch_once(
        &self,
        lease: &Lease,
        batch_id: &BatchId,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, TxnError> {
        let mut session = self.begin_fenced(lease, now).await?;
        let mut set = doc! { "lastError": error, "updatedAt": date(now) };
        match retry_at {
            Some(at) => {
                set.insert("status", BatchStatus::Failed.as_str());
                set.insert("nextAttemptAt", date(at));
            }
            None => {
                set.insert("status", BatchStatus::PermanentlyFailed.as_str());
                set.insert("finishedAt", date(now));
            }
        }
        self.update_batch(&mut session, &lease.user_id, batch_id, set)
            .await?;
        let finished_initial = match retry_at {
            None => {
                self.finish_initial_in(&mut session, &lease.user_id, now)
                    .await?
            }
            Some(_) => false,
        };
        commit(&mut session).await?;
        Ok(finished_initial)
    }

    /// The tenant document, created `not_started` unless it exists; retries the duplicate-key
    /// race of two concurrent first upserts (the loser then finds the winner's document).
    async fn upsert_tenant(&self, user_id: &TenantId) -> Result<Document, StoreError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let found = self
                .tenants()
                .find_one_and_update(
                    doc! { "userId": user_id.as_str() },
                    doc! { "$setOnInsert": new_tenant_doc(user_id, Utc::now()) },
                )
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await;
            match found {
                Ok(Some(doc)) => return Ok(doc),
                Ok(None) => return Err(StoreError::Backend("upsert returned nothing".into())),
                Err(e) if tries < 3 && is_duplicate_key(&e) => continue,
                Err(e) => return Err(mongo_error(e)),
            }
        }
    }
}

#[async_trait]
impl Store for MongoStore {
    async fn ensure_tenant(&self, user_id: &TenantId) -> Result<TenantState, StoreError> {
        let doc = self.upsert_tenant(user_id).await?;
        tenant_from_doc(&doc)
    }

    async fn tenant(&self, user_id: &TenantId) -> Result<Option<TenantState>, StoreError> {
        let found = self
            .tenants()
            .find_one(doc! { "userId": user_id.as_str() })
            .await
            .map_err(mongo_error)?;
        found.as_ref().map(tenant_from_doc).transpose()
    }

    async fn delete_tenant(&self, user_id: &TenantId) -> Result<(), StoreError> {
        // The tenant document goes first: from then on every fenced write fails, so nothing
        // can add records or batches behind the deletes that follow.
        let filter = doc! { "userId": user_id.as_str() };
        self.tenants()
            .delete_one(filter.clone())
            .await
            .map_err(mongo_error)?;
        self.batches_coll()
            .delete_many(filter.clone())
            .await
            .map_err(mongo_error)?;
        for module in Module::all() {
            self.records(module)
                .delete_many(filter.clone())
                .await
                .map_err(mongo_error)?;
        }
        Ok(())
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
        let filter = doc! {
            "userId": user_id.as_str(),
            "$or": [
                { "lease": Bson::Null },
                { "$expr": { "$lte": ["$lease.expiresAt", "$$NOW"] } },
            ],
        };
        // One atomic update: the fence goes up and the new lease carries the new value.
        let update = vec![
            doc! { "$set": { "fence": { "$add": ["$fence", 1_i64] }, "updatedAt": "$$NOW" } },
            doc! { "$set": { "lease": {
                "holder": { "$literal": holder },
                "token": "$fence",
                "expiresAt": { "$add": ["$$NOW", ttl_millis(ttl)] },
            } } },
        ];
        let taken = self
            .tenants()
            .find_one_and_update(filter, update)
            .return_document(ReturnDocument::After)
            .await
            .map_err(mongo_error)?;
        match taken {
            Some(doc) => lease_from_doc(user_id, &doc).map(Some),
            None => {
                let exists = self
                    .tenants()
                    .count_documents(doc! { "userId": user_id.as_str() })
                    .await
                    .map_err(mongo_error)?;
                if exists == 0 {
                    Err(StoreError::UnknownTenant(user_id.to_string()))
                } else {
                    Ok(None)
                }
            }
        }
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
        let update = vec![doc! { "$set": {
            "lease.expiresAt": { "$add": ["$$NOW", ttl_millis(ttl)] },
        } }];
        let renewed = self
            .tenants()
            .find_one_and_update(fence_filter(lease), update)
            .return_document(ReturnDocument::After)
            .await
            .map_err(mongo_error)?
            .ok_or_else(|| lease_lost(lease))?;
        lease_from_doc(&lease.user_id, &renewed)
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.tenants()
            .update_one(
                fence_filter(lease),
                doc! { "$set": { "lease": Bson::Null, "updatedAt": date(Utc::now()) } },
            )
            .await
            .map_err(mongo_error)?;
        Ok(())
    }

    async fn record_prepare(
        &self,
        lease: &Lease,
        prepared: &Prepared,
        batches: &[NewBatch],
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, StoreError> {
        self.retrying(move || self.record_prepare_once(lease, prepared, batches, now))
            .await
    }

    async fn add_batches(
        &self,
        lease: &Lease,
        batches: &[NewBatch],
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, StoreError> {
        self.retrying(move || self.add_batches_once(lease, batches, now))
            .await
    }

    async fn set_sync_status(
        &self,
        lease: &Lease,
        status: SyncStatus,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.retrying(move || {
            self.set_tenant_fields(
                lease,
                doc! { "syncStatus": status.as_str(), "updatedAt": date(now) },
                now,
            )
        })
        .await
    }

    async fn set_blocked(
        &self,
        lease: &Lease,
        error: Option<&TenantError>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let blocked = match error {
            Some(e) => Bson::Document(doc! {
                "code": &e.code,
                "message": &e.message,
                "at": date(e.at),
            }),
            None => Bson::Null,
        };
        self.retrying(move || {
            self.set_tenant_fields(
                lease,
                doc! { "blocked": blocked.clone(), "updatedAt": date(now) },
                now,
            )
        })
        .await
    }

    async fn add_modules(
        &self,
        lease: &Lease,
        modules: &[PlannedModule],
        batches: &[NewBatch],
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, StoreError> {
        self.retrying(move || self.add_modules_once(lease, modules, batches, now))
            .await
    }

    async fn set_module_fields(
        &self,
        lease: &Lease,
        module: Module,
        extra_fields: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.retrying(move || async move {
            let mut session = self.begin_fenced(lease, now).await?;
            self.tenants()
                .update_one(
                    doc! { "userId": lease.user_id.as_str(), "modules.module": module.as_str() },
                    doc! { "$set": {
                        "modules.$.extraFields": extra_fields,
                        "updatedAt": date(now),
                    } },
                )
                .session(&mut session)
                .await?;
            commit(&mut session).await
        })
        .await
    }

    async fn next_runnable_batch(
        &self,
        user_id: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<Option<Batch>, StoreError> {
        let filter = doc! {
            "userId": user_id.as_str(),
            "$or": [
                { "status": BatchStatus::Pending.as_str() },
                { "status": BatchStatus::InProgress.as_str() },
                { "status": BatchStatus::Failed.as_str(), "nextAttemptAt": { "$lte": date(now) } },
            ],
        };
        let found = self
            .batches_coll()
            .find_one(filter)
            .sort(doc! { "priority": 1, "seq": 1 })
            .await
            .map_err(mongo_error)?;
        found.as_ref().map(batch_from_doc).transpose()
    }

    async fn next_runnable_batches(
        &self,
        user_id: &TenantId,
        now: DateTime<Utc>,
        max: usize,
    ) -> Result<Vec<Batch>, StoreError> {
        let filter = doc! {
            "userId": user_id.as_str(),
            "$or": [
                { "status": BatchStatus::Pending.as_str() },
                { "status": BatchStatus::InProgress.as_str() },
                { "status": BatchStatus::Failed.as_str(), "nextAttemptAt": { "$lte": date(now) } },
            ],
        };
        let mut cursor = self
            .batches_coll()
            .find(filter)
            .sort(doc! { "priority": 1, "seq": 1 })
            .limit(i64::try_from(max).unwrap_or(i64::MAX))
            .await
            .map_err(mongo_error)?;
        let mut batches = Vec::new();
        while let Some(document) = cursor.try_next().await.map_err(mongo_error)? {
            batches.push(batch_from_doc(&document)?);
        }
        Ok(batches)
    }

    async fn start_batch(
        &self,
        lease: &Lease,
        batch_id: &BatchId,
        now: DateTime<Utc>,
    ) -> Result<Batch, StoreError> {
        self.retrying(move || self.start_batch_once(lease, batch_id, now))
            .await
    }

    async fn complete_batches(
        &self,
        lease: &Lease,
        writes: &[BatchWrite<'_>],
        now: DateTime<Utc>,
    ) -> Result<WriteSummary, StoreError> {
        self.retrying(move || self.complete_batches_once(lease, writes, now))
            .await
    }

    async fn complete_reconcile(
        &self,
        lease: &Lease,
        batch: &Batch,
        alive_ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<ReconcileSummary, StoreError> {
        self.retrying(move || self.complete_reconcile_once(lease, batch, alive_ids, now))
            .await
    }

    async fn fail_batch(
        &self,
        lease: &Lease,
        batch_id: &BatchId,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.retrying(move || self.fail_batch_once(lease, batch_id, error, retry_at, now))
            .await
    }

    async fn batch_counts(
        &self,
        user_id: &TenantId,
        kind: BatchKind,
    ) -> Result<BatchCounts, StoreError> {
        let pipeline = vec![
            doc! { "$match": { "userId": user_id.as_str(), "priority": priority(kind) } },
            doc! { "$group": {
                "_id": "$status",
                "n": { "$sum": { "$ifNull": ["$windowCount", 1_i64] } },
            } },
        ];
        let groups: Vec<Document> = self
            .batches_coll()
            .aggregate(pipeline)
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)?;
        let mut counts = BatchCounts::default();
        for group in &groups {
            let fields = Fields::new(group, "batch count");
            let status: BatchStatus = fields.parsed("_id")?;
            let n = u64::try_from(fields.i64("n")?).unwrap_or(0);
            *count_slot(&mut counts, status) += n;
        }
        Ok(counts)
    }

    async fn batches(&self, user_id: &TenantId) -> Result<Vec<Batch>, StoreError> {
        let docs: Vec<Document> = self
            .batches_coll()
            .find(doc! { "userId": user_id.as_str() })
            .sort(doc! { "seq": 1 })
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)?;
        docs.iter().map(batch_from_doc).collect()
    }

    async fn records(
        &self,
        user_id: &TenantId,
        module: Module,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let docs: Vec<Document> = self
            .records(module)
            .find(doc! { "userId": user_id.as_str(), "odooId": { "$gt": after_id } })
            .sort(doc! { "odooId": 1 })
            .limit(i64::from(limit))
            .projection(doc! { "_id": 0 })
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)?;
        docs.iter().map(records::stored_record).collect()
    }

    async fn stored_versions(
        &self,
        user_id: &TenantId,
        module: Module,
    ) -> Result<Vec<StoredVersion>, StoreError> {
        self.stored_versions_impl(user_id, module).await
    }

    async fn records_by_ids(
        &self,
        user_id: &TenantId,
        module: Module,
        ids: &[i64],
    ) -> Result<Vec<StoredRecord>, StoreError> {
        self.records_by_ids_impl(user_id, module, ids).await
    }

    async fn record_count(
        &self,
        user_id: &TenantId,
        module: Module,
        include_deleted: bool,
    ) -> Result<u64, StoreError> {
        let mut filter = doc! { "userId": user_id.as_str() };
        if !include_deleted {
            filter.insert("deletedAt", Bson::Null);
        }
        self.records(module)
            .count_documents(filter)
            .await
            .map_err(mongo_error)
    }

    async fn due_tenants(&self, query: &DueQuery) -> Result<Vec<DueTenant>, StoreError> {
        self.due_tenants_impl(query).await
    }

    async fn claim_enqueue(
        &self,
        user_ids: &[TenantId],
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Vec<TenantId>, StoreError> {
        self.claim_enqueue_impl(user_ids, now, stale_before).await
    }

    async fn clear_enqueue(&self, user_id: &TenantId) -> Result<(), StoreError> {
        self.clear_enqueue_impl(user_id).await
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
        search: &super::TenantSearch,
    ) -> Result<super::TenantMatches, StoreError> {
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
        self.set_connection_modules_impl(user_id, modules, now)
            .await
    }

    async fn request_verify(
        &self,
        user_id: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.request_verify_impl(user_id, now).await
    }

    async fn overview(&self, now: DateTime<Utc>) -> Result<StoreOverview, StoreError> {
        self.overview_impl(now).await
    }
}

// ---------------------------------------------------------------------------------------------
// errors

/// An error inside a transaction attempt: driver errors keep their labels until the retry
/// loop has looked at them.
#[derive(Debug)]
enum TxnError {
    Store(StoreError),
    Mongo(mongodb::error::Error),
}

impl TxnError {
    fn into_store(self) -> StoreError {
        match self {
            TxnError::Store(e) => e,
            TxnError::Mongo(e) => mongo_error(e),
        }
    }
}

impl From<StoreError> for TxnError {
    fn from(e: StoreError) -> Self {
        TxnError::Store(e)
    }
}

impl From<mongodb::error::Error> for TxnError {
    fn from(e: mongodb::error::Error) -> Self {
        TxnError::Mongo(e)
    }
}

/// Network trouble, elections and conflicts that outlived the retries are worth retrying
/// later (`Unavailable`); everything else is a `Backend` error.
fn mongo_error(e: mongodb::error::Error) -> StoreError {
    let unreachable = matches!(
        e.kind.as_ref(),
        ErrorKind::Io(_)
            | ErrorKind::ServerSelection { .. }
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. }
            | ErrorKind::Shutdown
    );
    let retryable = e.contains_label(RETRYABLE_WRITE_ERROR)
        || e.contains_label(TRANSIENT_TRANSACTION_ERROR)
        || e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT);
    if unreachable || retryable {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Backend(e.to_string())
    }
}

/// E11000: a unique index refused the write.
fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    const DUPLICATE_KEY: i32 = 11000;
    match e.kind.as_ref() {
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        _ => false,
    }
}

fn backend(message: impl Into<String>) -> StoreError {
    StoreError::Backend(message.into())
}

fn corrupt(message: impl Into<String>) -> StoreError {
    StoreError::Corrupt(message.into())
}

fn lease_lost(lease: &Lease) -> StoreError {
    StoreError::LeaseLost {
        user_id: lease.user_id.to_string(),
    }
}

/// Commits, retrying only the commit when its outcome is unknown (committing twice is safe).
async fn commit(session: &mut ClientSession) -> Result<(), TxnError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(e)
                if tries < MAX_COMMIT_ATTEMPTS
                    && e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

async fn create_index(
    collection: &Collection<Document>,
    keys: Document,
    unique: bool,
) -> Result<(), StoreError> {
    let options = IndexOptions::builder().unique(unique).build();
    let model = IndexModel::builder().keys(keys).options(options).build();
    collection.create_index(model).await.map_err(mongo_error)?;
    Ok(())
}
