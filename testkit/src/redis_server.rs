//! A real `redis-server` with append-only persistence in a temporary directory, so tests can
//! restart it and keep their keys.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redis::AsyncConnectionConfig;
use tempfile::TempDir;

use crate::process::{free_port, says_port_in_use, server_dir, tail_of_logs, ServerProcess, POLL};
use crate::{binaries, TestkitError, START_TIMEOUT, STOP_TIMEOUT};

const PORT_ATTEMPTS: u32 = 5;
const LOG_FILE: &str = "redis.log";
/// stdout/stderr: only used before the log file is open (bad arguments).
const OUTPUT_FILE: &str = "redis.out";
const DATA_DIR: &str = "data";
/// How long a test's Redis call may wait for its answer (see [`RedisServer::connection`]).
pub const LOAD_TOLERANT_TIMEOUT: Duration = Duration::from_secs(60);

/// A `redis-server` owned by one test. Dropping it kills the process and deletes its data.
#[derive(Debug)]
pub struct RedisServer {
    // Field order matters: the process must be dropped (killed) before its directory is removed.
    process: Option<ServerProcess>,
    dir: TempDir,
    bin: PathBuf,
    port: u16,
}

enum LaunchError {
    PortTaken,
    Failed(TestkitError),
}

impl From<TestkitError> for LaunchError {
    fn from(e: TestkitError) -> Self {
        LaunchError::Failed(e)
    }
}

impl RedisServer {
    /// Starts redis-server on a free loopback port with AOF persistence (`appendonly yes`, no RDB
    /// snapshots) and returns once it answers.
    pub async fn start() -> Result<Self, TestkitError> {
        let bin = binaries::redis_server()?;
        let dir = server_dir("testkit-redis-")?;
        let data = dir.path().join(DATA_DIR);
        std::fs::create_dir_all(&data)
            .map_err(TestkitError::io(format!("creating {}", data.display())))?;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            // Each attempt gets a fresh log so an earlier attempt's "address in use" is not
            // mistaken for this one's.
            remove_if_exists(&dir.path().join(LOG_FILE))?;
            remove_if_exists(&dir.path().join(OUTPUT_FILE))?;
            match launch(&bin, port, dir.path()).await {
                Ok(process) => {
                    return Ok(RedisServer {
                        process: Some(process),
                        dir,
                        bin,
                        port,
                    })
                }
                Err(LaunchError::PortTaken) => {
                    tracing::debug!(
                        port,
                        "port taken before redis-server could bind it; retrying"
                    );
                }
                Err(LaunchError::Failed(e)) => return Err(e),
            }
        }
        Err(TestkitError::NoFreePort {
            server: "redis-server",
            attempts: PORT_ATTEMPTS,
        })
    }

    /// The loopback port the server listens on (stable across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connection URL for the `redis` crate and apalis-redis, e.g. `redis://127.0.0.1:6390/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A `redis::Client` for [`url`](Self::url) (connecting happens on first use).
    pub fn client(&self) -> Result<redis::Client, TestkitError> {
        Ok(redis::Client::open(self.url())?)
    }

    /// A connection whose calls tolerate a busy machine: redis-rs gives up on an answer after
    /// 500 ms by default, which a loaded 2-core machine (mongod, workers and builds on it)
    /// exceeds; tests that read Redis use this instead of `get_multiplexed_async_connection`.
    pub async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, TestkitError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(LOAD_TOLERANT_TIMEOUT))
            .set_response_timeout(Some(LOAD_TOLERANT_TIMEOUT));
        Ok(self
            .client()?
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }

    /// The directory holding the append-only files.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join(DATA_DIR)
    }

    /// redis-server's log file, for debugging a failing test.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join(LOG_FILE)
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::pid)
    }

    /// Whether the process is still alive.
    pub fn is_running(&mut self) -> bool {
        match &mut self.process {
            Some(p) => p.exited().is_none(),
            None => false,
        }
    }

    /// Clean shutdown (SIGTERM: redis fsyncs the AOF and exits). Keys survive
    /// [`restart`](Self::restart). Does nothing when already stopped.
    pub async fn stop(&mut self) -> Result<(), TestkitError> {
        match self.process.take() {
            Some(p) => p.terminate(STOP_TIMEOUT).await,
            None => Ok(()),
        }
    }

    /// Hard crash (SIGKILL). With the default `appendfsync everysec`, writes of the last second
    /// may be lost, as in production.
    pub fn kill(&mut self) {
        self.process = None;
    }

    /// Crashes the server (SIGKILL) and starts it again on the same port with no data, as a
    /// Redis without persistence (or whose disk was lost) comes back: every job is gone.
    pub async fn restart_empty(&mut self) -> Result<(), TestkitError> {
        self.kill();
        let data = self.data_dir();
        if data.exists() {
            std::fs::remove_dir_all(&data)
                .map_err(TestkitError::io(format!("emptying {}", data.display())))?;
        }
        std::fs::create_dir_all(&data)
            .map_err(TestkitError::io(format!("creating {}", data.display())))?;
        self.restart().await
    }

    /// Stops the server if it runs, then starts it again on the same port with the same data and
    /// returns once it has loaded the AOF and answers.
    pub async fn restart(&mut self) -> Result<(), TestkitError> {
        self.stop().await?;
        match launch(&self.bin, self.port, self.dir.path()).await {
            Ok(process) => {
                self.process = Some(process);
                Ok(())
            }
            Err(LaunchError::Failed(e)) => Err(e),
            Err(LaunchError::PortTaken) => Err(start_failed(
                self.port,
                self.dir.path(),
                "another process took the port while redis-server was stopped".into(),
            )),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Kill before the TempDir field removes the directory under the running process.
        self.process = None;
    }
}

