//! Child-process plumbing shared by the servers: spawning (so that a server dies with the test
//! process even when the test is SIGKILLed and no destructor runs), temp directories (swept when
//! their owner died), free ports, graceful and hard stops, and log tails for error messages.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::TestkitError;

/// How often start-up and shutdown loops look at the process and the port again.
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// A running server process. Dropping it kills the process (SIGKILL) and reaps it, so the port is
/// free again by the time `drop` returns.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Child,
}

impl ServerProcess {
    /// Spawns `program args...` with stdout and stderr appended to `output`.
    pub(crate) async fn spawn(
        program: &Path,
        args: &[String],
        output: &Path,
    ) -> Result<Self, TestkitError> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(output)
            .map_err(TestkitError::io(format!("opening {}", output.display())))?;
        let err = out
            .try_clone()
            .map_err(TestkitError::io("duplicating the output file handle"))?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = spawn_tied_to_process(cmd)
            .await
            .map_err(TestkitError::io(format!("spawning {}", program.display())))?;
        Ok(ServerProcess { child })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the process has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        // An error here means the child was already reaped; treat it as gone.
        match self.child.try_wait() {
            Ok(status) => status,
            Err(_) => Some(ExitStatus::default()),
        }
    }

    /// SIGTERM, then wait up to `grace` for a clean exit (both servers flush their data on
    /// SIGTERM), then SIGKILL.
    pub(crate) async fn terminate(mut self, grace: Duration) -> Result<(), TestkitError> {
        if self.exited().is_some() {
            return Ok(());
        }
        let pid = libc::pid_t::try_from(self.child.id()).map_err(|_| TestkitError::Io {
            context: "pid out of range".into(),
            source: io::Error::from(io::ErrorKind::InvalidInput),
        })?;
        // SAFETY: kill(2) has no memory-safety preconditions. The pid is our own unreaped child,
        // so it cannot have been recycled for another process.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            let e = io::Error::last_os_error();
            return Err(TestkitError::io(format!("sending SIGTERM to {pid}"))(e));
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
        tracing::warn!(
            pid,
            "server did not stop within {grace:?} of SIGTERM; killing it"
        );
        self.kill_and_reap();
        Ok(())
    }

    fn kill_and_reap(&mut self) {
        // Errors mean the process is already gone, which is the goal.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

type SpawnRequest = (Command, tokio::sync::oneshot::Sender<io::Result<Child>>);

/// Spawns `cmd` so that the kernel SIGKILLs it when the test process dies, even without unwinding
/// (nextest timeout, panic=abort, SIGKILL): otherwise a killed test leaves a 140 MB mongod
/// running on a shared CI machine.
///
/// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process, and
/// test threads and tokio's blocking threads come and go. So children are forked by one
/// dedicated thread that lives as long as the process.
pub(crate) async fn spawn_tied_to_process(mut cmd: Command) -> io::Result<Child> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs between fork and exec and only calls async-signal-safe
        // functions (prctl, getppid), allocating nothing.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl.
                if libc::getppid() == 1 {
                    return Err(io::Error::other("parent exited during spawn"));
                }
                Ok(())
            });
        }
    }

    static SPAWNER: OnceLock<Option<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("testkit-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .ok()
            .map(|_| tx)
    });
    let Some(spawner) = spawner else {
        // Could not start the thread (resource limits): spawn here, still with the death signal
        // bound to this thread, which is better than none.
        return cmd.spawn();
    };
    let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
    spawner
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("testkit spawner thread is gone"))?;
    reply_rx
        .await
        .map_err(|_| io::Error::other("testkit spawner thread dropped the request"))?
}

/// File in each server directory naming the process that owns it, so directories left behind by
/// a killed test process (no destructor ran) can be recognised and removed later.
pub(crate) const OWNER_FILE: &str = "testkit-owner.pid";

/// Creates a server's temporary directory (`<tmp>/<prefix>XXXXXX`) and records this process as its
/// owner. First removes directories with the same prefix whose owner process is dead: a SIGKILLed
/// test leaves a ~300 MB mongod data directory behind, and chaos tests do get killed.
pub(crate) fn server_dir(prefix: &str) -> Result<TempDir, TestkitError> {
    sweep_stale_dirs(prefix);
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(TestkitError::io(format!(
            "creating a temporary directory {prefix}*"
        )))?;
    let owner = dir.path().join(OWNER_FILE);
    std::fs::write(&owner, std::process::id().to_string())
        .map_err(TestkitError::io(format!("writing {}", owner.display())))?;
    Ok(dir)
}

fn sweep_stale_dirs(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        // No owner file yet means another process is creating it right now: leave it alone.
        let Ok(owner) = std::fs::read_to_string(entry.path().join(OWNER_FILE)) else {
            continue;
        };
        let Ok(pid) = owner.trim().parse::<libc::pid_t>() else {
            continue;
        };
        if pid > 0 && !process_alive(pid) {
            tracing::debug!(path = %entry.path().display(), pid, "removing stale test server dir");
            // Best effort: another process may be sweeping the same directory.
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn process_alive(pid: libc::pid_t) -> bool {
    // SAFETY: kill(2) with signal 0 sends nothing; it only checks that the pid exists.
    let rc = unsafe { libc::kill(pid, 0) };
    // EPERM: it exists but belongs to someone else.
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// A loopback port that was free a moment ago. Another process can take it before the server
/// binds it; callers detect that and retry with a new port.
pub(crate) fn free_port() -> Result<u16, TestkitError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(TestkitError::io("binding 127.0.0.1:0 to find a free port"))?;
    let port = listener
        .local_addr()
        .map_err(TestkitError::io("reading the bound port"))?
        .port();
    Ok(port)
}

/// The last `max_lines` lines of a log (reading at most its last 64 KiB), for error messages.
fn log_tail(path: &Path, max_lines: usize) -> String {
    const MAX_BYTES: u64 = 64 * 1024;
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(MAX_BYTES)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(max_lines);
            if lines.is_empty() {
                "(log is empty)".to_string()
            } else {
                lines[start..].join("\n")
            }
        }
        Err(e) => format!("(could not read log: {e})"),
    }
}

/// The tails of those of `files` (path, lines) that exist and are not empty, each under a header
/// naming the file; used in start-up errors.
pub(crate) fn tail_of_logs(files: &[(PathBuf, usize)]) -> String {
    let parts: Vec<String> = files
        .iter()
        .filter(|(path, _)| path.metadata().map(|m| m.len() > 0).unwrap_or(false))
        .map(|(path, lines)| format!("--- {} ---\n{}", path.display(), log_tail(path, *lines)))
        .collect();
    if parts.is_empty() {
        "(the server wrote no log output)".to_string()
    } else {
        parts.join("\n")
    }
}

/// True when a server's log says its port was taken (mongod and redis-server both say this).
pub(crate) fn says_port_in_use(log: &str) -> bool {
    log.contains("Address already in use") || log.contains("EADDRINUSE")
}
