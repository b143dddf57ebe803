//! Operators' queries and actions on MongoDB (issue 5): tenants page by page (searched by
//! user id prefix and filtered, issue 13), retrying permanently failed batches, an
//! operator's block, and counts across every tenant.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use super::{count_slot, date, mongo_error, tenant_from_doc, Fields, MongoStore};
use crate::modules::Module;
use crate::store::{
    BatchStatus, StoreError, StoreOverview, SyncStatus, TenantError, TenantFilter, TenantId,
    TenantMatches, TenantSearch, TenantState,
};

impl MongoStore {
    pub(super) async fn list_tenants_impl(
        &self,
        after: Option<&TenantId>,
        limit: u32,
    ) -> Result<Vec<TenantState>, StoreError> {
        let filter = match after {
            Some(after) => doc! { "userId": { "$gt": after.as_str() } },
            None => doc! {},
        };
        let docs: Vec<Document> = self
            .tenants()
            .find(filter)
            .sort(doc! { "userId": 1 })
            .limit(i64::from(limit))
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)?;
        docs.iter().map(tenant_from_doc).collect()
    }

    /// The prefix is a range on the unique `userId` index; `not_started` / `in_progress` /
    /// `done` use the `{syncStatus, enqueuedAt}` index for the count; `failed` first reads
    /// the ids of tenants with a permanently failed batch through the batches'
    /// `{status, nextAttemptAt, userId}` index (at most one per tenant).
    pub(super) async fn find_tenants_impl(
        &self,
        search: &TenantSearch,
    ) -> Result<TenantMatches, StoreError> {
        let limit = search.page_size();
        let (low, high) = search.id_range();
        let mut ids = doc! { "$gte": &low, "$lt": &high };
        let mut filter = Document::new();
        match search.filter {
            Some(TenantFilter::Blocked) => {
                filter.insert("blocked", doc! { "$ne": Bson::Null });
            }
            Some(TenantFilter::Failed) => {
                let failed: Vec<Bson> = self
                    .batches_coll()
                    .distinct(
                        "userId",
                        doc! {
                            "status": BatchStatus::PermanentlyFailed.as_str(),
                            "userId": { "$gte": &low, "$lt": &high },
                        },
                    )
                    .await
                    .map_err(mongo_error)?;
                ids.insert("$in", failed);
            }
            Some(other) => {
                if let Some(status) = other.sync_status() {
                    filter.insert("syncStatus", status.as_str());
                }
            }
            None => {}
        }
        filter.insert("userId", ids.clone());
        let total = self
            .tenants()
            .count_documents(filter.clone())
            .await
            .map_err(mongo_error)?;
        if let Some(after) = &search.after {
            ids.insert("$gt", after.as_str());
            filter.insert("userId", ids);
        }
        let docs: Vec<Document> = self
            .tenants()
            .find(filter)
            .sort(doc! { "userId": 1 })
            .limit(i64::from(limit) + 1)
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)?;
        let tenants = docs
            .iter()
            .map(tenant_from_doc)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TenantMatches::page(tenants, limit, total))
    }

    pub(super) async fn retry_failed_batches_impl(
        &self,
        user_id: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let updated = self
            .batches_coll()
            .update_many(
                doc! {
                    "userId": user_id.as_str(),
                    "status": BatchStatus::PermanentlyFailed.as_str(),
                },
                doc! { "$set": {
                    "status": BatchStatus::Failed.as_str(),
                    "attempts": 0_i64,
                    "nextAttemptAt": date(now),
                    "finishedAt": Bson::Null,
                    "updatedAt": date(now),
                } },
            )
            .await
            .map_err(mongo_error)?;
        Ok(updated.modified_count)
    }

    pub(super) async fn request_verify_impl(
        &self,
        user_id: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let updated = self
            .tenants()
            .update_one(
                doc! { "userId": user_id.as_str() },
                doc! { "$set": {
                    "modules.$[].lastVerifyAt": Bson::Null,
                    "updatedAt": date(now),
                } },
            )
            .await
            .map_err(mongo_error)?;
        if updated.matched_count == 0 {
            return Err(StoreError::UnknownTenant(user_id.to_string()));
        }
        Ok(())
    }

    pub(super) async fn set_operator_block_impl(
        &self,
        user_id: &TenantId,
        error: Option<&TenantError>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let filter = doc! { "userId": user_id.as_str() };
        let update = match error {
            Some(e) => doc! {
                "$set": {
                    "blocked": { "code": &e.code, "message": &e.message, "at": date(e.at) },
                    "lease": Bson::Null,
                    "updatedAt": date(now),
                },
                "$inc": { "fence": 1_i64 },
            },
            None => doc! { "$set": { "blocked": Bson::Null, "updatedAt": date(now) } },
        };
        let updated = self
            .tenants()
            .update_one(filter, update)
            .await
            .map_err(mongo_error)?;
        if updated.matched_count == 0 {
            return Err(StoreError::UnknownTenant(user_id.to_string()));
        }
        Ok(())
    }

    pub(super) async fn overview_impl(
        &self,
        now: DateTime<Utc>,
    ) -> Result<StoreOverview, StoreError> {
        let mut overview = StoreOverview::default();
        for (status, n) in self.group_count(TenantsOrBatches::Tenants).await? {
            let status: SyncStatus = status
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("tenant syncStatus {status:?}")))?;
            *overview.tenants.entry(status).or_default() += n;
        }
        for (status, n) in self.group_count(TenantsOrBatches::Batches).await? {
            let status: BatchStatus = status
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("batch status {status:?}")))?;
            *count_slot(&mut overview.batches, status) += n;
        }
        overview.blocked_tenants = self
            .tenants()
            .count_documents(doc! { "blocked": { "$ne": Bson::Null } })
            .await
            .map_err(mongo_error)?;
        overview.live_leases = self
            .tenants()
            .count_documents(doc! { "lease.expiresAt": { "$gt": date(now) } })
            .await
            .map_err(mongo_error)?;
        for module in Module::all() {
            let live = self
                .records(module)
                .count_documents(doc! { "deletedAt": Bson::Null })
                .await
                .map_err(mongo_error)?;
            overview.records.insert(module, live);
        }
        let corrected: Vec<Document> = self
            .tenants()
            .aggregate([
                doc! { "$unwind": "$modules" },
                doc! { "$match": { "modules.verifyCorrectedTotal": { "$gt": 0 } } },
                doc! { "$group": {
                    "_id": "$modules.module",
                    "n": { "$sum": "$modules.verifyCorrectedTotal" },
                } },
            ])
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)?;
        for group in &corrected {
            let f = Fields::new(group, "verify count");
            let module: Module = f.parsed("_id")?;
            overview
                .verify_corrected
                .insert(module, f.opt_u64("n")?.unwrap_or(0));
        }
        Ok(overview)
    }

    /// Tenants, or batches in windows (as the tenants' progress counts them), by status.
    async fn group_count(&self, what: TenantsOrBatches) -> Result<Vec<(String, u64)>, StoreError> {
        let (collection, field, one) = match what {
            TenantsOrBatches::Tenants => (self.tenants(), "$syncStatus", Bson::Int64(1)),
            TenantsOrBatches::Batches => (
                self.batches_coll(),
                "$status",
                Bson::Document(doc! { "$ifNull": ["$windowCount", 1_i64] }),
            ),
        };
        let groups: Vec<Document> = collection
            .aggregate(vec![
                doc! { "$group": { "_id": field, "n": { "$sum": one } } },
            ])
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)?;
        groups
            .iter()
            .map(|group| {
                let f = Fields::new(group, "status count");
                Ok((
                    f.str("_id")?.to_string(),
                    u64::try_from(f.i64("n")?).unwrap_or(0),
                ))
            })
            .collect()
    }
}

/// Which collection [`MongoStore::group_count`] counts.
#[derive(Debug, Clone, Copy)]
enum TenantsOrBatches {
    Tenants,
    Batches,
}
