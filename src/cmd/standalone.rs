//! `odoo-sync standalone`: the embedded default. Scheduler and workers in one process on
//! SQLite: the store in `DATA_DIR/odoo-sync.sqlite3`, the queue (apalis-sqlite) in
//! `DATA_DIR/queue.sqlite3`; the same engine, runner and ticks as the distributed roles.
//! The HTTP API joins it once the api crate exposes its router (issue 5).

use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use shared::config::Settings;
use shared::store::sqlite::SqliteStore;
use shared::store::SharedStore;
use worker::{QueueEnv, SqliteQueue};

use super::scheduler::{loop_options, ticker};
use super::worker::Roles;

/// The queue database inside the data dir.
pub const QUEUE_FILE: &str = "queue.sqlite3";

#[derive(Args, Debug)]
pub struct StandaloneArgs {
    /// A TOML file with settings (same keys as the environment variables, in lower case).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

pub async fn run(args: StandaloneArgs) -> anyhow::Result<()> {
    let settings = Settings::load(args.config.as_deref())?;
    let env = QueueEnv::load()?;
    let data_dir = settings.data_dir.clone();
    let store: SharedStore = Arc::new(
        SqliteStore::open_in_dir(&data_dir)
            .await
            .with_context(|| format!("opening the store in {}", data_dir.display()))?,
    );
    let roles = Roles::new(settings, env, store)?;
    let queue = SqliteQueue::open(&data_dir.join(QUEUE_FILE), &roles.queue_settings())
        .await
        .context("opening the job queue")?;
    roles.shutdown.on_signals();
    let runner = roles.runner(Arc::new(queue.clone()))?;
    let ticker = ticker(&roles, Arc::new(queue.clone()));
    let options = loop_options(&roles);
    let shutdown = roles.shutdown.clone();
    tracing::info!(data_dir = %data_dir.display(), "standalone: scheduler and workers on SQLite");
    let scheduling = async move { scheduler::run(&ticker, &options, &shutdown).await };
    let working = worker::run_sqlite(runner, queue, roles.worker_options());
    let ((), worked) = tokio::join!(scheduling, working);
    worked?;
    Ok(())
}
