//! `odoo-sync inspect`, `odoo-sync export` and the connection flags (`--protocol`, no
//! `--login` with an API key) as a user runs them: the real binary against the simulator
//! (Odoo 17 and 19), exports out of a SQLite store a `sync` filled. What they print is
//! checked against the simulator's own data and the store's.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use shared::modules::Module;
use shared::store::sqlite::SqliteStore;
use shared::store::{SharedStore, StoredRecord, SyncStatus, TenantId};
use sim::{DatabaseSpec, Db, SimServer, Simulator, UserSpec};

const PASSWORD: &str = "s3cret-admin-password";
const API_KEY: &str = "cli-inspect-api-key";

/// A simulator with database `acme` of `version`: admin (uid 2) with [`PASSWORD`] and
/// [`API_KEY`], every app, `records` generated records over 20 days.
async fn simulator_of(version: u32, records: usize) -> (Db, SimServer) {
    let sim = Simulator::new();
    let mut spec = DatabaseSpec::new("acme", version);
    let mut admin = UserSpec::admin().with_api_key(API_KEY);
    admin.password = PASSWORD.into();
    spec.users = vec![admin];
    spec.data.records = records;
    spec.data.days = 20;
    let db = sim.add_database(spec).expect("database");
    let server = sim.serve("127.0.0.1:0").await.expect("serve");
    (db, server)
}

/// What one run of the binary did.
struct Run {
    ok: bool,
    out: String,
    err: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.out))
    }

    /// Neither output carries a secret.
    fn assert_no_secret(&self) {
        for secret in [PASSWORD, API_KEY, "wrong-password-xyz"] {
            assert!(
                !self.out.contains(secret) && !self.err.contains(secret),
                "a secret was printed:\n{}\n{}",
                self.out,
                self.err
            );
        }
    }
}

/// Runs `odoo-sync ARGS` with the secret in `secret` (`ODOO_PASSWORD` or `ODOO_API_KEY`),
/// no politeness delay.
async fn odoo_sync(args: &[&str], secret: Option<(&str, &str)>) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_odoo-sync"));
    command
        .args(args)
        .env_remove("ODOO_PASSWORD")
        .env_remove("ODOO_API_KEY")
        .env("API_CALL_DELAY_MS", "0")
        .env("LIMIT_PER_CALL", "100");
    if let Some((variable, value)) = secret {
        command.env(variable, value);
    }
    let output = command.output().await.expect("run odoo-sync");
    let run = Run {
        ok: output.status.success(),
        out: String::from_utf8_lossy(&output.stdout).into_owned(),
        err: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    run.assert_no_secret();
    run
}

fn password() -> Option<(&'static str, &'static str)> {
    Some(("ODOO_PASSWORD", PASSWORD))
}

fn api_key() -> Option<(&'static str, &'static str)> {
    Some(("ODOO_API_KEY", API_KEY))
}

/// `inspect --url URL --db acme [--login admin]` plus `extra`.
async fn inspect(url: &str, login: bool, extra: &[&str], secret: Option<(&str, &str)>) -> Run {
    let mut args = vec!["inspect", "--url", url, "--db", "acme"];
    if login {
        args.extend(["--login", "admin"]);
    }
    args.extend(extra);
    odoo_sync(&args, secret).await
}

/// What the simulator holds for each built-in module (archived records included; invoices
/// without journal entries).
fn expected_counts(db: &Db, version: u32) -> Vec<(&'static str, u64)> {
    let invoices = db
        .snapshot("account.move")
        .expect("moves")
        .iter()
        .filter(|m| {
            let kind = if version >= 14 { "move_type" } else { "type" };
            m.get(kind).and_then(Value::as_str) != Some("entry")
        })
        .count();
    // Product lines only: sections and notes are not order lines a dashboard counts.
    let sale_lines = db
        .snapshot("sale.order.line")
        .expect("lines")
        .iter()
        .filter(|l| l.get("display_type") == Some(&Value::Bool(false)))
        .count();
    vec![
        ("sales", db.count("sale.order").expect("count") as u64),
        ("invoices", invoices as u64),
        ("contacts", db.count("res.partner").expect("count") as u64),
        ("employees", db.count("hr.employee").expect("count") as u64),
        ("sale_lines", sale_lines as u64),
        (
            "products",
            db.count("product.product").expect("count") as u64,
        ),
    ]
}

