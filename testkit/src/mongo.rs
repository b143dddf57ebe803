//! A real `mongod` (MongoDB 6.0 from scripts/install-test-deps.sh) running as a single-node replica
//! set in a temporary directory, so tests get transactions and change streams.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{ClientOptions, ServerAddress};
use mongodb::Client;
use tempfile::TempDir;

use crate::process::{
    free_port, says_port_in_use, server_dir, tail_of_logs, ServerProcess, OWNER_FILE, POLL,
};
use crate::{binaries, TestkitError, START_TIMEOUT, STOP_TIMEOUT};

/// Replica set name used by every test server.
pub const REPLICA_SET: &str = "rs0";

/// Ports tried before giving up when each one is taken between probing and binding.
const PORT_ATTEMPTS: u32 = 5;
const LOG_FILE: &str = "mongod.log";
/// stdout/stderr: mongod writes there only what happens before its log is open (bad options).
const OUTPUT_FILE: &str = "mongod.out";
const DB_DIR: &str = "db";

/// A `mongod` owned by one test. Dropping it kills the process and deletes its data.
#[derive(Debug)]
pub struct MongoServer {
    // Field order matters: the process must be dropped (killed) before its directory is removed.
    process: Option<ServerProcess>,
    dir: TempDir,
    bin: PathBuf,
    port: u16,
}

/// Why one launch attempt failed: the port race is retried with another port, the rest is not.
enum LaunchError {
    PortTaken,
    Failed(TestkitError),
}

impl From<TestkitError> for LaunchError {
    fn from(e: TestkitError) -> Self {
        LaunchError::Failed(e)
    }
}

impl MongoServer {
    /// Starts a fresh single-node replica set on a free loopback port and returns once it is
    /// primary (accepts writes, transactions and change streams).
    pub async fn start() -> Result<Self, TestkitError> {
        let bin = binaries::mongod()?;
        let dir = server_dir("testkit-mongod-")?;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            // A failed attempt may have left files behind (and a log that mentions the port race),
            // so every attempt starts from an empty directory.
            reset_dir(dir.path())?;
            match launch(&bin, port, dir.path()).await {
                Ok((process, client)) => {
                    let server = MongoServer {
                        process: Some(process),
                        dir,
                        bin,
                        port,
                    };
                    server.initiate(&client).await?;
                    return Ok(server);
                }
                Err(LaunchError::PortTaken) => {
                    tracing::debug!(port, "port taken before mongod could bind it; retrying");
                }
                Err(LaunchError::Failed(e)) => return Err(e),
            }
        }
        Err(TestkitError::NoFreePort {
            server: "mongod",
            attempts: PORT_ATTEMPTS,
        })
    }

    /// The loopback port the server listens on (stable across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connection string for the MongoDB driver. `directConnection=true` talks to this one node
    /// without waiting for replica-set discovery; `replicaSet` makes the driver check it is the
    /// expected set.
    pub fn uri(&self) -> String {
        format!(
            "mongodb://127.0.0.1:{}/?directConnection=true&replicaSet={REPLICA_SET}",
            self.port
        )
    }

    /// A new driver client for [`uri`](Self::uri). It survives [`restart`](Self::restart): the
    /// driver reconnects to the same port.
    pub async fn client(&self) -> Result<Client, TestkitError> {
        Ok(Client::with_uri_str(self.uri()).await?)
    }

    /// The `--dbpath` directory (kept across restarts, deleted on drop).
    pub fn dbpath(&self) -> PathBuf {
        self.dir.path().join(DB_DIR)
    }

    /// mongod's log file, for debugging a failing test.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join(LOG_FILE)
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::pid)
    }

    /// Whether the process is still alive (it may have crashed or been stopped).
    pub fn is_running(&mut self) -> bool {
        match &mut self.process {
            Some(p) => p.exited().is_none(),
            None => false,
        }
    }

    /// Clean shutdown (SIGTERM: mongod checkpoints and exits). The data stays for
    /// [`restart`](Self::restart). Does nothing when already stopped.
    pub async fn stop(&mut self) -> Result<(), TestkitError> {
        match self.process.take() {
            Some(p) => p.terminate(STOP_TIMEOUT).await,
            None => Ok(()),
        }
    }

    /// Hard crash (SIGKILL): no checkpoint, the next start recovers from the journal. The data
    /// stays for [`restart`](Self::restart).
    pub fn kill(&mut self) {
        // Dropping the handle kills and reaps the process.
        self.process = None;
    }

    /// Stops the server if it runs, then starts it again on the same port with the same data and
    /// returns once it is primary again.
    pub async fn restart(&mut self) -> Result<(), TestkitError> {
        self.stop().await?;
        let (process, client) = match launch(&self.bin, self.port, self.dir.path()).await {
            Ok(ok) => ok,
            Err(LaunchError::Failed(e)) => return Err(e),
            Err(LaunchError::PortTaken) => {
                return Err(start_failed(
                    self.port,
                    self.dir.path(),
                    "another process took the port while mongod was stopped".into(),
                ))
            }
        };
        // The replica-set configuration is stored in the data directory, so a restarted node
        // elects itself without a new replSetInitiate.
        wait_primary(&client, self.port, self.dir.path()).await?;
        self.process = Some(process);
        Ok(())
    }

    /// Makes this node a one-member replica set and waits until it is primary.
    async fn initiate(&self, client: &Client) -> Result<(), TestkitError> {
        let config = doc! {
            "_id": REPLICA_SET,
            "members": [{ "_id": 0, "host": format!("127.0.0.1:{}", self.port) }],
        };
        client
            .database("admin")
            .run_command(doc! { "replSetInitiate": config })
            .await?;
        wait_primary(client, self.port, self.dir.path()).await
    }
}

