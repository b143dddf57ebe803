//! The scheduler's queries on MongoDB (issue 4): due tenants and the per-tenant queued-job
//! mark (`enqueuedAt` on the tenant document). Each query is bounded by the caller's limit,
//! and served by the indexes made in [`MongoStore::ensure_scheduling_indexes`].

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use super::{date, mongo_error, MongoStore};
use crate::store::{BatchStatus, DueQuery, DueTenant, DueWork, StoreError, SyncStatus, TenantId};

/// Tenants looked up per `$in` query.
const CHUNK: usize = 1000;

impl MongoStore {
    /// The indexes the scheduler's queries use (a no-op when they exist).
    pub(super) async fn ensure_scheduling_indexes(&self) -> Result<(), StoreError> {
        super::create_index(
            &self.tenants(),
            doc! { "syncStatus": 1, "enqueuedAt": 1 },
            false,
        )
        .await?;
        // Runnable batches across tenants: status first, then the retry time.
        super::create_index(
            &self.batches_coll(),
            doc! { "status": 1, "nextAttemptAt": 1, "userId": 1 },
            false,
        )
        .await
    }

    pub(super) async fn due_tenants_impl(
        &self,
        query: &DueQuery,
    ) -> Result<Vec<DueTenant>, StoreError> {
        let mut due = Vec::new();
        if query.limit == 0 {
            return Ok(due);
        }
        let prepare = self
            .tenant_ids(
                doc! {
                    "$and": free_tenant(query),
                    "syncStatus": SyncStatus::NotStarted.as_str(),
                    "connection": { "$ne": Bson::Null },
                },
                query.limit,
            )
            .await?;
        due.extend(prepare.into_iter().map(|user_id| DueTenant {
            user_id,
            work: DueWork::Prepare,
        }));

        let runnable = self.runnable_tenant_ids(query.now, None).await?;
        let mut process = Vec::new();
        for chunk in runnable.chunks(CHUNK) {
            if process.len() >= query.limit {
                break;
            }
            let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let found = self
                .tenant_ids(
                    doc! {
                        "$and": free_tenant(query),
                        "userId": { "$in": ids },
                        "syncStatus": { "$in": [
                            SyncStatus::InProgress.as_str(),
                            SyncStatus::Done.as_str(),
                        ] },
                    },
                    query.limit - process.len(),
                )
                .await?;
            process.extend(found);
        }
        due.extend(process.into_iter().map(|user_id| DueTenant {
            user_id,
            work: DueWork::Process,
        }));

        let mut conditions = free_tenant(query);
        conditions.push(doc! { "$or": [
            { "modules.lastIncrementalAt": Bson::Null },
            { "modules.lastIncrementalAt": { "$lt": date(query.incremental_before) } },
            { "modules.lastReconcileAt": Bson::Null },
            { "modules.lastReconcileAt": { "$lt": date(query.reconcile_before) } },
            { "modules.lastVerifyAt": Bson::Null },
            { "modules.lastVerifyAt": { "$lt": date(query.verify_before) } },
        ] });
        let candidates = self
            .tenant_ids(
                doc! {
                    "$and": conditions,
                    "syncStatus": SyncStatus::Done.as_str(),
                    "modules.0": { "$exists": true },
                },
                query.limit,
            )
            .await?;
        if !candidates.is_empty() {
            let busy: HashSet<String> = self
                .runnable_tenant_ids(query.now, Some(&candidates))
                .await?
                .into_iter()
                .collect();
            due.extend(
                candidates
                    .into_iter()
                    .filter(|id| !busy.contains(id.as_str()))
                    .map(|user_id| DueTenant {
                        user_id,
                        work: DueWork::FollowUp,
                    }),
            );
        }
        Ok(due)
    }

    /// The ids of tenants matching `filter`, at most `limit`.
    async fn tenant_ids(
        &self,
        filter: Document,
        limit: usize,
    ) -> Result<Vec<TenantId>, StoreError> {
        let docs: Vec<Document> = self
            .tenants()
            .find(filter)
            .projection(doc! { "_id": 0, "userId": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)?;
        Ok(docs
            .iter()
            .filter_map(|d| d.get_str("userId").ok())
            .filter_map(|id| TenantId::parse(id).ok())
            .collect())
    }

    /// The distinct tenants with a runnable batch at `now`, among `only` when given.
    async fn runnable_tenant_ids(
        &self,
        now: DateTime<Utc>,
        only: Option<&[TenantId]>,
    ) -> Result<Vec<String>, StoreError> {
        let mut filter = doc! { "$or": [
            { "status": BatchStatus::Pending.as_str() },
            { "status": BatchStatus::InProgress.as_str() },
            { "status": BatchStatus::Failed.as_str(), "nextAttemptAt": { "$lte": date(now) } },
        ] };
        if let Some(ids) = only {
            let ids: Vec<&str> = ids.iter().map(TenantId::as_str).collect();
            filter.insert("userId", doc! { "$in": ids });
        }
        let pipeline = vec![
            doc! { "$match": filter },
            doc! { "$group": { "_id": "$userId" } },
        ];
        let docs: Vec<Document> = self
            .batches_coll()
            .aggregate(pipeline)
            .allow_disk_use(true)
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)?;
        Ok(docs
            .iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_string))
            .collect())
    }

    pub(super) async fn claim_enqueue_impl(
        &self,
        user_ids: &[TenantId],
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Vec<TenantId>, StoreError> {
        let mut claimed = Vec::new();
        for chunk in user_ids.chunks(CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(TenantId::as_str).collect();
            // Each document's update is atomic; the claim token tells which ones this call won.
            let token = uuid::Uuid::new_v4().simple().to_string();
            self.tenants()
                .update_many(
                    doc! {
                        "userId": { "$in": &ids },
                        "$or": [
                            { "enqueuedAt": Bson::Null },
                            { "enqueuedAt": { "$lt": date(stale_before) } },
                        ],
                    },
                    doc! { "$set": { "enqueuedAt": date(now), "enqueueClaim": &token } },
                )
                .await
                .map_err(mongo_error)?;
            claimed.extend(
                self.tenant_ids(
                    doc! { "userId": { "$in": &ids }, "enqueueClaim": &token },
                    chunk.len(),
                )
                .await?,
            );
        }
        Ok(claimed)
    }

    pub(super) async fn clear_enqueue_impl(&self, user_id: &TenantId) -> Result<(), StoreError> {
        self.tenants()
            .update_one(
                doc! { "userId": user_id.as_str() },
                doc! { "$set": { "enqueuedAt": Bson::Null, "enqueueClaim": Bson::Null } },
            )
            .await
            .map_err(mongo_error)?;
        Ok(())
    }
}

/// The conditions every due tenant meets: not blocked, no live lease, no recent job queued.
fn free_tenant(query: &DueQuery) -> Vec<Document> {
    vec![
        doc! { "$or": [ { "blocked": Bson::Null }, { "blocked": { "$exists": false } } ] },
        doc! { "$or": [
            { "lease": Bson::Null },
            { "lease.expiresAt": { "$lte": date(query.now) } },
        ] },
        doc! { "$or": [
            { "enqueuedAt": Bson::Null },
            { "enqueuedAt": { "$lt": date(query.enqueued_before) } },
        ] },
    ]
}
