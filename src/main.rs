//! `odoo-sync`: the one binary. Each subcommand is one role of the service; see
//! ARCHITECTURE.md for how they fit.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Mirrors tenants' Odoo data (sales orders, invoices, contacts, employees) into MongoDB.
#[derive(Parser)]
#[command(name = "odoo-sync", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a demo: sync a tenant of the built-in Odoo simulator into the embedded store.
    Demo(cmd::demo::DemoArgs),
    /// Run the Odoo simulator (XML-RPC, JSON-RPC, JSON-2) for tests, benchmarks and trials.
    Sim(sim::cli::SimArgs),
    /// Serve the HTTP API (not built yet).
    Api,
    /// Run a queue worker (not built yet).
    Worker,
    /// Run the scheduler (not built yet).
    Scheduler,
    /// Run api, scheduler and workers in one process on SQLite (not built yet).
    Standalone,
    /// Sync one tenant in the foreground: initial sync, then incremental passes.
    Sync(cmd::sync::SyncArgs),
    /// Operator actions on tenants and queues (not built yet).
    Admin,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cmd::init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo(args) => cmd::demo::run(args).await,
            Command::Sim(args) => sim::cli::run(args).await.map_err(anyhow::Error::from),
            Command::Api => cmd::not_built("api", 5),
            Command::Worker => cmd::not_built("worker", 4),
            Command::Scheduler => cmd::not_built("scheduler", 4),
            Command::Standalone => cmd::not_built("standalone", 4),
            Command::Sync(args) => cmd::sync::run(args).await,
            Command::Admin => cmd::not_built("admin", 5),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
