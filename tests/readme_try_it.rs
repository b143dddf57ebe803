//! The README's "Trying it locally" block, run as written by bash with this build's
//! `odoo-sync` first on PATH: the simulator and `standalone` in the background, a tenant
//! token, save-connection, the status polled until `done`, the dashboard, both stopped. Only
//! the two ports are moved to free ones (the block's own defaults, 8080 and 18069, may be
//! taken on a CI machine), so a README edit that breaks the try-it path breaks this test.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_odoo-sync");
const README: &str = include_str!("../README.md");
/// The whole block on a loaded 2-core machine (seconds when idle); its own loops wait for
/// the servers and the sync, so this only ends a block that would never finish.
const LIMIT: Duration = Duration::from_secs(300);

/// The shell block after the README's "Then, with the simulator standing in" sentence.
fn try_it_block() -> &'static str {
    let intro = README
        .find("Then, with the simulator standing in")
        .expect("the README's try-it sentence");
    let start = README[intro..]
        .find("```sh\n")
        .map(|at| intro + at + "```sh\n".len())
        .expect("the try-it block");
    let end = README[start..]
        .find("```\n")
        .map(|at| start + at)
        .expect("the end of the try-it block");
    &README[start..end]
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Kills the block's process group (bash and what it started) when the test ends.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

#[test]
fn the_readme_try_it_block_brings_a_tenant_to_done() {
    let block = try_it_block();
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
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let child = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(dir.path())
        .env("PATH", path)
        .env("BIND_ADDRESS", format!("127.0.0.1:{api}"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("bash");
    let mut group = Group(child);
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = group.0.try_wait().expect("wait") {
            break status;
        }
        let logs = || {
            ["sim.log", "standalone.log"]
                .map(|f| std::fs::read_to_string(dir.path().join(f)).unwrap_or_default())
                .join("\n----\n")
        };
        assert!(
            Instant::now() < deadline,
            "the block did not finish in {LIMIT:?}; logs:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut out = String::new();
    let mut err = String::new();
    use std::io::Read;
    if let Some(mut s) = group.0.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = group.0.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    let standalone = std::fs::read_to_string(dir.path().join("standalone.log")).unwrap_or_default();
    assert!(
        status.success(),
        "the block failed ({status}):\n{out}\n{err}\nstandalone.log:\n{standalone}"
    );
    assert!(
        out.contains(r#""syncStatus":"done""#),
        "no done status in the output:\n{out}"
    );
    let dashboard = out
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