/// The text after a label of the report (`Version     19.0` → `19.0`).
fn labelled<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| {
            l.strip_prefix(label)
                .filter(|rest| rest.starts_with(' '))
                .map(str::trim)
        })
        .unwrap_or_else(|| panic!("no {label:?} line in\n{out}"))
}

/// The row of the modules table for `module`, split into its columns.
fn module_row(out: &str, module: &str) -> Vec<String> {
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(module))
        .unwrap_or_else(|| panic!("no row for {module} in\n{out}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_reports_version_protocols_login_and_modules() {
    for version in [17, 19] {
        let (db, server) = simulator_of(version, 400).await;
        let url = server.url();
        let expected = expected_counts(&db, version);

        let run = inspect(&url, true, &[], password()).await;
        assert!(
            run.ok,
            "Odoo {version}: inspect failed:\n{}\n{}",
            run.out, run.err
        );
        let out = &run.out;
        assert_eq!(labelled(out, "Version"), format!("{version}.0"), "{out}");
        let json2 = out
            .lines()
            .find(|l| l.contains("json2 "))
            .unwrap_or_else(|| panic!("no json2 line in\n{out}"));
        if version >= 19 {
            assert!(json2.ends_with("json2    answers (Odoo 19.0)"), "{out}");
        } else {
            assert!(json2.contains("not offered (POST /json/2/"), "{out}");
        }
        for protocol in ["xmlrpc ", "jsonrpc"] {
            assert!(
                out.lines()
                    .any(|l| l.ends_with(&format!("{protocol}  answers (Odoo {version}.0)"))),
                "Odoo {version}: {protocol} should answer:\n{out}"
            );
        }
        // A password goes over XML-RPC on every version.
        assert!(
            labelled(out, "Login").starts_with("ok: admin (uid 2) over xmlrpc"),
            "{out}"
        );
        assert!(labelled(out, "Apps").contains("sale installed"), "{out}");
        for (module, count) in &expected {
            let row = module_row(out, module);
            assert_eq!(
                row.get(3).map(String::as_str),
                Some("yes"),
                "{module}: {row:?}"
            );
            assert_eq!(row.last(), Some(&count.to_string()), "{module}: {row:?}");
        }
        let lines = module_row(out, "sale_lines");
        assert_eq!(lines[1], "sale.order.line");

        // The same as one JSON document, over JSON-2 on 19 (an API key, no login needed).
        let (login, secret) = if version >= 19 {
            (false, api_key())
        } else {
            (true, password())
        };
        let run = inspect(&url, login, &["--json"], secret).await;
        assert!(
            run.ok,
            "Odoo {version}: inspect --json failed:\n{}",
            run.err
        );
        let report = run.json();
        assert_eq!(report["version"], json!(format!("{version}.0")));
        let statuses: Vec<(&str, &str)> = report["protocols"]
            .as_array()
            .expect("protocols")
            .iter()
            .map(|p| {
                (
                    p["protocol"].as_str().expect("protocol"),
                    p["status"].as_str().expect("status"),
                )
            })
            .collect();
        let json2 = if version >= 19 {
            "answered"
        } else {
            "not_offered"
        };
        assert_eq!(
            statuses,
            [
                ("json2", json2),
                ("xmlrpc", "answered"),
                ("jsonrpc", "answered")
            ]
        );
        assert_eq!(report["login"]["status"], "ok");
        assert_eq!(report["login"]["login"], "admin");
        assert_eq!(report["login"]["uid"], 2);
        let protocol = if version >= 19 { "json2" } else { "xmlrpc" };
        assert_eq!(report["login"]["protocol"], protocol);
        let modules = report["modules"].as_array().expect("modules");
        let module = |name: &str| {
            modules
                .iter()
                .find(|m| m["module"] == name)
                .unwrap_or_else(|| panic!("no {name} in {report}"))
        };
        for (name, count) in &expected {
            let m = module(name);
            assert_eq!(m["access"], "readable", "{m}");
            assert_eq!(m["appInstalled"], true, "{m}");
            assert_eq!(m["records"], json!(count), "{m}");
        }
        assert_eq!(module("invoices")["model"], "account.move");
        let lines_model = if version >= 13 {
            "account.move.line"
        } else {
            "account.invoice.line"
        };
        assert_eq!(module("invoice_lines")["model"], lines_model);
        assert_eq!(module("invoice_lines")["access"], "readable");
        let apps: Vec<&Value> = report["apps"].as_array().expect("apps").iter().collect();
        assert!(
            apps.contains(&&json!({"app": "hr", "installed": true})),
            "{apps:?}"
        );
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_fails_clearly_on_a_refused_login_or_an_unreachable_server() {
    let (_db, server) = simulator_of(19, 50).await;
    let url = server.url();

    let wrong = Some(("ODOO_PASSWORD", "wrong-password-xyz"));
    let run = inspect(&url, true, &[], wrong).await;
    assert!(!run.ok, "a refused login must fail:\n{}", run.out);
    // The report still says what answered, and that the login was refused.
    assert_eq!(labelled(&run.out, "Version"), "19.0");
    assert!(
        labelled(&run.out, "Login").starts_with("refused: "),
        "{}",
        run.out
    );
    assert!(run.err.contains("login refused"), "{}", run.err);
    assert!(
        !run.out.contains("MODULE"),
        "no module table after a refusal"
    );

    let run = inspect(&url, true, &["--json"], wrong).await;
    assert!(!run.ok);
    assert_eq!(run.json()["login"]["status"], "refused");

    // A wrong API key without a login is refused when asking whose key it is.
    let run = inspect(
        &url,
        false,
        &[],
        Some(("ODOO_API_KEY", "wrong-password-xyz")),
    )
    .await;
    assert!(!run.ok);
    assert!(
        labelled(&run.out, "Login").starts_with("refused: "),
        "{}",
        run.out
    );

    // A database the server does not have is named, not mistaken for a missing JSON-2.
    let args = ["inspect", "--url", &url, "--db", "nope"];
    let run = odoo_sync(&args, api_key()).await;
    assert!(!run.ok);
    assert!(
        labelled(&run.out, "Login").starts_with("error: "),
        "{}",
        run.out
    );
    assert!(run.err.contains("\"nope\""), "{}", run.err);
    assert!(!run.err.contains("--login is needed"), "{}", run.err);

    server.shutdown().await.expect("shutdown");

    // Nothing listens on the port any more.
    let run = inspect(&url, true, &[], password()).await;
    assert!(!run.ok, "an unreachable server must fail");
    assert!(run.err.contains("cannot reach"), "{}", run.err);
    assert!(run.out.is_empty(), "{}", run.out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_lists_models_and_fields() {
    for version in [17, 19] {
        let (_db, server) = simulator_of(version, 50).await;
        let url = server.url();

        let run = inspect(&url, true, &["--models"], password()).await;
        assert!(run.ok, "--models failed:\n{}", run.err);
        let models: Vec<&str> = run
            .out
            .lines()
            .skip(1)
            .map_while(|l| l.split_whitespace().next().filter(|m| m.contains('.')))
            .collect();
        for model in ["res.partner", "sale.order", "account.move", "hr.employee"] {
            assert!(models.contains(&model), "{model} not listed:\n{}", run.out);
        }
        // Read from ir.model: the optional modules' models too, and nothing the server lacks.
        assert!(models.contains(&"sale.order.line"), "{}", run.out);
        assert!(!models.contains(&"project.project"), "{}", run.out);
        let mut sorted = models.clone();
        sorted.sort();
        assert_eq!(models, sorted);

        let run = inspect(&url, true, &["--models", "--json"], password()).await;
        assert!(run.ok);
        let listed: Vec<String> = run.json()["models"]
            .as_array()
            .expect("models")
            .iter()
            .map(|m| m["model"].as_str().expect("model").to_string())
            .collect();
        assert_eq!(listed, models);

        let run = inspect(&url, true, &["--fields", "res.partner"], password()).await;
        assert!(run.ok, "--fields failed:\n{}", run.err);
        let parent = run
            .out
            .lines()
            .find(|l| l.starts_with("parent_id "))
            .unwrap_or_else(|| panic!("no parent_id in\n{}", run.out));
        let columns: Vec<&str> = parent
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            columns,
            [
                "parent_id",
                "many2one",
                "Related Company",
                "yes",
                "res.partner"
            ]
        );

        let run = inspect(
            &url,
            true,
            &["--fields", "res.partner", "--json"],
            password(),
        )
        .await;
        assert!(run.ok);
        let report = run.json();
        assert_eq!(report["model"], "res.partner");
        let fields = report["fields"].as_array().expect("fields");
        let names: Vec<&str> = fields
            .iter()
            .map(|f| f["name"].as_str().expect("name"))
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        for name in ["name", "is_company", "parent_id", "write_date"] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        let is_company = fields
            .iter()
            .find(|f| f["name"] == "is_company")
            .expect("is_company");
        assert_eq!(is_company["type"], "boolean");
        assert_eq!(is_company["relation"], Value::Null);

        let run = inspect(&url, true, &["--fields", "no.such.model"], password()).await;
        assert!(!run.ok);
        assert!(run.err.contains("does not exist"), "{}", run.err);
        server.shutdown().await.expect("shutdown");
    }
}

/// `sync` into `store` as tenant `t1` with `extra` arguments.
async fn sync(
    url: &str,
    store: &Path,
    login: bool,
    extra: &[&str],
    secret: Option<(&str, &str)>,
) -> Run {
    let store = format!("sqlite://{}", store.display());
    let mut args = vec![
        "sync", "--url", url, "--db", "acme", "--tenant", "t1", "--store", &store,
    ];
    if login {
        args.extend(["--login", "admin"]);
    }
    args.extend(extra);
    odoo_sync(&args, secret).await
}

async fn open(path: &Path) -> SharedStore {
    Arc::new(SqliteStore::open(path).await.expect("store"))
}

/// Every stored record of the module, deleted ones included.
async fn stored(store: &SharedStore, module: Module) -> Vec<StoredRecord> {
    let tenant = TenantId::parse("t1").expect("id");
    store
        .records(&tenant, module, 0, 100_000)
        .await
        .expect("records")
}

/// `export` of tenant t1 from the SQLite store at `path`.
async fn export(path: &Path, extra: &[&str]) -> Run {
    let store = format!("sqlite://{}", path.display());
    let mut args = vec!["export", "--store", &store, "--tenant", "t1"];
    args.extend(extra);
    odoo_sync(&args, None).await
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).expect("csv file");
    let header = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("row").iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_a_synced_mirror_as_csv_and_jsonl() {
    let (db, server) = simulator_of(17, 600).await;
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("acme.sqlite3");

    let run = sync(&url, &path, true, &[], password()).await;
    assert!(run.ok, "sync failed:\n{}\n{}", run.out, run.err);
    // One order deleted in Odoo: the reconcile marks it deleted in the mirror.
    let gone = db.ids("sale.order").expect("ids")[3];
    db.delete("sale.order", gone).expect("delete");
    let run = sync(&url, &path, true, &["--reconcile"], password()).await;
    assert!(run.ok, "reconcile failed:\n{}", run.err);
    let store = open(&path).await;
    let orders = stored(&store, Module::sales()).await;
    let live: Vec<&StoredRecord> = orders.iter().filter(|r| r.deleted_at.is_none()).collect();
    assert!(orders
        .iter()
        .any(|r| r.odoo_id == gone && r.deleted_at.is_some()));
    assert!(live.len() > 20, "too few orders to page: {}", live.len());

    // JSON lines: one stored document per line, the live ones unless asked.
    let run = export(&path, &["--module", "sales", "--format", "jsonl"]).await;
    assert!(run.ok, "{}", run.err);
    let lines: Vec<Value> = run
        .out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), live.len());
    assert_eq!(lines[0], live[0].document);
    assert!(lines.iter().all(|d| d["odooId"] != json!(gone)));
    let run = export(
        &path,
        &[
            "--module",
            "sales",
            "--format",
            "jsonl",
            "--include-deleted",
        ],
    )
    .await;
    assert!(run.ok, "{}", run.err);
    assert_eq!(run.out.lines().count(), orders.len());
    assert!(run
        .out
        .lines()
        .any(|l| l.contains(&format!("\"odooId\":{gone},"))));

    // CSV into a directory: the header is known up front, many2one pairs are two columns.
    let out = dir.path().join("out");
    let out_arg = out.to_str().expect("utf-8 path");
    let run = export(
        &path,
        &["--module", "sales", "--format", "csv", "--out", out_arg],
    )
    .await;
    assert!(run.ok, "{}", run.err);
    assert!(
        run.out.is_empty(),
        "nothing on stdout with --out: {}",
        run.out
    );
    assert!(
        run.err.contains("1 deleted records left out"),
        "{}",
        run.err
    );
    let (header, rows) = read_csv(&out.join("sales.csv"));
    assert_eq!(
        header[..5],
        ["odooId", "writeDate", "createDate", "active", "deletedAt"]
    );
    let raw_columns: Vec<&str> = header[5..].iter().map(String::as_str).collect();
    let mut sorted = raw_columns.clone();
    sorted.sort();
    assert_eq!(raw_columns, sorted, "Odoo fields sorted by name");
    for pair in ["partner_id", "currency_id", "user_id", "company_id"] {
        let at = header
            .iter()
            .position(|h| h == pair)
            .unwrap_or_else(|| panic!("no {pair}: {header:?}"));
        assert_eq!(header[at + 1], format!("{pair}_name"));
    }
    assert!(header.iter().any(|h| h == "amount_total"));
    assert_eq!(rows.len(), live.len());
    let column = |name: &str| header.iter().position(|h| h == name).expect("column");
    for (row, record) in rows.iter().zip(&live) {
        assert_eq!(row[0], record.odoo_id.to_string());
        let partner = &record.document["raw"]["partner_id"];
        assert_eq!(row[column("partner_id")], partner[0].to_string());
        assert_eq!(
            row[column("partner_id_name")],
            partner[1].as_str().expect("name")
        );
        assert_eq!(
            row[column("name")],
            record.document["raw"]["name"].as_str().expect("name")
        );
        assert_eq!(row[column("deletedAt")], "");
        // Odoo's false for an empty value is an empty cell; sales have no boolean field.
        assert!(row[5..].iter().all(|c| c != "false"), "{row:?}");
    }
    let run = export(
        &path,
        &[
            "--module",
            "sales",
            "--format",
            "csv",
            "--out",
            out_arg,
            "--include-deleted",
        ],
    )
    .await;
    assert!(run.ok, "{}", run.err);
    let (_, rows) = read_csv(&out.join("sales.csv"));
    assert_eq!(rows.len(), orders.len());
    let deleted = rows
        .iter()
        .find(|r| r[0] == gone.to_string())
        .expect("deleted row");
    assert!(!deleted[column("deletedAt")].is_empty());

    // Contacts: a boolean keeps false, `active` is a column once, parents split in two.
    let run = export(&path, &["--module", "contacts", "--format", "csv"]).await;
    assert!(run.ok, "{}", run.err);
    let mut reader = csv::Reader::from_reader(run.out.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header.iter().filter(|h| *h == "active").count(),
        1,
        "{header:?}"
    );
    let company = header
        .iter()
        .position(|h| h == "is_company")
        .expect("is_company");
    assert!(header.iter().any(|h| h == "parent_id_name"));
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("row").iter().map(str::to_string).collect())
        .collect();
    let values: BTreeSet<&str> = rows.iter().map(|r| r[company].as_str()).collect();
    assert_eq!(values, BTreeSet::from(["false", "true"]));
    // Elsewhere Odoo's false is an empty cell; some contacts have no company, phone or parent.
    let contacts: Vec<StoredRecord> = stored(&store, Module::contacts())
        .await
        .into_iter()
        .filter(|r| r.deleted_at.is_none())
        .collect();
    assert_eq!(rows.len(), contacts.len());
    let column = |name: &str| header.iter().position(|h| h == name).expect("column");
    let mut empties = 0;
    for (row, record) in rows.iter().zip(&contacts) {
        assert_eq!(row[0], record.odoo_id.to_string());
        for field in ["company_id", "phone", "parent_id"] {
            if record.document["raw"][field] == json!(false) {
                assert_eq!(row[column(field)], "", "{field} of {}", row[0]);
                empties += 1;
            }
        }
        for (name, cell) in header.iter().zip(row) {
            if name != "active" && name != "is_company" {
                assert_ne!(cell, "false", "{name} of {}", row[0]);
            }
        }
    }
    assert!(empties > 0, "no contact with an empty value to check");

    // What cannot be exported says why.
    let run = export(&path, &["--module", "products", "--format", "csv"]).await;
    assert!(!run.ok);
    assert!(
        run.err
            .contains("module products is not synced for tenant t1"),
        "{}",
        run.err
    );
    let run = export(&path, &["--module", "nope", "--format", "csv"]).await;
    assert!(!run.ok);
    assert!(run.err.contains("unknown module"), "{}", run.err);
    let store_arg = format!("sqlite://{}", path.display());
    let run = odoo_sync(
        &[
            "export", "--store", &store_arg, "--tenant", "nobody", "--module", "sales", "--format",
            "jsonl",
        ],
        None,
    )
    .await;
    assert!(!run.ok);
    assert!(
        run.err.contains("tenant nobody is not in this store"),
        "{}",
        run.err
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_takes_a_protocol_and_an_api_key_without_login() {
    let (_db, server) = simulator_of(19, 150).await;
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant = TenantId::parse("t1").expect("id");

    // XML-RPC asked for on a server that would have chosen JSON-2.
    let path = dir.path().join("xmlrpc.sqlite3");
    let run = sync(&url, &path, true, &["--protocol", "xmlrpc"], api_key()).await;
    assert!(run.ok, "{}\n{}", run.out, run.err);
    assert!(
        run.err
            .lines()
            .any(|l| l == "Protocol: xmlrpc (Odoo 19.0; asked for, not detected)"),
        "{}",
        run.err
    );
    let state = open(&path)
        .await
        .tenant(&tenant)
        .await
        .expect("state")
        .expect("tenant");
    assert_eq!(state.protocol.as_deref(), Some("xmlrpc"));
    assert_eq!(state.sync_status, SyncStatus::Done);

    // JSON-2 takes no password: refused before any call.
    let path = dir.path().join("json2.sqlite3");
    let run = sync(&url, &path, true, &["--protocol", "json2"], password()).await;
    assert!(!run.ok);
    assert!(
        run.err.contains("--protocol json2 needs an API key"),
        "{}",
        run.err
    );

    // An API key and no login: JSON-2 names the user.
    let path = dir.path().join("nologin.sqlite3");
    let run = sync(&url, &path, false, &[], api_key()).await;
    assert!(run.ok, "{}\n{}", run.out, run.err);
    assert!(
        run.err
            .lines()
            .any(|l| l == "Protocol: json2 (Odoo 19.0 with an API key)"),
        "{}",
        run.err
    );
    let state = open(&path)
        .await
        .tenant(&tenant)
        .await
        .expect("state")
        .expect("tenant");
    assert_eq!(state.sync_status, SyncStatus::Done);
    assert_eq!(state.protocol.as_deref(), Some("json2"));

    // XML-RPC and JSON-RPC log in with a login.
    let run = sync(&url, &path, false, &["--protocol", "jsonrpc"], api_key()).await;
    assert!(!run.ok);
    assert!(
        run.err.contains("--login is needed for --protocol jsonrpc"),
        "{}",
        run.err
    );
    let run = sync(&url, &path, false, &[], password()).await;
    assert!(!run.ok);
    assert!(
        run.err.contains("--login is needed with a password"),
        "{}",
        run.err
    );
    server.shutdown().await.expect("shutdown");

    // Odoo 17 has no JSON-2, so an API key alone is not enough there; JSON-RPC asked for works.
    let (_db, server) = simulator_of(17, 150).await;
    let url = server.url();
    let path = dir.path().join("17.sqlite3");
    let run = sync(&url, &path, false, &[], api_key()).await;
    assert!(!run.ok);
    assert!(run.err.contains("--login is needed"), "{}", run.err);
    assert!(run.err.contains("does not offer JSON-2"), "{}", run.err);
    let run = sync(&url, &path, true, &["--protocol", "jsonrpc"], password()).await;
    assert!(run.ok, "{}\n{}", run.out, run.err);
    assert!(
        run.err
            .lines()
            .any(|l| l == "Protocol: jsonrpc (Odoo 17.0; asked for, not detected)"),
        "{}",
        run.err
    );
    let state = open(&path)
        .await
        .tenant(&tenant)
        .await
        .expect("state")
        .expect("tenant");
    assert_eq!(state.protocol.as_deref(), Some("jsonrpc"));
    server.shutdown().await.expect("shutdown");
}

/// A database without the HR app: the employees module's model is reported missing and its
/// app not installed, and the report still succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_reports_a_module_whose_app_is_missing() {
    let sim = Simulator::new();
    let mut spec = DatabaseSpec::new("acme", 17);
    let mut admin = UserSpec::admin().with_api_key(API_KEY);
    admin.password = PASSWORD.into();
    spec.users = vec![admin];
    spec.apps = vec![sim::App::Contacts, sim::App::Sale, sim::App::Account];
    spec.data.records = 50;
    sim.add_database(spec).expect("database");
    let server = sim.serve("127.0.0.1:0").await.expect("serve");
    let run = inspect(&server.url(), true, &["--json"], password()).await;
    assert!(run.ok, "{}", run.err);
    let report = run.json();
    let employees = report["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .find(|m| m["module"] == "employees")
        .expect("employees listed");
    assert_eq!(employees["appInstalled"], false, "{employees}");
    assert_eq!(employees["access"], "missing", "{employees}");
    server.shutdown().await.expect("shutdown");
}
