//! The `BatchRunner`: fetches one batch's span page by page (id keyset, never offsets),
//! checks the number of distinct ids against Odoo's count, and maps the records — all
//! before anything is written, so a batch writes everything or nothing. Pages follow the
//! server's adapted page size ([`crate::odoo::PageSizer`]): a page that failed for its size
//! is asked again smaller instead of failing the batch.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::window::window_domain;
use crate::mirror::MappingError;
use crate::modules::ModelMapping;
use crate::odoo::{page_too_big, Context, OdooClient, OdooError, Op, Record, SearchOptions};
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
    /// The task fetching the batch panicked: a failed attempt, like any other.
    #[error("fetching the batch stopped abnormally: {0}")]
    Panicked(String),
}

/// A batch's validated records, ready to write.
#[derive(Debug, Default)]
pub struct FetchedRecords {
    pub records: Vec<MirrorRecord>,
    /// The newest `write_date` among them (Odoo's clock).
    pub watermark: Option<DateTime<Utc>>,
    /// Calls the fetch made.
    pub calls: u32,
}

impl FetchedRecords {
    fn empty() -> Self {
        FetchedRecords::default()
    }

    fn push(&mut self, record: MirrorRecord) {
        self.watermark = self.watermark.max(Some(record.write_date));
        self.records.push(record);
    }
}

/// How many `(id, write_date)` pairs a reconcile reads per call, as a multiple of the page
/// size: a pair is about a twentieth of a record's answer.
pub const PAIRS_PER_PAGE_FACTOR: u32 = 5;

/// Fetches batches of one module from one server.
pub struct BatchRunner<'a> {
    pub client: &'a OdooClient,
    pub mapping: &'a ModelMapping,
}

