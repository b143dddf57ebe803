//! The subcommands' bodies, one module each, and what they share (logging set-up).

pub mod admin;
pub mod api;
pub mod demo;
pub mod export;
pub mod inspect;
pub mod odoo_args;
pub mod queue;
pub mod scheduler;
pub mod session;
pub mod standalone;
pub mod store;
pub mod summary;
pub mod sync;
pub mod worker;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Logs to stderr, filtered by `RUST_LOG`; otherwise services log our crates at info, and
/// foreground commands (whose progress bars and summary say what happens) only warnings.
/// Colours only on a terminal: a log piped to a file or a collector stays plain text.
pub fn init_tracing(foreground: bool) {
    let default = if foreground {
        "warn"
    } else {
        "warn,odoo_sync=info,shared=info,sim=info,api=info,worker=info,scheduler=info"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
