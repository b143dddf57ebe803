//! Politeness towards one Odoo server: at least `API_CALL_DELAY_MS` between the end of one call
//! and the start of the next, across every task that shares the client.
//!
//! Written by hand because what it needs is a per-connection minimum gap between calls, not a
//! token-bucket rate (which rate-limiting crates such as governor provide): a burst after
//! a quiet spell would still hit the server back to back.

use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

/// Serialises calls to one server and keeps the gap between them.
#[derive(Debug)]
pub struct Pacer {
    gap: Duration,
    last_finished: Mutex<Option<Instant>>,
}

/// Held while a call is in flight; dropping it records the end of the call.
pub struct PaceGuard<'a> {
    slot: MutexGuard<'a, Option<Instant>>,
}

impl Pacer {
    pub fn new(gap: Duration) -> Self {
        Pacer {
            gap,
            last_finished: Mutex::new(None),
        }
    }

    /// Waits for this server's turn: the previous call has finished and the gap has passed.
    pub async fn turn(&self) -> PaceGuard<'_> {
        let slot = self.last_finished.lock().await;
        if let Some(last) = *slot {
            tokio::time::sleep_until(last + self.gap).await;
        }
        PaceGuard { slot }
    }
}

impl Drop for PaceGuard<'_> {
    fn drop(&mut self) {
        *self.slot = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn keeps_the_gap_between_calls() {
        let pacer = Pacer::new(Duration::from_millis(1000));
        let start = Instant::now();
        drop(pacer.turn().await);
        drop(pacer.turn().await);
        drop(pacer.turn().await);
        assert!(start.elapsed() >= Duration::from_millis(2000));
        assert!(start.elapsed() < Duration::from_millis(2100));
    }
}