impl BatchRunner<'_> {
    fn context(&self) -> Context {
        if self.mapping.has_active {
            Context::with_archived()
        } else {
            Context::default()
        }
    }

    /// Fetches and validates `batch`: one run of pages over its span (a fetch group's windows
    /// and the known-empty gaps between them; the planner sized the group to fit one call).
    /// `still_held` is asked between pages, so a worker that lost its lease stops early
    /// instead of finishing work that would be refused.
    ///
    /// The number of distinct ids read must equal Odoo's count of the span: the planned count
    /// when they agree (no count call), else a fresh `search_count` (records changed since the
    /// plan, or a retry).
    pub async fn fetch(
        &self,
        batch: &Batch,
        still_held: impl Fn() -> bool,
    ) -> Result<FetchedRecords, FetchError> {
        let expected = batch.expected_count;
        // A batch planned as empty needs no call: nothing was there to fetch.
        if expected == Some(0) {
            return Ok(FetchedRecords::empty());
        }
        let domain = window_domain(&self.mapping.domain, batch.window_start, batch.window_end);
        let (by_id, mut calls) = self.read_pages(&domain, expected, &still_held).await?;
        let fetched = by_id.len() as u64;
        if expected != Some(fetched) {
            let counted = self
                .client
                .search_count(self.mapping.model, &domain, self.context())
                .await?;
            calls += 1;
            if counted != fetched {
                return Err(FetchError::CountMismatch { fetched, counted });
            }
        }
        let mut records = FetchedRecords::empty();
        for (_, raw) in by_id {
            records.push(self.mapping.module.mirror(self.mapping.model, raw)?);
        }
        records.calls = calls;
        Ok(records)
    }

    /// Reads the domain in pages by id until a short page, or until the expected number of
    /// distinct records is reached (which saves the empty call confirming the end).
    async fn read_pages(
        &self,
        domain: &crate::odoo::Domain,
        expected: Option<u64>,
        still_held: &impl Fn() -> bool,
    ) -> Result<(BTreeMap<i64, Record>, u32), FetchError> {
        let mut by_id: BTreeMap<i64, Record> = BTreeMap::new();
        let mut last_id = 0i64;
        let mut calls = 0u32;
        loop {
            if !still_held() {
                return Err(FetchError::LeaseLost);
            }
            let asked = self.client.pages().current();
            let answer = self
                .page(
                    &domain.clone().and("id", Op::Gt, last_id),
                    &self.mapping.field_names(),
                    asked,
                    Some(asked),
                    true,
                    &mut calls,
                )
                .await?;
            let Some(page) = answer else {
                continue;
            };
            let full = page.len() >= asked as usize;
            for record in page {
                if let Some(id) = record.get("id").and_then(serde_json::Value::as_i64) {
                    last_id = last_id.max(id);
                    by_id.insert(id, record);
                }
            }
            if !full || expected == Some(by_id.len() as u64) {
                return Ok((by_id, calls));
            }
        }
    }

    /// One `search_read` page of `fields`, counted in `calls`. `asked` is the page in the
    /// sizer's terms (what shrinks when the page fails for its size); `limit` is sent as the
    /// call's `limit` (`None`: the domain itself names at most `asked` ids). `observe` feeds
    /// the answer's time and size to the sizer. `None` when the page failed for its size and
    /// the sizer shrank: the caller asks again with the new size.
    async fn page(
        &self,
        domain: &crate::odoo::Domain,
        fields: &[&str],
        asked: u32,
        limit: Option<u32>,
        observe: bool,
        calls: &mut u32,
    ) -> Result<Option<Vec<Record>>, FetchError> {
        let options = SearchOptions {
            fields,
            order: Some("id asc"),
            limit,
            context: self.context(),
        };
        *calls += 1;
        match self
            .client
            .search_read_page(self.mapping.model, domain, &options)
            .await
        {
            Ok((records, mut measured)) => {
                if observe {
                    measured.asked = asked;
                    self.client.pages().observe(&measured);
                }
                Ok(Some(records))
            }
            Err(e) if page_too_big(&e) => match self.client.pages().shrink_after_failure(asked) {
                Some(_) => Ok(None),
                None => Err(e.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// The records with the given ids, a page of ids per call: what a reconcile or verify
    /// reads again. Ids no longer in Odoo (or outside the module's domain) are left out.
    /// `still_held` is asked between pages.
    pub async fn fetch_ids(
        &self,
        ids: &[i64],
        still_held: impl Fn() -> bool,
    ) -> Result<FetchedRecords, FetchError> {
        let mut window = FetchedRecords::empty();
        let mut rest = ids;
        while !rest.is_empty() {
            if !still_held() {
                return Err(FetchError::LeaseLost);
            }
            let take = (self.client.pages().current().max(1) as usize).min(rest.len());
            let (chunk, after) = rest.split_at(take);
            let domain = self
                .mapping
                .domain
                .clone()
                .and("id", Op::In, serde_json::json!(chunk));
            // The page is the ids asked for, so no `limit`: what comes back is at most them.
            let asked = u32::try_from(take).unwrap_or(u32::MAX);
            let Some(page) = self
                .page(
                    &domain,
                    &self.mapping.field_names(),
                    asked,
                    None,
                    true,
                    &mut window.calls,
                )
                .await?
            else {
                continue;
            };
            rest = after;
            for raw in page {
                window.push(self.mapping.module.mirror(self.mapping.model, raw)?);
            }
        }
        Ok(window)
    }

    /// Every `(id, write_date)` of the module, archived records included, by ascending id:
    /// what a reconcile compares with the mirror. Read in id-keyset pages of
    /// [`PAIRS_PER_PAGE_FACTOR`] × the page size (a pair is a small fraction of a record), so
    /// a module of hundreds of thousands of records never arrives as one answer. Returns the
    /// pairs and the calls made.
    pub async fn id_dates(
        &self,
        still_held: impl Fn() -> bool,
    ) -> Result<(Vec<(i64, DateTime<Utc>)>, u32), FetchError> {
        let mut pairs = Vec::new();
        let mut last_id = 0i64;
        let mut calls = 0u32;
        loop {
            if !still_held() {
                return Err(FetchError::LeaseLost);
            }
            let asked = self.client.pages().current();
            let limit = asked.saturating_mul(PAIRS_PER_PAGE_FACTOR);
            // Pairs are light: their answers say little about records' pages, so only a
            // failure for size moves the sizer (and the next pair page with it).
            let Some(page) = self
                .page(
                    &self.mapping.domain.clone().and("id", Op::Gt, last_id),
                    &["write_date"],
                    asked,
                    Some(limit),
                    false,
                    &mut calls,
                )
                .await?
            else {
                continue;
            };
            let full = page.len() >= limit as usize;
            for row in page {
                let id = row.get("id").and_then(serde_json::Value::as_i64);
                let date = row
                    .get("write_date")
                    .and_then(serde_json::Value::as_str)
                    .and_then(crate::mirror::parse_datetime);
                match (id, date) {
                    (Some(id), Some(date)) => {
                        last_id = last_id.max(id);
                        pairs.push((id, date));
                    }
                    (Some(id), None) => {
                        return Err(FetchError::Mapping(MappingError::BadWriteDate {
                            model: self.mapping.model.to_string(),
                            id,
                            value: row
                                .get("write_date")
                                .map(serde_json::Value::to_string)
                                .unwrap_or_else(|| "missing".into()),
                        }))
                    }
                    (None, _) => {
                        return Err(FetchError::Mapping(MappingError::MissingId {
                            model: self.mapping.model.to_string(),
                        }))
                    }
                }
            }
            if !full {
                return Ok((pairs, calls));
            }
        }
    }
}
