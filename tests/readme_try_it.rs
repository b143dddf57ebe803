//! The README's "Trying it locally" block, run as written by bash with this build's
//! `odoo-sync` first on PATH: the simulator and `standalone` in the background, a tenant
//! token, save-connection, the status polled until `done`, the dashboard, both stopped. Only
//! the two ports are moved to free ones (the block's own defaults, 8080 and 18069, may be
//! taken on a CI machine), so a README edit that breaks the try-it path breaks this test.

mod support;

use std::path::Path;

use support::{blocks_after, free_port, path_with, Group, BIN};

#[test]
fn the_readme_try_it_block_brings_a_tenant_to_done() {
    let block = blocks_after("Then, with the simulator standing in", 1)[0];
    assert!(
        block.contains("odoo-sync standalone") && block.contains("/odoo/dashboard"),
        "the block no longer runs standalone to the dashboard:\n{block}"
    );
    let (api, sim) = (free_port(), free_port());
    let script = block
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{api}"))
        .replace("127.0.0.1:18069", &format!("127.0.0.1:{sim}"))
        .replace(
            "odoo-sync sim ",
            &format!("odoo-sync sim --listen 127.0.0.1:{sim} "),
        );
    let dir = tempfile::tempdir().expect("dir");
    let bin_dir = Path::new(BIN).parent().expect("bin dir");
    let env = [
        ("PATH", path_with(&[bin_dir])),
        ("BIND_ADDRESS", format!("127.0.0.1:{api}")),
    ];
    let run = Group::spawn(
        &format!("set -euo pipefail\n{script}"),
        dir.path(),
        &env,
        true,
    );
    let logs = || {
        ["sim.log", "standalone.log"]
            .map(|f| std::fs::read_to_string(dir.path().join(f)).unwrap_or_default())
            .join("\n----\n")
    };
    let out = run.finish(logs);
    assert!(
        out.status.success(),
        "the block failed ({}):\n{}\n{}\nlogs:\n{}",
        out.status,
        out.stdout,
        out.stderr,
        logs()
    );
    assert!(
        out.stdout.contains(r#""syncStatus":"done""#),
        "no done status in the output:\n{}",
        out.stdout
    );
    let dashboard = out
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("the dashboard's JSON");
    let dashboard: serde_json::Value = serde_json::from_str(dashboard).expect("JSON");
    let records = |module: &str| dashboard["modules"][module]["records"].as_u64();
    for module in ["sales", "invoices", "contacts", "employees"] {
        assert!(
            records(module).is_some_and(|n| n > 0),
            "{module} has no records on the dashboard: {dashboard}"
        );
    }
}
