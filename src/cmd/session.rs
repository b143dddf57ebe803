//! One tenant synced in the foreground: run batches until nothing is left (waiting out the
//! back-off of failed ones), with a progress bar per module. Shared by `sync` and `demo`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use shared::modules::Module;
use shared::odoo::ConnectionInfo;
use shared::store::{Batch, BatchKind, BatchStatus, TenantError, TenantId};
use shared::sync::{Step, SyncEngine};

/// How a session ended.
#[derive(Debug, Default)]
pub struct SessionReport {
    pub batches_done: u64,
    pub batches_failed_for_good: u64,
    pub records_written: u64,
    pub calls: u64,
    pub blocked: Option<TenantError>,
}

/// Progress bars per module over the batches of one kind.
struct Bars {
    multi: MultiProgress,
    bars: BTreeMap<Module, ProgressBar>,
}

impl Bars {
    fn new(batches: &[Batch], kinds: &[BatchKind], visible: bool) -> Bars {
        let multi = MultiProgress::with_draw_target(if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let style = ProgressStyle::with_template(
            "{prefix:>14} [{bar:36.cyan/blue}] {pos:>4}/{len:4} batches {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let mut bars = BTreeMap::new();
        for module in Module::all() {
            let of_module: Vec<&Batch> = batches
                .iter()
                .filter(|b| b.module == module && kinds.contains(&b.kind))
                .collect();
            if of_module.is_empty() {
                continue;
            }
            let bar = multi.add(ProgressBar::new(of_module.len() as u64));
            bar.set_style(style.clone());
            bar.set_prefix(module.display_name());
            bars.insert(module, bar);
        }
        let mut this = Bars { multi, bars };
        this.update(batches, kinds);
        this
    }

    fn update(&mut self, batches: &[Batch], kinds: &[BatchKind]) {
        for (module, bar) in &self.bars {
            let mut finished = 0;
            let mut failed = 0;
            let mut records = 0;
            for b in batches
                .iter()
                .filter(|b| b.module == *module && kinds.contains(&b.kind))
            {
                match b.status {
                    BatchStatus::Done => finished += 1,
                    BatchStatus::PermanentlyFailed => {
                        finished += 1;
                        failed += 1
                    }
                    _ => {}
                }
                records += b.fetched_count.unwrap_or(0);
            }
            bar.set_position(finished);
            bar.set_message(if failed > 0 {
                format!("{records} records, {failed} failed")
            } else {
                format!("{records} records")
            });
        }
    }

    fn finish(self) {
        for bar in self.bars.values() {
            bar.finish();
        }
        let _ = self.multi.clear();
    }
}

/// Runs the tenant's runnable batches (of the given kinds' bars) until none is left.
pub async fn run_until_idle(
    engine: &SyncEngine,
    tenant: &TenantId,
    info: &ConnectionInfo,
    kinds: &[BatchKind],
    show_progress: bool,
) -> anyhow::Result<SessionReport> {
    let store = engine.store().clone();
    let mut batches = store.batches(tenant).await?;
    let mut bars = Bars::new(&batches, kinds, show_progress);
    let mut report = SessionReport::default();
    loop {
        // Groups run back to back (the next fetched while the last is written) for about
        // half a second, then the bars are drawn again.
        let step_started = std::time::Instant::now();
        let go_on = move || step_started.elapsed() < Duration::from_millis(500);
        let step = engine.process_batches(tenant, info, &go_on).await?;
        match step {
            Step::BatchDone {
                batches,
                written,
                calls,
                ..
            } => {
                report.batches_done += batches as u64;
                report.records_written += written;
                report.calls += u64::from(calls);
            }
            Step::BatchFailed { permanent, .. } => {
                if permanent {
                    report.batches_failed_for_good += 1;
                }
            }
            Step::Blocked(error) => {
                report.blocked = Some(error);
                break;
            }
            Step::Busy => {
                // Another process holds the tenant; wait for its lease to end.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Step::NotPrepared | Step::Prepared { .. } => break,
            Step::Idle => {
                let next_retry = batches
                    .iter()
                    .filter(|b| b.status == BatchStatus::Failed)
                    .map(|b| b.next_attempt_at)
                    .min();
                match next_retry {
                    Some(at) => {
                        let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                        tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
                    }
                    None => break,
                }
            }
        }
        batches = store.batches(tenant).await?;
        bars.update(&batches, kinds);
    }
    bars.finish();
    Ok(report)
}
