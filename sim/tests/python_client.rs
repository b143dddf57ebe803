//! Python's standard `xmlrpc.client` (what Python Odoo connectors use) against the simulator:
//! runs `python_client.py`, which authenticates and reads the four synced models with domains,
//! order, limit and active_test.

mod common;

use std::process::Command;

#[tokio::test]
async fn python_xmlrpc_client_reads_every_model() {
    let h = common::start(common::spec("pyclient", 17, 1000)).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python_client.py");
    let url = h.server.url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([script, &url, "pyclient", "admin", "admin"])
            .output()
    })
    .await
    .expect("join");
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            panic!("PYTHON3 MISSING: cannot run python3 ({e}); install python3 to run this test")
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("python xmlrpc.client: ok"), "{stdout}");
    assert!(h.db.stats().get("search_read") >= 5);
}
