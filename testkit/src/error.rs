//! The one error type of the crate, so tests can `?` everything and get a message that says what
//! to do (install the binaries, read the server's log).

use std::fmt;
use std::path::PathBuf;

/// Why a test server could not be found, started, stopped or talked to.
///
/// `Debug` prints the same readable text as `Display` (plus the cause chain), because a test that
/// returns `Err` shows its error with `Debug`, and a server log squeezed into one escaped line
/// cannot be read.
#[derive(thiserror::Error)]
pub enum TestkitError {
    /// The server binary is not installed (or the env variable points nowhere).
    #[error(
        "{server} binary not found: {detail}. Run scripts/install-test-deps.sh \
         (or set {env_var} to the binary's path)"
    )]
    BinaryNotFound {
        server: &'static str,
        env_var: &'static str,
        detail: String,
    },

    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// The server process exited, never answered, or never became primary.
    #[error(
        "{server} on 127.0.0.1:{port} failed to start: {reason} (full log: {log})\n{log_tail}",
        log = log.display()
    )]
    StartFailed {
        server: &'static str,
        port: u16,
        reason: String,
        /// The server's main log file (in its temp dir, deleted when the server is dropped).
        log: PathBuf,
        /// The end of the log and of stdout/stderr, for the error message.
        log_tail: String,
    },

    /// Every port tried was taken by someone else before the server could bind it.
    #[error("{server}: no free port after {attempts} attempts (each port was taken before bind)")]
    NoFreePort { server: &'static str, attempts: u32 },

    /// A MongoDB driver call failed.
    #[error("MongoDB: {0}")]
    Mongo(#[from] Box<mongodb::error::Error>),

    /// A Redis client call failed.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

impl From<mongodb::error::Error> for TestkitError {
    fn from(e: mongodb::error::Error) -> Self {
        TestkitError::Mongo(Box::new(e))
    }
}

impl fmt::Debug for TestkitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, "\ncaused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl TestkitError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| TestkitError::Io { context, source }
    }
}
