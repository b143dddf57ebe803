//! The `BatchRunner`: fetches one batch's window page by page (id keyset, never offsets),
//! checks the number of distinct ids against Odoo's count, and maps the records — all
//! before anything is written, so a batch writes everything or nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::window::window_domain;
use crate::mirror::MappingError;
use crate::modules::ModelMapping;
use crate::odoo::{Context, OdooClient, OdooError, Op, Record, SearchOptions};
use crate::store::{Batch, MirrorRecord};

/// Why fetching a batch did not produce records to write.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Odoo(#[from] OdooError),
    /// Records changed while the window was read; the attempt is retried.
    #[error("read {fetched} distinct records but Odoo counts {counted} in the window")]
    CountMismatch { fetched: u64, counted: u64 },
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The lease was lost while fetching; the new holder will redo the batch.
    #[error("lease lost while fetching")]
    LeaseLost,
}

/// A validated window, ready to write.
#[derive(Debug)]
pub struct FetchedWindow {
    pub records: Vec<MirrorRecord>,
    /// The newest `write_date` among them (Odoo's clock).
    pub watermark: Option<DateTime<Utc>>,
    /// Calls this fetch made.
    pub calls: u32,
}

/// Fetches batches of one module from one server.
pub struct BatchRunner<'a> {
    pub client: &'a OdooClient,
    pub mapping: &'a ModelMapping,
    pub limit: u32,
}

impl BatchRunner<'_> {
    fn context(&self) -> Context {
        if self.mapping.has_active {
            Context::with_archived()
        } else {
            Context::default()
        }
    }

    /// Fetches and validates the batch's window. `still_held` is asked between pages, so a
    /// worker that lost its lease stops early instead of finishing work that will be refused.
    pub async fn fetch(
        &self,
        batch: &Batch,
        still_held: impl Fn() -> bool,
    ) -> Result<FetchedWindow, FetchError> {
        // A window planned as empty needs no call: nothing was there to fetch.
        if batch.expected_count == Some(0) {
            return Ok(FetchedWindow {
                records: Vec::new(),
                watermark: None,
                calls: 0,
            });
        }
        let domain = window_domain(&self.mapping.domain, batch.window_start, batch.window_end);
        let context = self.context();
        let mut by_id: BTreeMap<i64, Record> = BTreeMap::new();
        let mut last_id = 0i64;
        let mut calls = 0u32;
        loop {
            if !still_held() {
                return Err(FetchError::LeaseLost);
            }
            let page = self
                .client
                .search_read(
                    self.mapping.model,
                    &domain.clone().and("id", Op::Gt, last_id),
                    &SearchOptions {
                        fields: &self.mapping.fields,
                        order: Some("id asc"),
                        limit: Some(self.limit),
                        context,
                    },
                )
                .await?;
            calls += 1;
            let full = page.len() >= self.limit as usize;
            for record in page {
                if let Some(id) = record.get("id").and_then(serde_json::Value::as_i64) {
                    last_id = last_id.max(id);
                    by_id.insert(id, record);
                }
            }
            // A short page ends the window; so does reaching the planned count, which saves
            // the empty call that would otherwise confirm the end.
            let reached_expected = batch.expected_count == Some(by_id.len() as u64);
            if !full || reached_expected {
                break;
            }
        }
        let fetched = by_id.len() as u64;
        if batch.expected_count != Some(fetched) {
            let counted = self
                .client
                .search_count(self.mapping.model, &domain, context)
                .await?;
            calls += 1;
            if counted != fetched {
                return Err(FetchError::CountMismatch { fetched, counted });
            }
        }
        let mut records = Vec::with_capacity(by_id.len());
        for (_, raw) in by_id {
            records.push(self.mapping.module.mirror(self.mapping.model, raw)?);
        }
        let watermark = records.iter().map(|r| r.write_date).max();
        Ok(FetchedWindow {
            records,
            watermark,
            calls,
        })
    }

    /// Every id of the module (archived included): what a reconcile compares against.
    pub async fn all_ids(&self) -> Result<Vec<i64>, OdooError> {
        self.client
            .search(
                self.mapping.model,
                &self.mapping.domain,
                &SearchOptions {
                    order: Some("id asc"),
                    context: self.context(),
                    ..SearchOptions::default()
                },
            )
            .await
    }
}
