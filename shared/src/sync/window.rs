//! The `WindowSizer`: plans a module's initial batches as `write_date` windows of at most
//! `LIMIT_PER_CALL` records (where the data allows), between `MIN_WINDOW_MINUTES` and
//! `MAX_WINDOW_HOURS` long, spending as few calls as it can.
//!
//! Batch size and page size are two things: a batch (what progress counts and a retry
//! redoes) keeps at most `LIMIT_PER_CALL` records, while a fetch group, read with one run of
//! `search_read` pages, holds up to `PAGE_SIZE` records.
//!
//! It asks Odoo for per-hour counts of the whole range in one `read_group` call (per-day
//! counts first for ranges too long for that, refining only the days that are too full),
//! and halves only the hours still too full with `search_count`. Known-empty stretches get
//! no batch at all.
//!
//! The buckets are then packed twice: into *fetch groups* of at most `PAGE_SIZE` records,
//! each of which the engine reads with one call, and each group into *windows* of at most
//! `LIMIT_PER_CALL` records and `MAX_WINDOW_HOURS` — the batches. So quiet days cost a fraction of a call each
//! while every batch still respects the window limit. Every window carries its count, so
//! fetching it needs no count call of its own unless the data changed. Where grouping is
//! not available the sizer falls back to halving by `search_count` alone.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::mirror::format_datetime;
use crate::modules::ModelMapping;
use crate::odoo::{Context, Domain, ErrorClass, Granularity, OdooClient, OdooError, Op};
use crate::store::BatchWindow;

/// The sizes a window must respect.
#[derive(Debug, Clone, Copy)]
pub struct WindowLimits {
    /// Target records per window, a batch (`LIMIT_PER_CALL`).
    pub limit: u64,
    /// Records per fetch group, read with one call (`PAGE_SIZE`; at least `limit`).
    pub page: u64,
    pub min_window: Duration,
    pub max_window: Duration,
}

/// Plans windows for one module on one server.
pub struct WindowSizer<'a> {
    client: &'a OdooClient,
    mapping: &'a ModelMapping,
    context: Context,
    limits: WindowLimits,
}

