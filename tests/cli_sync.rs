//! `odoo-sync sync` as a user runs it: the real binary against the simulator, into a SQLite
//! store: the initial sync, an incremental pass on a second run, deletions with
//! `--reconcile`, which protocol it chose and why, and clear failures (refused credentials,
//! bad store) that print no secret.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::json;
use shared::modules::Module;
use shared::store::sqlite::SqliteStore;
use shared::store::{SharedStore, SyncStatus, TenantId};
use sim::{DatabaseSpec, SimServer, Simulator, UserSpec};

const PASSWORD: &str = "s3cret-admin-password";

const API_KEY: &str = "cli-test-api-key";

async fn simulator() -> (Simulator, SimServer) {
    simulator_of(17, 1_500).await
}

/// A simulator with database `acme` of `version`: admin with [`PASSWORD`] and [`API_KEY`].
async fn simulator_of(version: u32, records: usize) -> (Simulator, SimServer) {
    let sim = Simulator::new();
    let mut spec = DatabaseSpec::new("acme", version);
    let mut admin = UserSpec::admin().with_api_key(API_KEY);
    admin.password = PASSWORD.into();
    spec.users = vec![admin];
    spec.data.records = records;
    spec.data.days = 20;
    sim.add_database(spec).expect("database");
    let server = sim.serve("127.0.0.1:0").await.expect("serve");
    (sim, server)
}

/// Runs `odoo-sync sync` with the given extra arguments; returns (success, stdout, stderr).
fn sync(url: &str, password: &str, store: &Path, extra: &[&str]) -> (bool, String, String) {
    sync_with(url, ("ODOO_PASSWORD", password), store, extra)
}

/// Runs `odoo-sync sync` with the secret in the given variable (`ODOO_PASSWORD` or
/// `ODOO_API_KEY`).
fn sync_with(
    url: &str,
    (variable, secret): (&str, &str),
    store: &Path,
    extra: &[&str],
) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_odoo-sync"))
        .args([
            "sync", "--url", url, "--db", "acme", "--login", "admin", "--tenant", "t1",
        ])
        .arg("--store")
        .arg(format!("sqlite://{}", store.display()))
        .args(extra)
        .env_remove("ODOO_PASSWORD")
        .env_remove("ODOO_API_KEY")
        .env(variable, secret)
        .env("API_CALL_DELAY_MS", "0")
        .env("LIMIT_PER_CALL", "100")
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
            .record_count(&tenant, Module::sales(), false)
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
    // It says what the reconcile did.
    assert!(
        err.lines().any(|l| l.starts_with("Reconcile Sales Orders:")
            && l.contains("1 found deleted in Odoo (1 deleted in all)")),
        "{err}"
    );
    let store = open(&path).await;
    let records = store
        .records(&tenant, Module::sales(), new_id - 1, 1)
        .await
        .expect("records");
    assert_eq!(records.first().map(|r| r.odoo_id), Some(new_id));
    let deleted = store
        .records(&tenant, Module::sales(), gone - 1, 1)
        .await
        .expect("records");
    assert!(deleted
        .first()
        .is_some_and(|r| r.odoo_id == gone && r.deleted_at.is_some()));
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_the_protocol_it_chose_and_why() {
    let cases = [
        (
            17,
            ("ODOO_API_KEY", API_KEY),
            "Protocol: xmlrpc (JSON-2 not offered by Odoo 17.0: GET /web/version answered 404 Not Found)",
        ),
        (
            19,
            ("ODOO_API_KEY", API_KEY),
            "Protocol: json2 (Odoo 19.0 with an API key)",
        ),
        (
            19,
            ("ODOO_PASSWORD", PASSWORD),
            "Protocol: xmlrpc (Odoo 19.0 offers JSON-2, but JSON-2 takes only API keys and a password was given)",
        ),
    ];
    for (version, secret, said) in cases {
        let (_sim, server) = simulator_of(version, 200).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("acme.sqlite3");
        let url = server.url();
        let secret = (secret.0.to_string(), secret.1.to_string());
        let (ok, out, err) = tokio::task::spawn_blocking({
            let (url, path, secret) = (url.clone(), path.clone(), secret.clone());
            move || sync_with(&url, (&secret.0, &secret.1), &path, &[])
        })
        .await
        .expect("join");
        assert!(ok, "Odoo {version}: sync failed:\n{out}\n{err}");
        assert!(
            err.lines().any(|l| l == said),
            "Odoo {version}: want {said:?} in\n{err}"
        );
        // What it chose is what the engine used and stored.
        let store = open(&path).await;
        let state = store
            .tenant(&TenantId::parse("t1").expect("id"))
            .await
            .expect("state")
            .expect("tenant");
        let chosen = said.split_whitespace().nth(1).expect("protocol word");
        assert_eq!(state.protocol.as_deref(), Some(chosen));

        // A later run says it goes on with what the first one found.
        let (ok, out, err) = tokio::task::spawn_blocking({
            let (url, path) = (url.clone(), path.clone());
            move || sync_with(&url, (&secret.0, &secret.1), &path, &[])
        })
        .await
        .expect("join");
        assert!(ok, "Odoo {version}: second run failed:\n{out}\n{err}");
        let again = format!(
            "Protocol: {chosen} (Odoo {version}.0; the protocol this tenant's earlier syncs found)"
        );
        assert!(err.lines().any(|l| l == again), "want {again:?} in\n{err}");
        assert!(!err.contains(API_KEY) && !out.contains(API_KEY));
        server.shutdown().await.expect("shutdown");
    }
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
    assert_eq!(
        err.matches("refused the credentials").count(),
        1,
        "the refusal is said once, not as a log line and again as the error: {err}"
    );
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

/// `--modules` names a module the `--config` file declares (known only once the settings are
/// loaded) and an optional built-in one; a bad settings table stops the run naming its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_a_declared_module_named_on_the_command_line() {
    let (_sim, server) = simulator_of(17, 300).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("acme.sqlite3");
    let config = dir.path().join("settings.toml");
    std::fs::write(
        &config,
        "[modules.partners_lite]\nmodel = \"res.partner\"\nfields = [\"name\", \"city\"]\narchived = true\n",
    )
    .expect("settings");
    let (ok, out, err) = tokio::task::spawn_blocking({
        let (url, path, config) = (server.url(), path.clone(), config.clone());
        move || {
            let config = config.display().to_string();
            sync(
                &url,
                PASSWORD,
                &path,
                &["--config", &config, "--modules", "partners_lite,products"],
            )
        }
    })
    .await
    .expect("join");
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("Partners Lite") && out.contains("Products"),
        "{out}"
    );
    assert!(
        !out.contains("Sales Orders"),
        "only the modules named: {out}"
    );

    std::fs::write(&config, "[modules.partners_lite]\nfields = \"*\"\n").expect("settings");
    let err = sync_refused(
        &server.url(),
        &[
            "--config",
            &config.display().to_string(),
            "--modules",
            "partners_lite",
        ],
        &[],
    );
    assert!(err.contains("modules.partners_lite.model"), "{err}");
}

