//! `odoo-sync standalone`: the embedded default. The HTTP API, the scheduler and the workers
//! in one process on SQLite: the store in `DATA_DIR/odoo-sync.sqlite3`, the queue
//! (apalis-sqlite) in `DATA_DIR/queue.sqlite3`; the same engine, runner, ticks and routes as
//! the distributed roles. SIGTERM stops all three: the API finishes its requests, workers
//! their batches.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use shared::config::Settings;
use shared::store::sqlite::SqliteStore;
use shared::store::SharedStore;
use worker::SqliteQueue;

use super::queue::{open_queue, QUEUE_FILE};
use super::scheduler::{loop_options, ticker};
use super::worker::Roles;

#[derive(Args, Debug)]
pub struct StandaloneArgs {
    /// A TOML file with settings (same keys as the environment variables, in lower case).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Run only the scheduler and the workers, without the HTTP API (which needs JWT_SECRET).
    #[arg(long)]
    no_api: bool,
}

pub async fn run(args: StandaloneArgs) -> anyhow::Result<()> {
    let settings = Settings::load(args.config.as_deref())?;
    let data_dir = settings.data_dir.clone();
    let store: SharedStore = Arc::new(
        SqliteStore::open_in_dir(&data_dir)
            .await
            .with_context(|| format!("opening the store in {}", data_dir.display()))?,
    );
    // Checked before anything starts, so a missing JWT_SECRET stops start-up with its name.
    let api_settings =
        if args.no_api {
            None
        } else {
            Some(api::ApiSettings::from_settings(&settings).context(
                "the HTTP API needs JWT_SECRET and ENCRYPTION_KEY (or run with --no-api)",
            )?)
        };
    let bind_address = settings.bind_address;
    let api_queue = match api_settings {
        Some(_) => Some(open_queue(&settings).await?),
        None => None,
    };
    let roles = Roles::new(settings, store.clone())?;
    let queue = SqliteQueue::open(&data_dir.join(QUEUE_FILE), &roles.queue_settings())
        .await
        .context("opening the job queue")?;
    roles.shutdown.on_signals();
    let runner = roles.runner(Arc::new(queue.clone()))?;
    let ticker = ticker(&roles, Arc::new(queue.clone()));
    let options = loop_options(&roles);
    let shutdown = roles.shutdown.clone();
    let serving = match api_settings {
        Some(api_settings) => {
            let app =
                api::Application::build_with_queue(api_settings, store, api_queue, bind_address)
                    .await
                    .context("starting the API")?;
            eprintln!(
                "odoo-sync standalone: API listening on http://{}",
                app.address()
            );
            let stopped = roles.shutdown.clone();
            Some(tokio::spawn(
                app.run_until(async move { stopped.triggered().await }),
            ))
        }
        None => None,
    };
    tracing::info!(data_dir = %data_dir.display(), "standalone: api, scheduler and workers on SQLite");
    let scheduling = async move { scheduler::run(&ticker, &options, &shutdown).await };
    let working = worker::run_sqlite(runner, queue, roles.worker_options());
    let ((), worked) = tokio::join!(scheduling, working);
    if let Some(serving) = serving {
        serving
            .await
            .context("the API task")?
            .context("serving the API")?;
    }
    worked?;
    Ok(())
}
