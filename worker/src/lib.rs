//! The worker: takes tenant jobs from the queue and runs them through the sync engine, many
//! tenants at once, never two steps of one tenant anywhere (the engine's lease in the store
//! guarantees that; a job that finds the tenant taken or idle simply ends).
//!
//! - [`job`]: the versioned job payload and its never-failing codec;
//! - [`queue`]: pushing jobs, backlog and clean-up on Redis or SQLite, with the apalis
//!   settings chosen in QUEUE-NOTES.md;
//! - [`connection`]: where a job finds the tenant's Odoo connection;
//! - [`runner`]: one job → one engine step, then the tenant's next job;
//! - [`shutdown`]: stop on SIGTERM, grace period, lease release;
//! - [`process`]: apalis workers under a restarting supervisor.

pub mod connection;
pub mod job;
pub mod process;
pub mod queue;
pub mod runner;
pub mod shutdown;

pub use connection::{ConnectionError, ConnectionSource, StoredConnections};
pub use job::{Incoming, JobCodec, TenantJob};
pub use process::{run_redis, run_sqlite, WorkerOptions, WorkerProcessError};
pub use queue::{JobQueue, QueueError, QueueSettings, RedisQueue, SqliteQueue};
pub use runner::{JobRunner, Outcome, RunnerOptions};
pub use shutdown::Shutdown;
