//! Property-based testing of the HTTP API against its own `/openapi.json` with schemathesis
//! (PyPI, installed by scripts/install-test-deps.sh into `.tools/schemathesis`): the app runs
//! on a random port over a fresh SQLite store with one tenant whose sync is done, and
//! schemathesis generates requests for every documented operation, checking that none gets a
//! 5xx and that every status, content type and body is the one the document promises. Any
//! finding fails the test. A machine without schemathesis fails loudly: this test is what
//! keeps /openapi.json honest, so it must never pass by not running.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use api::queue::QueueAdmin;
use common::*;

/// The schemathesis executable: `SCHEMATHESIS_BIN`, else the one install-test-deps.sh puts
/// in `<repo>/.tools` (or `$TOOLS_DIR`).
fn schemathesis_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SCHEMATHESIS_BIN") {
        return PathBuf::from(bin);
    }
    let tools = std::env::var_os("TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(".tools")
        });
    let bin = tools.join("schemathesis").join("bin").join("schemathesis");
    assert!(
        bin.is_file(),
        "schemathesis is not installed at {}: run scripts/install-test-deps.sh (needs python3 \
         with venv and PyPI) or set SCHEMATHESIS_BIN",
        bin.display()
    );
    bin
}

/// Runs schemathesis over the operations with `tag`, authenticated with `bearer`, and
/// asserts it found nothing.
async fn run_schemathesis(app: &TestApp, tag: &str, filters: &[&str], bearer: Option<String>) {
    let bin = schemathesis_bin();
    let report = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(&bin);
    command
        .arg("run")
        .arg(app.at("/openapi.json"))
        .args(["--url", &app.url])
        // Every check but positive_data_acceptance, which cannot hold here: a schema-valid
        // but made-up opaque cursor is rightly refused, and schema-valid Odoo hosts do not
        // resolve in a sandbox. Among the rest: no 5xx, statuses, content types, headers and
        // bodies as documented, invalid input refused, auth never ignored.
        .args(["--checks", "all"])
        .args(["--exclude-checks", "positive_data_acceptance"])
        // The examples, boundary values and random data of every operation; the stateful
        // phase needs links the document does not declare.
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", "100"])
        .args(["--seed", "5"])
        // One worker: with several, CPython 3.11's parser trips over schemathesis' threads
        // now and then ("AST constructor recursion depth mismatch"), an error of the tool.
        .args(["--workers", "1"])
        .args(["--request-timeout", "20"])
        // Includes are alternatives (any one selects), excludes narrow the selection.
        .args(["--include-tag", tag])
        .args(filters)
        // An event stream never ends: schemathesis would wait for the whole body.
        .args(["--exclude-path", "/odoo/status/events"])
        .args(["--report-dir"])
        .arg(report.path())
        // Its caches (`.schemathesis/`, hypothesis' database) go to the temporary dir, not
        // into the source tree.
        .current_dir(report.path())
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false");
    if let Some(bearer) = bearer {
        command.args(["--header", &format!("Authorization: Bearer {bearer}")]);
    }
    let started = Instant::now();
    // A child process blocks: off the runtime's threads so the app keeps serving it.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!(
        "schemathesis ({tag}) took {:.1}s\n{stdout}\n{stderr}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "schemathesis found problems in the `{tag}` operations (exit {:?}); see its report \
         above",
        output.status.code()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_conforms_to_its_openapi_document() {
    // The simulator's address is private, so it is allowed; anything else schemathesis makes
    // up for save-connection must be refused or found unreachable, never a 5xx.
    // With the standalone SQLite queue, so the queue routes answer 200 and are checked too.
    let queue_dir = tempfile::tempdir().expect("tempdir");
    let queue = QueueAdmin::sqlite(&queue_dir.path().join("queue.sqlite3"))
        .await
        .expect("queue");
    let app = spawn_with(Options {
        queue: Some(queue),
        ..Options::default()
    })
    .await;
    let odoo = odoo().await;
    let saved = app
        .save_connection("alice", &odoo.connection())
        .await
        .status();
    assert!(saved.is_success(), "save-connection: {saved}");
    app.run_sync("alice").await;

    let dashboard = app.get("/odoo/dashboard", "alice").await.status();
    assert_eq!(dashboard, 200, "the sync is done, so the dashboard answers");

    // Tenant reads (and save-connection) first, over the finished sync: the operator run
    // finds alice in the tenant list and resyncs her, and the delete takes her data away.
    let alice = Some(token("alice"));
    let reads = ["--exclude-method", "DELETE"];
    run_schemathesis(&app, "tenant", &reads, alice.clone()).await;
    run_schemathesis(&app, "health", &[], None).await;
    run_schemathesis(&app, "operator", &[], Some(ADMIN_TOKEN.to_string())).await;
    let delete = ["--exclude-method", "GET", "--exclude-method", "POST"];
    run_schemathesis(&app, "tenant", &delete, alice).await;
}
