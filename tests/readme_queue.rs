//! The README's "Inspecting and draining the queue" blocks, run as written by bash against a
//! real redis-server (testkit's) holding a job pushed by the project's own queue code: the
//! `redis-cli` lines that inspect the queue, then the lines that empty it. A `redis-cli`
//! first on PATH is Debian's redis-cli pointed at the test's port; `docker` first on PATH
//! only records its arguments (scripts/compose-check.sh runs the `docker compose stop` and
//! `start` lines against a real compose project); the one placeholder, `<id>`, becomes the
//! pushed job's id. Nothing else is changed.

mod support;

use std::path::{Path, PathBuf};

use redis::AsyncCommands;
use shared::store::TenantId;
use support::{blocks_after, path_with, write_script, Group};
use testkit::RedisServer;
use worker::{JobQueue, QueueSettings, RedisQueue, TenantJob};

/// Debian's redis-cli (redis-tools, which redis-server depends on): beside redis-server, or
/// on PATH.
fn redis_cli() -> PathBuf {
    let beside = std::env::var_os("REDIS_SERVER_BIN")
        .map(PathBuf::from)
        .and_then(|server| server.parent().map(|dir| dir.join("redis-cli")));
    let on_path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("redis-cli"))
        .collect::<Vec<_>>();
    beside
        .into_iter()
        .chain(on_path)
        .find(|p| p.is_file())
        .expect("redis-cli (Debian's redis-tools; scripts/install-test-deps.sh installs it)")
}

async fn queue_keys(conn: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let mut keys: Vec<String> = conn.keys("odoo-sync:jobs:*").await.expect("KEYS");
    keys.sort();
    keys
}

fn run(block: &str, dir: &Path, path: &str) -> support::Output {
    let out = Group::spawn(
        &format!("set -euo pipefail\n{block}"),
        dir,
        &[("PATH", path.to_string())],
        true,
    )
    .finish(String::new);
    assert!(
        out.status.success(),
        "the block failed ({}):\n{block}\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_queue_blocks_inspect_and_empty_a_real_queue() {
    let blocks = blocks_after("**Inspecting and draining the queue.**", 2);
    let (inspect, reset) = (blocks[0], blocks[1]);
    let redis = RedisServer::start().await.expect("redis-server");
    let settings = QueueSettings::default();
    let queue = RedisQueue::new(
        settings
            .redis_connection(&redis.url())
            .await
            .expect("queue connection"),
        &settings,
    );
    let tenant = TenantId::parse("alice").expect("tenant id");
    queue
        .push(&[TenantJob::Process(tenant)])
        .await
        .expect("push a job");
    let mut conn = redis.connection().await.expect("connection");
    let ids: Vec<String> = conn
        .zrange("odoo-sync:jobs:scheduled", 0, -1)
        .await
        .expect("ZRANGE");
    assert_eq!(ids.len(), 1, "one job scheduled: {ids:?}");

    let dir = tempfile::tempdir().expect("dir");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    write_script(
        &bin.join("redis-cli"),
        &format!(
            "exec '{}' -p {} \"$@\"\n",
            redis_cli().display(),
            redis.port()
        ),
    );
    let calls = dir.path().join("docker-calls");
    write_script(
        &bin.join("docker"),
        &format!("printf '%s\\n' \"$*\" >> '{}'\n", calls.display()),
    );
    let path = path_with(&[&bin]);

    assert!(
        inspect.contains("<id>"),
        "the block's placeholder:\n{inspect}"
    );
    let out = run(&inspect.replace("<id>", &ids[0]), dir.path(), &path);
    let lines: Vec<&str> = out.stdout.lines().collect();
    // ZCARD scheduled, LLEN active, no live worker, nothing in flight, the job's payload.
    assert_eq!(lines.first(), Some(&"1"), "{}", out.stdout);
    assert_eq!(lines.get(1), Some(&"0"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(r#"{"v":1,"kind":"process","tenant":"alice"}"#),
        "HGET shows the job's payload:\n{}",
        out.stdout
    );

    assert!(!queue_keys(&mut conn).await.is_empty());
    run(reset, dir.path(), &path);
    assert_eq!(
        queue_keys(&mut conn).await,
        Vec::<String>::new(),
        "the reset block leaves no queue key"
    );
    let calls = std::fs::read_to_string(&calls).expect("docker was called");
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        [
            "compose stop scheduler worker",
            "compose start scheduler worker"
        ],
        "the docker lines of the reset block"
    );
}
