//! The `WindowSizer`: plans a module's initial batches as `write_date` windows of at most
//! `LIMIT_PER_CALL` records (where the data allows), between `MIN_WINDOW_MINUTES` and
//! `MAX_WINDOW_HOURS` long, spending as few calls as it can.
//!
//! It asks Odoo for per-day counts in one `read_group` call, refines only the days that are
//! too full (or too long for the window limit) with per-hour counts, and halves only the
//! hours still too full with `search_count`. Known-empty stretches get no batch at all, and
//! adjacent quiet buckets are merged into one window. Every planned window carries its
//! count, so fetching it usually needs no count call of its own. Where grouping is not
//! available it falls back to halving by `search_count` alone.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::mirror::format_datetime;
use crate::modules::ModelMapping;
use crate::odoo::{Context, Domain, ErrorClass, Granularity, OdooClient, OdooError, Op};

/// The sizes a window must respect.
#[derive(Debug, Clone, Copy)]
pub struct WindowLimits {
    /// Target records per window (`LIMIT_PER_CALL`).
    pub limit: u64,
    pub min_window: Duration,
    pub max_window: Duration,
}

/// A planned window `[start, end)` with the number of records Odoo counted in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub count: u64,
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
    ) -> Result<Vec<PlannedWindow>, OdooError> {
        if start >= end {
            return Ok(Vec::new());
        }
        let days = match self.counts(start, end, Granularity::Day).await {
            Ok(days) => days,
            Err(e) if grouping_unavailable(&e) => {
                tracing::info!(model = self.mapping.model, error = %e, "no grouped counts; planning by search_count");
                return self.plan_by_halving(start, end).await;
            }
            Err(e) => return Err(e),
        };
        let mut buckets = Vec::with_capacity(days.len());
        for day in days {
            if self.fits(&day) {
                buckets.push(day);
                continue;
            }
            let hours = self.counts(day.start, day.end, Granularity::Hour).await?;
            for hour in hours {
                if self.fits(&hour) {
                    buckets.push(hour);
                } else {
                    self.halve(hour.start, hour.end, Some(hour.count), &mut buckets)
                        .await?;
                }
            }
        }
        Ok(merge_buckets(&buckets, self.limits))
    }

    fn fits(&self, bucket: &PlannedWindow) -> bool {
        bucket.count <= self.limits.limit
            && bucket.end - bucket.start <= to_delta(self.limits.max_window)
    }

    /// Per-period counts clipped to `[start, end)`.
    async fn counts(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        granularity: Granularity,
    ) -> Result<Vec<PlannedWindow>, OdooError> {
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
        let mut windows: Vec<PlannedWindow> = periods
            .into_iter()
            .filter(|p| p.count > 0)
            .map(|p| PlannedWindow {
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
    ) -> Result<Vec<PlannedWindow>, OdooError> {
        let step = to_delta(self.limits.max_window);
        let mut leaves = Vec::new();
        let mut at = start;
        while at < end {
            let next = (at + step).min(end);
            self.halve(at, next, None, &mut leaves).await?;
            at = next;
        }
        Ok(merge_buckets(&leaves, self.limits))
    }

    /// Splits `[start, end)` in halves until each part holds at most `limit` records or
    /// would drop below `min_window`; a part that is still too full becomes one window
    /// fetched in several pages.
    async fn halve(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        known: Option<u64>,
        out: &mut Vec<PlannedWindow>,
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
                out.push(PlannedWindow {
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
    matches!(error.class(), ErrorClass::Failed)
        && !matches!(error, OdooError::MissingModel { .. })
}

/// Greedily merges consecutive buckets into windows of at most `limit` records and
/// `max_window` length. Greedy is optimal here: with the order fixed, closing a window
/// only when the next bucket does not fit gives the fewest windows. A bucket that alone
/// exceeds the limit stays a window of its own.
pub fn merge_buckets(buckets: &[PlannedWindow], limits: WindowLimits) -> Vec<PlannedWindow> {
    let max = to_delta(limits.max_window);
    let mut windows: Vec<PlannedWindow> = Vec::new();
    for bucket in buckets {
        if let Some(current) = windows.last_mut() {
            let fits = current.count + bucket.count <= limits.limit
                && bucket.end - current.start <= max
                && bucket.start >= current.end;
            if fits {
                current.end = bucket.end;
                current.count += bucket.count;
                continue;
            }
        }
        windows.push(*bucket);
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("valid") + TimeDelta::hours(h.into())
    }

    fn w(s: u32, e: u32, count: u64) -> PlannedWindow {
        PlannedWindow {
            start: at(s),
            end: at(e),
            count,
        }
    }

    const LIMITS: WindowLimits = WindowLimits {
        limit: 200,
        min_window: Duration::from_secs(1800),
        max_window: Duration::from_secs(24 * 3600),
    };

    #[test]
    fn merges_quiet_buckets_up_to_the_limit_and_the_span() {
        let merged = merge_buckets(&[w(0, 1, 50), w(3, 4, 100), w(5, 6, 60), w(7, 8, 10)], LIMITS);
        assert_eq!(merged, vec![w(0, 4, 150), w(5, 8, 70)]);
        let merged = merge_buckets(&[w(0, 24, 10), w(24, 48, 10)], LIMITS);
        assert_eq!(merged.len(), 2, "two days exceed the 24 h window");
        let merged = merge_buckets(&[w(0, 1, 500), w(1, 2, 1)], LIMITS);
        assert_eq!(merged, vec![w(0, 1, 500), w(1, 2, 1)], "an over-full bucket stands alone");
    }
}