impl Drop for MongoServer {
    fn drop(&mut self) {
        // Kill before the TempDir field removes the directory under the running process.
        self.process = None;
    }
}

fn mongod_args(port: u16, dir: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "--replSet",
        REPLICA_SET,
        "--bind_ip",
        "127.0.0.1",
        "--quiet",
        "--oplogSize",
        "128",
        // Full-time diagnostic data capture costs CPU and disk and nobody reads it in tests.
        "--setParameter",
        "diagnosticDataCollectionEnabled=false",
        // A worker paused mid-transaction (SIGSTOP, a long GC, a partition) keeps its writes
        // on the tenant document until the server aborts the transaction; the default 60 s
        // would hold every other worker off that tenant that long. The engine's transactions
        // take milliseconds, so 10 s is ample. docker-compose.yml sets the same.
        "--setParameter",
        "transactionLifetimeLimitSeconds=10",
        // No /tmp/mongodb-<port>.sock: a socket left by a killed server would block the port's
        // next user.
        "--nounixsocket",
        "--logappend",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Many test servers run side by side on small machines: keep each one small, unless a
    // benchmark asks for a production-sized cache (TESTKIT_MONGOD_CACHE_GB).
    let cache_gb = match std::env::var("TESTKIT_MONGOD_CACHE_GB") {
        Ok(v) if v.trim().parse::<f64>().is_ok_and(|gb| gb >= 0.25) => v,
        Ok(v) => {
            eprintln!("testkit: TESTKIT_MONGOD_CACHE_GB={v:?} is not a size of 0.25 GB or more; using 0.25");
            "0.25".into()
        }
        Err(_) => "0.25".into(),
    };
    args.extend([
        "--wiredTigerCacheSizeGB".to_string(),
        cache_gb.trim().to_string(),
        "--port".to_string(),
        port.to_string(),
        "--dbpath".to_string(),
        dir.join(DB_DIR).display().to_string(),
        "--logpath".to_string(),
        dir.join(LOG_FILE).display().to_string(),
    ]);
    args
}

