//! `odoo-sync`: the one binary. Each subcommand is one role of the service; see
//! ARCHITECTURE.md for how they fit.

mod cmd;

// A worker with many tenants in flight allocates and frees millions of small values (decoded
// XML-RPC, JSON, BSON); profiled, glibc's malloc/free took about 30% of its CPU. mimalloc does
// the same work with less (README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Serve the HTTP API on BIND_ADDRESS (store: MONGO_URI, else SQLite in DATA_DIR).
    Api(cmd::api::ApiArgs),
    /// Run a queue worker: tenant jobs from Redis, state in MongoDB (SIGTERM stops it).
    Worker(cmd::worker::WorkerArgs),
    /// Run the scheduler: enqueue jobs for due tenants on every CRON_SCHEDULE tick.
    Scheduler(cmd::scheduler::SchedulerArgs),
    /// Run the API, the scheduler and workers in one process on SQLite (the embedded default).
    Standalone(cmd::standalone::StandaloneArgs),
    /// Sync one tenant in the foreground: initial sync, then incremental passes.
    Sync(cmd::sync::SyncArgs),
    /// Look at an Odoo before syncing: version, protocols, login, apps, modules, models, fields.
    Inspect(cmd::inspect::InspectArgs),
    /// Write a tenant's mirror of one module out of a store as CSV or JSON lines.
    Export(cmd::export::ExportArgs),
    /// Operator actions: tenants (list, show, retry, resync, verify, pause, resume, token) and
    /// the queue (depth, dead jobs, drain).
    Admin(cmd::admin::AdminArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let foreground = matches!(
        cli.command,
        Command::Demo(_) | Command::Sync(_) | Command::Inspect(_) | Command::Export(_)
    );
    cmd::init_tracing(foreground);
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
            Command::Api(args) => cmd::api::run(args).await,
            Command::Worker(args) => cmd::worker::run(args).await,
            Command::Scheduler(args) => cmd::scheduler::run(args).await,
            Command::Standalone(args) => cmd::standalone::run(args).await,
            Command::Sync(args) => cmd::sync::run(args).await,
            Command::Inspect(args) => cmd::inspect::run(args).await,
            Command::Export(args) => cmd::export::run(args).await,
            Command::Admin(args) => cmd::admin::run(args).await,
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