/// `admin tenants` prints a header row above the tenants, and logs written to a pipe carry no
/// colour codes (issue 13).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_tenants_has_a_header_and_piped_logs_are_plain() {
    let (_sim, server) = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // DATA_DIR's store file, so `admin` finds the tenant there.
    let path = dir.path().join("odoo-sync.sqlite3");
    let url = server.url();
    let (ok, out, err) = tokio::task::spawn_blocking({
        let path = path.clone();
        move || sync(&url, PASSWORD, &path, &[])
    })
    .await
    .expect("join");
    assert!(ok, "initial sync failed:\n{out}\n{err}");

    let output = Command::new(env!("CARGO_BIN_EXE_odoo-sync"))
        .args(["admin", "tenants"])
        .env_remove("MONGO_URI")
        .env("DATA_DIR", dir.path())
        .env("RUST_LOG", "debug")
        .output()
        .expect("run odoo-sync admin");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("TENANT") && l.contains("STATUS")),
        "no header row:\n{stdout}"
    );
    let row = lines
        .iter()
        .find(|l| l.starts_with("t1 ") && l.contains("done"))
        .unwrap_or_else(|| panic!("no row for t1:\n{stdout}"));
    // Every value sits under its column: the right-aligned ones end where their name ends,
    // the left-aligned ones start where it starts (the failed count alone, no word beside it).
    let header = lines[0];
    let column = |name: &str| header.find(name).expect("column");
    let ends_under = |name: &str| {
        let end = column(name) + name.len();
        row.get(end - 1..end).is_some_and(|c| c != " ")
            && row.get(end..end + 1).is_none_or(|c| c == " ")
    };
    assert!(
        ends_under("SYNCED") && ends_under("WINDOWS"),
        "\n{header}\n{row}"
    );
    let failed = row[column("FAILED")..].split_whitespace().next();
    assert_eq!(failed, Some("0"), "FAILED column:\n{header}\n{row}");
    assert!(!stderr.is_empty(), "debug logs expected on stderr");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in piped logs:\n{stderr}"
    );
}
