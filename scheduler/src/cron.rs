//! The scheduler loop: a tick at every time of the `CRON_SCHEDULE`, a clean-up of finished
//! queue jobs every few ticks, until shutdown. A tick that overruns the next time skips it
//! (ticks never overlap in one process; several processes are harmless, see `tick`).

use std::time::Duration;

use chrono::Utc;
use worker::Shutdown;

use crate::tick::Ticker;

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    pub schedule: cron::Schedule,
    /// Finished jobs are removed from the queue every this many ticks (0: never).
    pub clean_every: u32,
}

/// Ticks until `shutdown` is triggered.
pub async fn run(ticker: &Ticker, options: &LoopOptions, shutdown: &Shutdown) {
    let mut ticks: u32 = 0;
    loop {
        let Some(next) = options.schedule.upcoming(Utc).next() else {
            tracing::warn!("the schedule has no future time; the scheduler stops");
            return;
        };
        let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.triggered() => return,
        }
        match ticker.tick().await {
            Ok(report) if report.due > 0 || report.pushed() > 0 => tracing::info!(
                due = report.due,
                prepare = report.prepare,
                process = report.process,
                follow_up = report.follow_up,
                already_queued = report.already_queued,
                backlog = report.backlog,
                elapsed_ms = report.elapsed.as_millis() as u64,
                "tick"
            ),
            Ok(report) => tracing::debug!(backlog = report.backlog, "tick: nothing due"),
            Err(e) => tracing::warn!(error = %e, "tick failed; the next one tries again"),
        }
        ticks = ticks.wrapping_add(1);
        if options.clean_every > 0 && ticks.is_multiple_of(options.clean_every) {
            match ticker.queue.clean_finished().await {
                Ok(removed) => tracing::debug!(removed, "cleaned finished jobs"),
                Err(e) => tracing::warn!(error = %e, "cleaning finished jobs failed"),
            }
        }
    }
}
