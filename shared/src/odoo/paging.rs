//! The page size of one Odoo server, adapted to how it answers. Odoo's time goes into its
//! own work per record, and a worker is killed past `limit_time_real` (120 s by default);
//! proxies cut earlier. So the page shrinks when an answer is slow or large, or when a page
//! failed in a way that says it was too big (a timeout, a proxy's 502/504), and grows back
//! while answers are quick, between a floor and `PAGE_SIZE`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::{OdooError, TransientKind};

/// The smallest page: below it a slow server is slow whatever we ask.
pub const MIN_PAGE: u32 = 10;

/// An answer larger than this is large whatever its time: memory on both sides, and what
/// a proxy buffers.
const LARGE_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// What one page's answer cost, as the client measured it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageAnswer {
    /// Records asked for (the call's `limit`).
    pub asked: u32,
    /// Records returned.
    pub records: usize,
    /// From asking for a turn to the decoded answer (the politeness wait included).
    pub elapsed: Duration,
    /// The answer's size, estimated from its records.
    pub bytes: usize,
}

/// The current page size of one server.
#[derive(Debug)]
pub struct PageSizer {
    current: AtomicU32,
    min: u32,
    max: u32,
    /// An answer at least this slow halves the page.
    slow: Duration,
    /// A full page answered at most this fast doubles it (up to `max`).
    quick: Duration,
}

impl PageSizer {
    /// Pages of `max` records at first. The thresholds follow the client's request timeout:
    /// an answer taking a quarter of it is slow, one taking a twenty-fourth is quick (30 s
    /// and 5 s with the default 120 s).
    pub fn new(max: u32, request_timeout: Duration) -> Self {
        let max = max.max(1);
        PageSizer {
            current: AtomicU32::new(max),
            min: MIN_PAGE.min(max),
            max,
            slow: request_timeout / 4,
            quick: request_timeout / 24,
        }
    }

    /// Records to ask for in the next page.
    pub fn current(&self) -> u32 {
        self.current.load(Ordering::Relaxed)
    }

    /// Adjusts to an answer; returns the new page size.
    pub fn observe(&self, answer: &PageAnswer) -> u32 {
        let now = self.current();
        let next = if answer.elapsed >= self.slow || answer.bytes >= LARGE_ANSWER_BYTES {
            (answer.asked.min(now) / 2).max(self.min)
        } else if answer.elapsed <= self.quick
            && answer.records >= answer.asked as usize
            && answer.bytes.saturating_mul(2) < LARGE_ANSWER_BYTES
        {
            now.saturating_mul(2).min(self.max)
        } else {
            now
        };
        if next != now {
            self.current.store(next, Ordering::Relaxed);
            tracing::info!(
                from = now,
                to = next,
                elapsed_ms = answer.elapsed.as_millis() as u64,
                records = answer.records,
                bytes = answer.bytes,
                "page size adapted"
            );
        }
        next
    }

    /// After a page of `asked` records failed for being too big: the smaller page to try
    /// it again with, or `None` when the page is already at the floor (the error then
    /// stands, and the batch's attempt fails as any other).
    pub fn shrink_after_failure(&self, asked: u32) -> Option<u32> {
        if asked <= self.min {
            return None;
        }
        let next = (asked / 2).max(self.min);
        self.current.store(next, Ordering::Relaxed);
        tracing::warn!(
            from = asked,
            to = next,
            "a page failed for its size; trying again smaller"
        );
        Some(next)
    }
}

/// Whether a failed page says it was too big for the server or a proxy in front of it: a
/// timeout, a gateway timeout, a bad gateway (a worker killed past its time limit), or an
/// answer over the client's size limit.
pub fn page_too_big(error: &OdooError) -> bool {
    match error {
        OdooError::Transient { kind, .. } => matches!(
            kind,
            TransientKind::Timeout | TransientKind::GatewayTimeout | TransientKind::BadGateway
        ),
        OdooError::Protocol(message) => message.contains("larger than the limit"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(asked: u32, records: usize, secs: u64, bytes: usize) -> PageAnswer {
        PageAnswer {
            asked,
            records,
            elapsed: Duration::from_secs(secs),
            bytes,
        }
    }

    #[test]
    fn shrinks_when_slow_or_large_and_grows_back_when_quick() {
        let pages = PageSizer::new(1000, Duration::from_secs(120));
        assert_eq!(pages.current(), 1000);
        assert_eq!(pages.observe(&answer(1000, 1000, 40, 1 << 20)), 500, "slow");
        assert_eq!(pages.observe(&answer(500, 500, 10, 20 << 20)), 250, "large");
        assert_eq!(
            pages.observe(&answer(250, 250, 10, 1 << 20)),
            250,
            "neither"
        );
        assert_eq!(
            pages.observe(&answer(250, 90, 1, 1 << 10)),
            250,
            "short page: no signal"
        );
        assert_eq!(
            pages.observe(&answer(250, 250, 1, 1 << 10)),
            500,
            "quick and full"
        );
        assert_eq!(pages.observe(&answer(500, 500, 1, 1 << 10)), 1000);
        assert_eq!(
            pages.observe(&answer(1000, 1000, 1, 1 << 10)),
            1000,
            "never past max"
        );
    }

    #[test]
    fn a_failed_page_shrinks_down_to_the_floor() {
        let pages = PageSizer::new(100, Duration::from_secs(120));
        let mut asked = pages.current();
        let mut tries = 0;
        while let Some(next) = pages.shrink_after_failure(asked) {
            assert!(next < asked);
            asked = next;
            tries += 1;
        }
        assert_eq!(asked, MIN_PAGE);
        assert_eq!(tries, 4, "100 → 50 → 25 → 12 → 10");
        assert_eq!(pages.observe(&answer(10, 10, 200, 10)), MIN_PAGE);
    }

    #[test]
    fn only_size_failures_count() {
        let timeout = OdooError::Transient {
            kind: TransientKind::Timeout,
            detail: "read timed out".into(),
        };
        assert!(page_too_big(&timeout));
        let reset = OdooError::Transient {
            kind: TransientKind::Reset,
            detail: "reset".into(),
        };
        assert!(!page_too_big(&reset));
        assert!(page_too_big(&OdooError::Protocol(
            "answer is larger than the limit of 10 bytes".into()
        )));
        assert!(!page_too_big(&OdooError::LoginThrottled));
    }
}
