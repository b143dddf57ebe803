//! The subcommands' bodies, one module each, and what they share (logging set-up).

pub mod demo;
pub mod session;
pub mod sync;

use tracing_subscriber::EnvFilter;

/// Logs to stderr, filtered by `RUST_LOG` (default: warnings, and info for our crates).
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,odoo_sync=info,shared=info,sim=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// A role that later work builds: say so plainly and fail, rather than pretend.
pub fn not_built(name: &str, issue: u32) -> anyhow::Result<()> {
    anyhow::bail!("`odoo-sync {name}` is not built yet (tracked in issue {issue})")
}