/// The module's domain restricted to `[start, end)` on `write_date`.
pub fn window_domain(base: &Domain, start: DateTime<Utc>, end: DateTime<Utc>) -> Domain {
    base.clone()
        .and("write_date", Op::Ge, format_datetime(start))
        .and("write_date", Op::Lt, format_datetime(end))
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl<'a> WindowSizer<'a> {
    pub fn new(
        client: &'a OdooClient,
        mapping: &'a ModelMapping,
        context: Context,
        limits: WindowLimits,
    ) -> Self {
        WindowSizer {
            client,
            mapping,
            context,
            limits,
        }
    }

    /// Windows covering every record with `start <= write_date < end`, in time order.
    pub async fn plan(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<BatchWindow>, OdooError> {
        if start >= end {
            return Ok(Vec::new());
        }
        let hourly = end - start <= TimeDelta::hours(HOURLY_PLAN_MAX_HOURS);
        let first = if hourly {
            Granularity::Hour
        } else {
            Granularity::Day
        };
        let coarse = match self.counts(start, end, first).await {
            Ok(buckets) => buckets,
            Err(e) if grouping_unavailable(&e) => {
                tracing::info!(model = self.mapping.model, error = %e, "no grouped counts; planning by search_count");
                return self.plan_by_halving(start, end).await;
            }
            Err(e) => return Err(e),
        };
        let mut buckets = Vec::with_capacity(coarse.len());
        for bucket in coarse {
            if bucket.count <= self.limits.limit {
                buckets.push(bucket);
            } else if first == Granularity::Day {
                for hour in self
                    .counts(bucket.start, bucket.end, Granularity::Hour)
                    .await?
                {
                    self.split_if_full(hour, &mut buckets).await?;
                }
            } else {
                self.split_if_full(bucket, &mut buckets).await?;
            }
        }
        Ok(pack(&buckets, self.limits))
    }

    async fn split_if_full(
        &self,
        bucket: BatchWindow,
        out: &mut Vec<BatchWindow>,
    ) -> Result<(), OdooError> {
        if bucket.count <= self.limits.limit {
            out.push(bucket);
            Ok(())
        } else {
            self.halve(bucket.start, bucket.end, Some(bucket.count), out)
                .await
        }
    }

    /// Per-period counts clipped to `[start, end)`.
    async fn counts(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        granularity: Granularity,
    ) -> Result<Vec<BatchWindow>, OdooError> {
        let domain = window_domain(&self.mapping.domain, start, end);
        let periods = self
            .client
            .count_by_period(
                self.mapping.model,
                &domain,
                "write_date",
                granularity,
                self.context,
            )
            .await?;
        let mut windows: Vec<BatchWindow> = periods
            .into_iter()
            .filter(|p| p.count > 0)
            .map(|p| BatchWindow {
                start: p.start.and_utc().max(start),
                end: p.end.and_utc().min(end),
                count: p.count,
            })
            .filter(|w| w.start < w.end)
            .collect();
        windows.sort_by_key(|w| w.start);
        Ok(windows)
    }

    /// The reference design's method, used when grouping is unavailable: windows of
    /// `max_window` from `start`, each halved by `search_count` until it fits.
    async fn plan_by_halving(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<BatchWindow>, OdooError> {
        let step = to_delta(self.limits.max_window);
        let mut leaves = Vec::new();
        let mut at = start;
        while at < end {
            let next = (at + step).min(end);
            self.halve(at, next, None, &mut leaves).await?;
            at = next;
        }
        Ok(pack(&leaves, self.limits))
    }

    /// Splits `[start, end)` in halves until each part holds at most `limit` records or
    /// would drop below `min_window`; a part that is still too full becomes one window
    /// fetched in several pages.
    async fn halve(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        known: Option<u64>,
        out: &mut Vec<BatchWindow>,
    ) -> Result<(), OdooError> {
        // An explicit stack: the depth is small, but recursion in async fns needs boxing.
        let mut stack = vec![(start, end, known)];
        let min = to_delta(self.limits.min_window);
        let max = to_delta(self.limits.max_window);
        while let Some((s, e, known)) = stack.pop() {
            let count = match known {
                Some(c) => c,
                None => {
                    self.client
                        .search_count(
                            self.mapping.model,
                            &window_domain(&self.mapping.domain, s, e),
                            self.context,
                        )
                        .await?
                }
            };
            if count == 0 {
                continue;
            }
            let span = e - s;
            let half = TimeDelta::seconds(span.num_seconds() / 2);
            if (count <= self.limits.limit && span <= max) || half < min {
                out.push(BatchWindow {
                    start: s,
                    end: e,
                    count,
                });
                continue;
            }
            let mid = s + half;
            // Later half first so the earlier half is popped (and emitted) first.
            stack.push((mid, e, None));
            stack.push((s, mid, None));
        }
        out.sort_by_key(|w| w.start);
        Ok(())
    }
}

/// Odoo answers that rule out grouped counts for this model on this server (old shapes,
/// restricted methods) — as opposed to errors that would fail any call.
fn grouping_unavailable(error: &OdooError) -> bool {
    matches!(error.class(), ErrorClass::Failed) && !matches!(error, OdooError::MissingModel { .. })
}

/// Up to this many hours the whole range is counted per hour in one call (the answer has
/// at most one group per hour); longer ranges are counted per day first.
const HOURLY_PLAN_MAX_HOURS: i64 = 24 * 120;

/// Packs consecutive buckets into fetch groups of at most `page` records, then cuts each
/// group into windows of at most `limit` records and `max_window`. Greedy is optimal for the
/// groups: with the order fixed, closing a group only when the next bucket does not fit gives
/// the fewest groups. A bucket that alone exceeds the limit (a burst inside the minimum
/// window) is a window of its own, fetched in several pages.
pub fn pack(buckets: &[BatchWindow], limits: WindowLimits) -> Vec<BatchWindow> {
    let max = to_delta(limits.max_window);
    let page = limits.page.max(limits.limit);
    let mut windows: Vec<BatchWindow> = Vec::new();
    let mut group_count = u64::MAX;
    for bucket in buckets {
        let joins_group = group_count.saturating_add(bucket.count) <= page;
        if joins_group {
            group_count += bucket.count;
            if let Some(current) = windows.last_mut() {
                if bucket.end - current.start <= max
                    && bucket.start >= current.end
                    && current.count + bucket.count <= limits.limit
                {
                    current.end = bucket.end;
                    current.count += bucket.count;
                    continue;
                }
            }
        } else {
            group_count = bucket.count;
        }
        windows.push(*bucket);
    }
    windows
}

/// Splits the windows [`pack`] made into its fetch groups, each read with one run of pages
/// and stored as one batch: a group grows while its total stays within `page`.
pub fn fetch_groups(windows: &[BatchWindow], page: u64) -> impl Iterator<Item = &[BatchWindow]> {
    let mut rest = windows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let counts: Vec<u64> = rest.iter().map(|w| w.count).collect();
        let (group, after) = rest.split_at(first_group_len(&counts, page).min(rest.len()));
        rest = after;
        Some(group)
    })
}

/// How many of `counts` (from the start) form the first fetch group; at least one.
fn first_group_len(counts: &[u64], page: u64) -> usize {
    let mut total = 0u64;
    let mut len = 0;
    for count in counts {
        if len > 0 && total.saturating_add(*count) > page {
            break;
        }
        total = total.saturating_add(*count);
        len += 1;
    }
    len.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("valid")
            + TimeDelta::hours(h.into())
    }

    fn w(s: u32, e: u32, count: u64) -> BatchWindow {
        BatchWindow {
            start: at(s),
            end: at(e),
            count,
        }
    }

    const LIMITS: WindowLimits = WindowLimits {
        limit: 200,
        page: 200,
        min_window: Duration::from_secs(1800),
        max_window: Duration::from_secs(24 * 3600),
    };

    #[test]
    fn packs_buckets_into_groups_and_windows() {
        // Quiet hours: one group of 150, one window.
        let packed = pack(
            &[w(0, 1, 50), w(3, 4, 100), w(5, 6, 60), w(7, 8, 10)],
            LIMITS,
        );
        assert_eq!(packed, vec![w(0, 4, 150), w(5, 8, 70)]);
        // Two quiet days: one group (one call) but two windows, none longer than 24 h.
        let packed = pack(&[w(0, 1, 10), w(23, 24, 10), w(30, 31, 10)], LIMITS);
        assert_eq!(packed, vec![w(0, 24, 20), w(30, 31, 10)]);
        assert_eq!(first_group_len(&[20, 10], 200), 2);
        // An over-full bucket stands alone.
        let packed = pack(&[w(0, 1, 500), w(1, 2, 1)], LIMITS);
        assert_eq!(packed, vec![w(0, 1, 500), w(1, 2, 1)]);
        assert_eq!(first_group_len(&[500, 1], 200), 1);
        assert_eq!(first_group_len(&[150, 40, 20], 200), 2);
    }

    #[test]
    fn groups_rebuilt_at_run_time_match_the_plan() {
        // Hourly buckets of a uniform 139 records a day.
        let buckets: Vec<BatchWindow> = (0..24 * 10)
            .map(|h| w(h, h + 1, if h % 24 < 19 { 6 } else { 5 }))
            .collect();
        let windows = pack(&buckets, LIMITS);
        assert!(windows
            .iter()
            .all(|x| x.end - x.start <= TimeDelta::hours(24)));
        let total: u64 = windows.iter().map(|x| x.count).sum();
        assert_eq!(total, 1390);
        let calls = fetch_groups(&windows, 200).count();
        // ceil(1390 / 200) = 7: near the lower bound, not one call per day (10).
        assert!(calls <= 8, "{calls} fetch calls");
    }

    #[test]
    fn pages_hold_several_batches() {
        let limits = WindowLimits {
            page: 1000,
            ..LIMITS
        };
        // Three busy hours of 150 and a quiet stretch: one page, batches of at most 200.
        let packed = pack(
            &[
                w(0, 1, 150),
                w(1, 2, 150),
                w(2, 3, 150),
                w(5, 6, 20),
                w(40, 41, 30),
            ],
            limits,
        );
        assert_eq!(
            packed,
            vec![w(0, 1, 150), w(1, 2, 150), w(2, 6, 170), w(40, 41, 30)]
        );
        assert!(packed.iter().all(|x| x.count <= 200));
        assert_eq!(
            fetch_groups(&packed, 1000).count(),
            1,
            "one call for all of it"
        );
        // A uniform 90 days of 139 records a day: ceil(12510 / 1000) = 13 calls, each
        // batch within 200 records and 24 hours.
        let buckets: Vec<BatchWindow> = (0..24 * 90)
            .map(|h| w(h, h + 1, if h % 24 < 19 { 6 } else { 5 }))
            .collect();
        let windows = pack(&buckets, limits);
        assert!(windows
            .iter()
            .all(|x| x.count <= 200 && x.end - x.start <= TimeDelta::hours(24)));
        let calls = fetch_groups(&windows, 1000).count();
        assert!(calls <= 14, "{calls} fetch calls for 12,510 records");
    }
}
