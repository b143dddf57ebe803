//! The README's "Inspecting an Odoo and exporting a mirror" commands, run as written by bash:
//! the simulator block in the background, then every `inspect`, `sync` and `export` line of
//! the next block. `cargo run --release --` becomes this build's `odoo-sync` (the test does
//! not build a second, release binary) and the simulator's port a free one; nothing else is
//! changed, so a README edit that breaks one of these commands breaks this test.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_odoo-sync");
const README: &str = include_str!("../README.md");
/// The whole block on a loaded 2-core machine (seconds when idle).
const LIMIT: Duration = Duration::from_secs(300);

/// The two shell blocks after the section's heading: the simulator, then the commands.
fn blocks() -> (&'static str, &'static str) {
    let section = README
        .find("## Inspecting an Odoo and exporting a mirror")
        .expect("the README's inspect/export section");
    let block_after = |from: usize| -> (usize, &'static str) {
        let start = README[from..]
            .find("```sh\n")
            .map(|at| from + at + "```sh\n".len())
            .expect("a shell block");
        let end = README[start..]
            .find("```\n")
            .map(|at| start + at)
            .expect("the block's end");
        (end, &README[start..end])
    };
    let (end, sim) = block_after(section);
    let (_, commands) = block_after(end);
    (sim, commands)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A process group (bash and what it started), killed when the test ends.
struct Group(Child);

impl Group {
    fn spawn(script: &str, dir: &std::path::Path, piped: bool) -> Group {
        let output = || {
            if piped {
                Stdio::piped()
            } else {
                Stdio::null()
            }
        };
        let child = Command::new("bash")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .stdout(output())
            .stderr(output())
            .process_group(0)
            .spawn()
            .expect("bash");
        Group(child)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

#[test]
fn the_readme_inspect_and_export_commands_work_as_written() {
    let (sim_block, commands) = blocks();
    for needed in ["inspect", "--models", "--fields", "sync", "export"] {
        assert!(
            commands.contains(needed),
            "the block no longer shows {needed}"
        );
    }
    let port = free_port();
    let binary = format!("'{BIN}'");
    let as_built = |block: &str| {
        block
            .replace("cargo run --release --", &binary)
            .replace("127.0.0.1:18069", &format!("127.0.0.1:{port}"))
    };
    let sim_script = as_built(sim_block).replace(
        &format!("{binary} sim "),
        &format!("{binary} sim --listen 127.0.0.1:{port} "),
    );
    assert!(sim_script.contains("--listen"), "{sim_script}");
    let dir = tempfile::tempdir().expect("dir");
    let _sim = Group::spawn(&format!("exec {sim_script}"), dir.path(), false);
    // The simulator is up once its port answers; the commands block assumes it is.
    let deadline = Instant::now() + LIMIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the simulator never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    // `set -e` as a reader's terminal would stop at a failing line; no pipefail, because
    // `export ... | head -3` closes the pipe early on purpose.
    let mut run = Group::spawn(
        &format!("set -eu\n{}", as_built(commands)),
        dir.path(),
        true,
    );
    let status = loop {
        if let Some(status) = run.0.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the commands did not finish");
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut out = String::new();
    let mut err = String::new();
    use std::io::Read;
    if let Some(mut s) = run.0.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = run.0.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    assert!(
        status.success(),
        "the commands failed ({status}):\n{out}\n{err}"
    );
    assert!(
        out.contains("res.partner"),
        "--models lists res.partner:\n{out}"
    );
    let csv = std::fs::read_to_string(dir.path().join("export/sales.csv")).expect("sales.csv");
    assert!(
        csv.starts_with("odooId,writeDate,createDate,active,deletedAt"),
        "{}",
        csv.lines().next().unwrap_or_default()
    );
    assert!(csv.lines().count() > 100, "the sales export has its rows");
    let jsonl: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| l.starts_with('{') && l.contains("\"odooId\""))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(jsonl.len(), 3, "head -3 of the contacts export:\n{out}");
}
