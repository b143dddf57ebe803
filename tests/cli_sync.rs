//! `odoo-sync sync` as a user runs it: the real binary against the simulator, into a SQLite
//! store: the initial sync, an incremental pass on a second run, deletions with
//! `--reconcile`, and clear failures (refused credentials, bad store) that print no secret.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::json;
use shared::modules::Module;
use shared::store::sqlite::SqliteStore;
use shared::store::{SharedStore, SyncStatus, TenantId};
use sim::{DatabaseSpec, SimServer, Simulator, UserSpec};

const PASSWORD: &str = "s3cret-admin-password";

async fn simulator() -> (Simulator, SimServer) {
    let sim = Simulator::new();
    let mut spec = DatabaseSpec::new("acme", 17);
    let mut admin = UserSpec::admin();
    admin.password = PASSWORD.into();
    spec.users = vec![admin];
    spec.data.records = 1_500;
    spec.data.days = 20;
    sim.add_database(spec).expect("database");
    let server = sim.serve("127.0.0.1:0").await.expect("serve");
    (sim, server)
}

/// Runs `odoo-sync sync` with the given extra arguments; returns (success, stdout, stderr).
fn sync(url: &str, password: &str, store: &Path, extra: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_odoo-sync"))
        .args([
            "sync", "--url", url, "--db", "acme", "--login", "admin", "--tenant", "t1",
        ])
        .arg("--store")
        .arg(format!("sqlite://{}", store.display()))
        .args(extra)
        .env("ODOO_PASSWORD", password)
        .env("API_CALL_DELAY_MS", "0")
        .env("LIMIT_PER_CALL", "100")
        .env_remove("ODOO_API_KEY")
        .output()
        .expect("run odoo-sync");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn open(path: &Path) -> SharedStore {
    Arc::new(SqliteStore::open(path).await.expect("store"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_then_incremental_then_reconcile() {
    let (sim, server) = simulator().await;
    let db = sim.db("acme").expect("db");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("acme.sqlite3");
    let url = server.url();
    let tenant = TenantId::parse("t1").expect("id");

    let (ok, out, err) = tokio::task::spawn_blocking({
        let (url, path) = (url.clone(), path.clone());
        move || sync(&url, PASSWORD, &path, &[])
    })
    .await
    .expect("join");
    assert!(ok, "initial sync failed:\n{out}\n{err}");
    assert!(
        out.contains("Sales Orders") && out.contains("Initial sync:"),
        "{out}"
    );
    assert!(!out.contains(PASSWORD) && !err.contains(PASSWORD));
    {
        let store = open(&path).await;
        let state = store.tenant(&tenant).await.expect("state").expect("tenant");
        assert_eq!(state.sync_status, SyncStatus::Done);
        let orders = store
            .record_count(&tenant, Module::Sales, false)
            .await
            .expect("count");
        assert_eq!(orders, db.count("sale.order").expect("count") as u64);
    }

    // A second run picks up what changed in Odoo since.
    let new_id = db
        .create(
            "sale.order",
            json!({"name": "S-CLI", "state": "sale", "amount_total": 42.0}),
        )
        .expect("create");
    let gone = db.ids("sale.order").expect("ids")[0];
    db.delete("sale.order", gone).expect("delete");
    let (ok, out, err) = tokio::task::spawn_blocking({
        let (url, path) = (url.clone(), path.clone());
        move || sync(&url, PASSWORD, &path, &["--reconcile"])
    })
    .await
    .expect("join");
    assert!(ok, "incremental run failed:\n{out}\n{err}");
    assert!(err.contains("Incremental pass"), "{err}");
    let store = open(&path).await;
    let records = store
        .records(&tenant, Module::Sales, new_id - 1, 1)
        .await
        .expect("records");
    assert_eq!(records.first().map(|r| r.odoo_id), Some(new_id));
    let deleted = store
        .records(&tenant, Module::Sales, gone - 1, 1)
        .await
        .expect("records");
    assert!(deleted
        .first()
        .is_some_and(|r| r.odoo_id == gone && r.deleted_at.is_some()));
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_and_bad_input_fail_clearly() {
    let (_sim, server) = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("acme.sqlite3");
    let url = server.url();

    let (ok, out, err) = tokio::task::spawn_blocking({
        let (url, path) = (url.clone(), path.clone());
        move || sync(&url, "wrong-password-xyz", &path, &[])
    })
    .await
    .expect("join");
    assert!(!ok, "a refused login must fail");
    assert!(err.contains("refused"), "{err}");
    assert!(!out.contains("wrong-password-xyz") && !err.contains("wrong-password-xyz"));

    let err = sync_refused("ftp://x", &[], &[]);
    assert!(err.contains("url scheme"), "{err}");
    let err = sync_refused(&url, &["--store", "redis://nope"], &[]);
    assert!(err.contains("--store"), "{err}");
    let err = sync_refused(&url, &[], &[("LIMIT_PER_CALL", "0")]);
    assert!(err.contains("LIMIT_PER_CALL"), "{err}");
}

/// Runs `odoo-sync sync` against `url` with bad input; it must fail. Returns its stderr.
fn sync_refused(url: &str, extra: &[&str], env: &[(&str, &str)]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_odoo-sync"))
        .args(["sync", "--url", url, "--db", "acme", "--login", "admin"])
        .args(["--password", "p"])
        .args(extra)
        .envs(env.iter().copied())
        .output()
        .expect("run odoo-sync");
    assert!(!output.status.success(), "bad input must fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}
