//! Test support: starts real `mongod` (single-node replica set, so transactions and change streams
//! work) and `redis-server` instances on free loopback ports, one set per test, and stops them
//! when dropped.
//!
//! Binaries are found through `MONGOD_BIN` / `REDIS_SERVER_BIN` (set by `scripts/test.sh`), else
//! `<workspace>/.tools/mongodb/bin/mongod` and `redis-server` on `PATH`. A missing binary is an
//! error telling the reader to run `scripts/install-test-deps.sh`: tests fail, they never skip.
//!
//! [`webdriver`] drives headless chromium through chromedriver for browser tests.
//!
//! There is no state shared between processes: nextest runs every test in its own process, and
//! each test starts its own servers on ports the kernel hands out.
//!
//! ```no_run
//! # async fn demo() -> Result<(), testkit::TestkitError> {
//! let mongo = testkit::MongoServer::start().await?;
//! let client = mongo.client().await?;
//! let redis = testkit::RedisServer::start().await?;
//! let mut conn = redis.connection().await?;
//! # let _ = (client, &mut conn);
//! # Ok(())
//! # }
//! ```

mod binaries;
mod error;
mod mongo;
mod process;
mod redis_server;
pub mod webdriver;

pub use error::TestkitError;
pub use mongo::MongoServer;
pub use redis_server::RedisServer;

/// Spawns `cmd` so that the kernel kills it when the test process dies, even when no
/// destructor runs (a nextest timeout, SIGKILL): for tests that start the project's own
/// binaries and must not leave them running on a shared machine.
pub async fn spawn_tied_to_test(
    cmd: std::process::Command,
) -> std::io::Result<std::process::Child> {
    process::spawn_tied_to_process(cmd).await
}

use std::time::Duration;

/// How long a server may take to accept commands (and, for mongod, to become primary). Generous
/// because CI machines are small and shared; a healthy start takes 1–3 s.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a graceful stop (SIGTERM) may take before the process is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
