//! The README's "Inspecting an Odoo and exporting a mirror" commands, run as written by bash:
//! the simulator block in the background, then every `inspect`, `sync` and `export` line of
//! the next block. `cargo run --release --` becomes this build's `odoo-sync` (the test does
//! not build a second, release binary) and the simulator's port a free one; nothing else is
//! changed, so a README edit that breaks one of these commands breaks this test.

mod support;

use support::{as_built, blocks_after, free_port, wait_for_port, Group};

#[test]
fn the_readme_inspect_and_export_commands_work_as_written() {
    let blocks = blocks_after("## Inspecting an Odoo and exporting a mirror", 2);
    let (sim_block, commands) = (blocks[0], blocks[1]);
    for needed in ["inspect", "--models", "--fields", "sync", "export"] {
        assert!(
            commands.contains(needed),
            "the block no longer shows {needed}"
        );
    }
    let port = free_port();
    let on_port =
        |block: &str| as_built(block).replace("127.0.0.1:18069", &format!("127.0.0.1:{port}"));
    let sim_script =
        on_port(sim_block).replace(" sim ", &format!(" sim --listen 127.0.0.1:{port} "));
    assert!(sim_script.contains("--listen"), "{sim_script}");
    let dir = tempfile::tempdir().expect("dir");
    let _sim = Group::spawn(&format!("exec {sim_script}"), dir.path(), &[], false);
    // The commands block assumes the simulator is up, as a reader's second terminal would.
    wait_for_port(port, "the simulator");
    // `set -e` as a reader's terminal would stop at a failing line; no pipefail, because
    // `export ... | head -3` closes the pipe early on purpose.
    let run = Group::spawn(
        &format!("set -eu\n{}", on_port(commands)),
        dir.path(),
        &[],
        true,
    );
    let out = run.finish(String::new);
    assert!(
        out.status.success(),
        "the commands failed ({}):\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    assert!(
        out.stdout.contains("res.partner"),
        "--models lists res.partner:\n{}",
        out.stdout
    );
    let csv = std::fs::read_to_string(dir.path().join("export/sales.csv")).expect("sales.csv");
    assert!(
        csv.starts_with("odooId,writeDate,createDate,active,deletedAt"),
        "{}",
        csv.lines().next().unwrap_or_default()
    );
    assert!(csv.lines().count() > 100, "the sales export has its rows");
    let jsonl: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with('{') && l.contains("\"odooId\""))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(
        jsonl.len(),
        3,
        "head -3 of the contacts export:\n{}",
        out.stdout
    );
}
