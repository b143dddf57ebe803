//! `odoo-sync api` and `odoo-sync standalone` stop soon after SIGTERM when nothing is in
//! flight, even with a client holding a status event stream and another an idle keep-alive
//! connection (issue 10): the server stops accepting, ends the streams, closes idle
//! connections and exits 0, instead of waiting on connections that never finish.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use shared::store::TenantId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_odoo-sync");
const KEY_B64: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
const JWT_SECRET: &str = "shutdown-test-jwt-secret-0123456789abcdef";
/// How long start-up may take on a loaded machine.
const START_LIMIT: Duration = Duration::from_secs(60);
/// "A few seconds": the bound on stopping after SIGTERM (it took 35 s, or for ever with an
/// open event stream, before).
const STOP_LIMIT: Duration = Duration::from_secs(15);

/// Kills the process if the test fails before it exits.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(role: &str, data: &Path, port: u16, log: &Path) -> Child {
    let file = std::fs::File::create(log).expect("log file");
    Command::new(BIN)
        .arg(role)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATA_DIR", data)
        .env("JWT_SECRET", JWT_SECRET)
        .env("ENCRYPTION_KEY", KEY_B64)
        .env("BIND_ADDRESS", format!("127.0.0.1:{port}"))
        // Idle connections would otherwise close by themselves before the stop.
        .env("HTTP_HEADER_TIMEOUT_SECONDS", "300")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("spawn odoo-sync")
}

async fn wait_healthy(base: &str) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let health = client.get(format!("{base}/health")).send().await;
        if health.is_ok_and(|r| r.status() == 200) {
            return;
        }
        assert!(started.elapsed() < START_LIMIT, "{base} never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

async fn stops_soon_after_sigterm(role: &str) {
    let data = tempfile::tempdir().expect("data dir");
    let log = data.path().join(format!("{role}.log"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut guard = Guard(Some(spawn(role, data.path(), port, &log)));
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&base).await;

    // A status stream, read up to its first event.
    let token = api::auth::issue_token(
        &SecretString::from(JWT_SECRET.to_string()),
        &TenantId::parse("alice").expect("id"),
        Duration::from_secs(600),
    )
    .expect("token");
    let client = reqwest::Client::new();
    let mut stream = client
        .get(format!("{base}/odoo/status/events"))
        .bearer_auth(token)
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    let first = tokio::time::timeout(START_LIMIT, stream.chunk())
        .await
        .expect("a first event");
    assert!(
        first.is_ok_and(|c| c.is_some()),
        "the stream sends its status"
    );
    // A keep-alive connection that answered one request and now waits.
    let mut idle = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(START_LIMIT, idle.read(&mut buf))
        .await
        .expect("an answer")
        .expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    let mut child = guard.0.take().expect("running");
    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = wait_exit(&mut child, STOP_LIMIT).await;
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("{role} still running {STOP_LIMIT:?} after SIGTERM; log:\n{text}");
    }
    eprintln!("{role} stopped {:?} after SIGTERM", signalled.elapsed());
    assert!(
        status.is_some_and(|s| s.success()),
        "{role} after SIGTERM: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_stops_soon_after_sigterm() {
    stops_soon_after_sigterm("api").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_stops_soon_after_sigterm() {
    stops_soon_after_sigterm("standalone").await;
}
