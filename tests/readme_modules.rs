//! The README's "Modules: what is mirrored" example, run as written by bash: the simulator
//! with a custom field in the background, then the settings file that declares a module, the
//! sync and the export. `cargo run --release --` becomes this build's `odoo-sync`, the
//! simulator's port a free one and `/tmp/` a directory of the test's own (two runs must not
//! share a store); nothing else is changed, so a README edit that breaks the example breaks
//! this test.

mod support;

use support::{as_built, blocks_after, free_port, wait_for_port, Group};

#[test]
fn the_readme_modules_example_mirrors_the_declared_module_with_its_custom_field() {
    let blocks = blocks_after("## Modules: what is mirrored", 2);
    let (sim_block, commands) = (blocks[0], blocks[1]);
    assert!(
        sim_block.contains("--custom-field sale.order:x_studio_region:char"),
        "the simulator block no longer adds the custom field:\n{sim_block}"
    );
    let port = free_port();
    let dir = tempfile::tempdir().expect("dir");
    let as_run = |block: &str| {
        as_built(block)
            .replace("127.0.0.1:18069", &format!("127.0.0.1:{port}"))
            .replace("/tmp/", &format!("{}/", dir.path().display()))
    };
    let sim_script =
        as_run(sim_block).replace(" sim ", &format!(" sim --listen 127.0.0.1:{port} "));
    let _sim = Group::spawn(&format!("exec {sim_script}"), dir.path(), &[], false);
    wait_for_port(port, "the simulator");
    // No pipefail: `export ... | head -2` closes the pipe early on purpose.
    let out = Group::spawn(
        &format!("set -eu\n{}", as_run(commands)),
        dir.path(),
        &[],
        true,
    )
    .finish(String::new);
    assert!(
        out.status.success(),
        "the commands failed ({}):\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    // The two records `head -2` shows, from the declared module's collection.
    let records: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(records.len(), 2, "head -2 of the export:\n{}", out.stdout);
    // The simulator adds the field to existing records as Odoo does (False until set): the
    // mirror has it in every record, beside the declared fields.
    for record in &records {
        let raw = &record["raw"];
        assert!(
            raw.get("x_studio_region").is_some(),
            "a record of orders_by_region without raw.x_studio_region: {record}"
        );
        assert!(raw["amount_total"].is_number(), "{record}");
        assert!(raw["name"].is_string(), "{record}");
    }
}