fn redis_args(port: u16, dir: &Path) -> Vec<String> {
    vec![
        "--port".into(),
        port.to_string(),
        "--bind".into(),
        "127.0.0.1".into(),
        // Persistence through the AOF only: RDB snapshots would fork a child at random moments.
        "--save".into(),
        String::new(),
        "--appendonly".into(),
        "yes".into(),
        "--dir".into(),
        dir.join(DATA_DIR).display().to_string(),
        "--logfile".into(),
        dir.join(LOG_FILE).display().to_string(),
        "--daemonize".into(),
        "no".into(),
    ]
}

/// Spawns redis-server and waits until *this* process answers on `port` with its data loaded.
async fn launch(bin: &Path, port: u16, dir: &Path) -> Result<ServerProcess, LaunchError> {
    let mut process = ServerProcess::spawn(bin, &redis_args(port, dir), &dir.join(OUTPUT_FILE))
        .await
        .map_err(LaunchError::Failed)?;
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .map_err(|e| LaunchError::Failed(e.into()))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(2)));
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = process.exited() {
            let tail = tails(dir);
            if says_port_in_use(&tail) {
                return Err(LaunchError::PortTaken);
            }
            return Err(start_failed(port, dir, format!("redis-server exited ({status})")).into());
        }
        if Instant::now() >= deadline {
            return Err(
                start_failed(port, dir, format!("no answer within {START_TIMEOUT:?}")).into(),
            );
        }
        match client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(mut conn) => {
                // INFO answers even while the AOF is loading, and names the process.
                let info: Result<String, _> = redis::cmd("INFO").query_async(&mut conn).await;
                match info {
                    Ok(info) => {
                        let pid = info_field(&info, "process_id");
                        if pid != Some(process.pid().to_string().as_str()) {
                            // Another redis got the port; ours will fail to bind and exit.
                            return Err(LaunchError::PortTaken);
                        }
                        if info_field(&info, "loading") == Some("0") {
                            return Ok(process);
                        }
                    }
                    Err(e) => tracing::debug!(port, "redis-server not answering yet: {e}"),
                }
            }
            Err(e) => tracing::debug!(port, "redis-server not accepting yet: {e}"),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The value of `name:value` in an INFO reply.
fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == name).then_some(value.trim())
    })
}

fn start_failed(port: u16, dir: &Path, reason: String) -> TestkitError {
    TestkitError::StartFailed {
        server: "redis-server",
        port,
        reason,
        log: dir.join(LOG_FILE),
        log_tail: tails(dir),
    }
}

fn tails(dir: &Path) -> String {
    tail_of_logs(&[(dir.join(LOG_FILE), 30), (dir.join(OUTPUT_FILE), 15)])
}

fn remove_if_exists(path: &Path) -> Result<(), TestkitError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(TestkitError::io(format!("removing {}", path.display()))(e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_are_parsed() {
        let info =
            "# Server\r\nredis_version:7.0.15\r\nprocess_id:4242\r\n# Persistence\r\nloading:0\r\n";
        assert_eq!(info_field(info, "process_id"), Some("4242"));
        assert_eq!(info_field(info, "loading"), Some("0"));
        assert_eq!(info_field(info, "missing"), None);
    }

    /// The port race is recognised (and so retried) rather than reported as a broken server.
    #[tokio::test]
    async fn taken_port_is_detected() -> Result<(), TestkitError> {
        let bin = binaries::redis_server()?;
        let holder = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(TestkitError::io("binding a port to occupy"))?;
        let port = holder
            .local_addr()
            .map_err(TestkitError::io("reading the port"))?
            .port();
        let dir = tempfile::tempdir().map_err(TestkitError::io("temp dir"))?;
        std::fs::create_dir_all(dir.path().join(DATA_DIR)).map_err(TestkitError::io("mkdir"))?;
        match launch(&bin, port, dir.path()).await {
            Err(LaunchError::PortTaken) => Ok(()),
            Err(LaunchError::Failed(e)) => panic!("expected PortTaken, got: {e}"),
            Ok(_) => panic!("redis-server claims to run on a port held by another socket"),
        }
    }
}
