//! `odoo-sync api`: serves the HTTP API on `BIND_ADDRESS`, over the store of `MONGO_URI`
//! (else SQLite in `DATA_DIR`), with the job queue of `REDIS_URL` (else the standalone SQLite
//! queue) for the operators' queue routes. It never runs syncs: workers do. Stops on SIGINT/SIGTERM,
//! finishing the requests in flight.

use std::path::PathBuf;

use anyhow::Context as _;
use api::{ApiSettings, Application};
use clap::Args;
use shared::config::Settings;

use super::queue::open_queue;
use super::store::open_store;

#[derive(Args, Debug)]
pub struct ApiArgs {
    /// A TOML file with settings (same keys as the environment variables, in lower case).
    #[arg(long)]
    config: Option<PathBuf>,
}

pub async fn run(args: ApiArgs) -> anyhow::Result<()> {
    let settings = Settings::load(args.config.as_deref())?;
    let api_settings = ApiSettings::from_settings(&settings)?;
    let store = open_store(&settings).await?;
    let queue = open_queue(&settings).await?;
    let app =
        Application::build_with_queue(api_settings, store, Some(queue), settings.bind_address)
            .await
            .context("starting the API")?;
    eprintln!("odoo-sync api listening on http://{}", app.address());
    app.run_until(shutdown_signal()).await?;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down the API");
}
