//! `odoo-sync scheduler`: on every `CRON_SCHEDULE` tick, enqueues jobs for due tenants
//! (Redis) read from MongoDB. Several replicas are harmless. SIGTERM stops it (exit 0).

use std::sync::Arc;

use clap::Args;
use scheduler::{DueRules, LoopOptions, TickLimits, Ticker};
use shared::config::Settings;

use super::worker::{distributed, Roles};

#[derive(Args, Debug)]
pub struct SchedulerArgs {
    /// A TOML file with settings (same keys as the environment variables, in lower case).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Run one tick, print what it did and exit.
    #[arg(long)]
    once: bool,
    /// Connect to MongoDB and Redis with these settings, then exit: 0 when both answer
    /// (the container health check).
    #[arg(long)]
    check: bool,
}

/// The ticker every role that schedules builds the same way.
pub fn ticker(roles: &Roles, queue: Arc<dyn worker::JobQueue>) -> Ticker {
    Ticker {
        engine: roles.engine.clone(),
        queue,
        rules: DueRules {
            enqueue_stale: roles.settings.queue.enqueue_stale,
            incremental_interval: roles.settings.incremental_interval,
            reconcile_interval: roles.settings.reconcile_interval,
            verify_interval: roles.settings.verify_interval,
        },
        limits: TickLimits {
            max_per_tick: roles.settings.queue.max_per_tick,
            max_backlog: roles.settings.queue.max_backlog,
        },
    }
}

pub fn loop_options(roles: &Roles) -> LoopOptions {
    LoopOptions {
        schedule: roles.settings.cron_schedule.clone(),
        clean_every: 6,
    }
}

pub async fn run(args: SchedulerArgs) -> anyhow::Result<()> {
    let settings = Settings::load(args.config.as_deref())?;
    let (roles, queue) = distributed(settings).await?;
    if args.check {
        println!("ok: MongoDB and Redis answer");
        return Ok(());
    }
    let ticker = ticker(&roles, Arc::new(queue));
    if args.once {
        let report = ticker.tick().await?;
        println!("{report:?}");
        return Ok(());
    }
    roles.shutdown.on_signals();
    tracing::info!("scheduler started");
    scheduler::run(&ticker, &loop_options(&roles), &roles.shutdown).await;
    tracing::info!("scheduler stopped");
    Ok(())
}