/// Spawns mongod and waits until *this* process answers commands on `port`.
async fn launch(bin: &Path, port: u16, dir: &Path) -> Result<(ServerProcess, Client), LaunchError> {
    let mut process = ServerProcess::spawn(bin, &mongod_args(port, dir), &dir.join(OUTPUT_FILE))
        .await
        .map_err(LaunchError::Failed)?;
    let client = probe_client(port)?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = process.exited() {
            let tail = tails(dir);
            if says_port_in_use(&tail) {
                return Err(LaunchError::PortTaken);
            }
            return Err(start_failed(port, dir, format!("mongod exited ({status})")).into());
        }
        if Instant::now() >= deadline {
            // `process` is dropped (killed) on return.
            return Err(
                start_failed(port, dir, format!("no answer within {START_TIMEOUT:?}")).into(),
            );
        }
        // A cheap TCP check first: the driver's server selection would block for its timeout.
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            match server_pid(&client).await {
                Ok(pid) if pid == i64::from(process.pid()) => return Ok((process, client)),
                // Someone else's mongod got the port first; ours will fail to bind and exit.
                Ok(_) => return Err(LaunchError::PortTaken),
                Err(e) => tracing::debug!(port, "mongod not answering yet: {e}"),
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A client for start-up checks: talks to the node before it is a replica-set member, and fails
/// fast so the wait loop can look at the process again.
fn probe_client(port: u16) -> Result<Client, TestkitError> {
    let options = ClientOptions::builder()
        .hosts(vec![ServerAddress::Tcp {
            host: "127.0.0.1".to_string(),
            port: Some(port),
        }])
        .direct_connection(true)
        .server_selection_timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(2))
        .heartbeat_freq(Duration::from_millis(500))
        .build();
    Ok(Client::with_options(options)?)
}

/// The pid of the mongod answering on the client's port, to be sure it is the one we started.
async fn server_pid(client: &Client) -> Result<i64, TestkitError> {
    let status = client
        .database("admin")
        .run_command(doc! { "serverStatus": 1, "repl": 0, "metrics": 0, "locks": 0 })
        .await?;
    match status.get("pid") {
        Some(Bson::Int64(pid)) => Ok(*pid),
        Some(Bson::Int32(pid)) => Ok(i64::from(*pid)),
        other => Err(TestkitError::Io {
            context: format!("serverStatus has no usable pid: {other:?}"),
            source: std::io::Error::from(std::io::ErrorKind::InvalidData),
        }),
    }
}

/// Polls `hello` until the node reports itself writable primary.
async fn wait_primary(client: &Client, port: u16, dir: &Path) -> Result<(), TestkitError> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        match client
            .database("admin")
            .run_command(doc! { "hello": 1 })
            .await
        {
            Ok(hello) if is_primary(&hello) => return Ok(()),
            Ok(hello) => last = format!("hello: {hello}"),
            Err(e) => last = format!("hello failed: {e}"),
        }
        tokio::time::sleep(POLL).await;
    }
    Err(start_failed(
        port,
        dir,
        format!("not primary within {START_TIMEOUT:?}; last {last}"),
    ))
}

fn is_primary(hello: &Document) -> bool {
    hello.get_bool("isWritablePrimary").unwrap_or(false)
}

fn start_failed(port: u16, dir: &Path, reason: String) -> TestkitError {
    TestkitError::StartFailed {
        server: "mongod",
        port,
        reason,
        log: dir.join(LOG_FILE),
        log_tail: tails(dir),
    }
}

/// The end of mongod's log, plus its stdout/stderr when it wrote any (start-up errors before the
/// log is open, such as a missing shared library or a bad option, only go there).
fn tails(dir: &Path) -> String {
    tail_of_logs(&[(dir.join(LOG_FILE), 30), (dir.join(OUTPUT_FILE), 15)])
}

/// Empties the temp dir (except the owner file) and recreates the data directory.
fn reset_dir(dir: &Path) -> Result<(), TestkitError> {
    let entries =
        std::fs::read_dir(dir).map_err(TestkitError::io(format!("listing {}", dir.display())))?;
    for entry in entries {
        let path = entry
            .map_err(TestkitError::io(format!("listing {}", dir.display())))?
            .path();
        if path.file_name() == Some(std::ffi::OsStr::new(OWNER_FILE)) {
            continue;
        }
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(TestkitError::io(format!("removing {}", path.display())))?;
    }
    let db = dir.join(DB_DIR);
    std::fs::create_dir_all(&db).map_err(TestkitError::io(format!("creating {}", db.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The port race is recognised (and so retried) rather than reported as a broken mongod.
    #[tokio::test]
    async fn taken_port_is_detected() -> Result<(), TestkitError> {
        let bin = binaries::mongod()?;
        let holder = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(TestkitError::io("binding a port to occupy"))?;
        let port = holder
            .local_addr()
            .map_err(TestkitError::io("reading the port"))?
            .port();
        let dir = tempfile::tempdir().map_err(TestkitError::io("temp dir"))?;
        reset_dir(dir.path())?;
        match launch(&bin, port, dir.path()).await {
            Err(LaunchError::PortTaken) => Ok(()),
            Err(LaunchError::Failed(e)) => panic!("expected PortTaken, got: {e}"),
            Ok(_) => panic!("mongod claims to run on a port held by another socket"),
        }
    }
}
