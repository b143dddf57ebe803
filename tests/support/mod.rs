//! What the tests that run README.md's shell blocks share: the README's ```sh blocks, the
//! built binary in place of `cargo run --release --`, free ports, and bash scripts run in a
//! process group of their own that is killed when the test ends.

// Each readme_* test uses its own part of this module.
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::NamedTempFile;

/// The binary under test (this build's, not a second release build).
pub const BIN: &str = env!("CARGO_BIN_EXE_odoo-sync");
pub const README: &str = include_str!("../../README.md");
/// How long one README block may take on a loaded 2-core machine (seconds when idle); the
/// blocks' own loops wait for servers and syncs, so this only ends a block that never would.
pub const LIMIT: Duration = Duration::from_secs(300);

/// One fenced ```sh block of the README.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    /// The README line of the opening fence (1-based).
    pub line: usize,
    /// Where the block's text starts in the README (bytes).
    pub offset: usize,
    /// The block's text, without its fences.
    pub text: &'static str,
}

impl Block {
    /// The first line, which names the block in messages and in the coverage table.
    pub fn first_line(&self) -> &'static str {
        self.text.lines().next().unwrap_or_default()
    }
}

/// Every ```sh block of the README, in order.
pub fn sh_blocks() -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut offset = 0;
    while let Some(at) = README[offset..].find("```sh\n") {
        let start = offset + at + "```sh\n".len();
        let end = README[start..]
            .find("```\n")
            .map(|at| start + at)
            .unwrap_or_else(|| panic!("README: the ```sh block at byte {start} is never closed"));
        let line = README[..offset + at].matches('\n').count() + 1;
        blocks.push(Block {
            line,
            offset: start,
            text: &README[start..end],
        });
        offset = end + "```\n".len();
    }
    blocks
}

/// The `count` ```sh blocks that follow the first occurrence of `marker` (a heading or a
/// sentence of the README).
pub fn blocks_after(marker: &str, count: usize) -> Vec<&'static str> {
    let at = README
        .find(marker)
        .unwrap_or_else(|| panic!("README.md no longer says {marker:?}"));
    let blocks: Vec<&'static str> = sh_blocks()
        .into_iter()
        .filter(|b| b.offset > at)
        .take(count)
        .map(|b| b.text)
        .collect();
    assert_eq!(
        blocks.len(),
        count,
        "README.md has fewer than {count} shell blocks after {marker:?}"
    );
    blocks
}

/// `cargo run --release --` as this build's binary: the tests do not build a release binary.
pub fn as_built(block: &str) -> String {
    block.replace("cargo run --release --", &format!("'{BIN}'"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits (polling, up to [`LIMIT`]) until something listens on the loopback `port`.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + LIMIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} never listened on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What a finished script printed.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// A bash script in a process group of its own (bash and everything it started), killed
/// when this is dropped. Its output goes to files, not pipes, so a chatty script never
/// blocks on a full pipe.
pub struct Group {
    child: Child,
    output: Option<(NamedTempFile, NamedTempFile)>,
}

impl Group {
    /// Runs `script` with `bash -c` in `dir`; `env` is added to the environment (RUST_LOG is
    /// removed, so the binary logs as a reader's terminal would). Output is kept when `kept`,
    /// else thrown away.
    pub fn spawn(script: &str, dir: &Path, env: &[(&str, String)], kept: bool) -> Group {
        let output = kept.then(|| {
            (
                NamedTempFile::new().expect("stdout file"),
                NamedTempFile::new().expect("stderr file"),
            )
        });
        // A file of its own for the script (reopened: its own offset), read by path.
        let stdio = |file: Option<&NamedTempFile>| match file {
            Some(file) => Stdio::from(file.reopen().expect("reopen")),
            None => Stdio::null(),
        };
        let child = Command::new("bash")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdio(output.as_ref().map(|o| &o.0)))
            .stderr(stdio(output.as_ref().map(|o| &o.1)))
            .process_group(0)
            .spawn()
            .expect("bash");
        Group { child, output }
    }

    /// What the script has written to stderr so far (nothing when its output is not kept).
    pub fn stderr_so_far(&self) -> String {
        self.output
            .as_ref()
            .map(|(_, err)| std::fs::read_to_string(err.path()).expect("read stderr"))
            .unwrap_or_default()
    }

    /// Sends SIGINT (a reader's Ctrl-C) to the script's process group.
    pub fn interrupt(&self) {
        let sent = Command::new("kill")
            .args(["-INT", "--", &format!("-{}", self.child.id())])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -INT failed");
    }

    /// Waits (polling, up to [`LIMIT`]) for the script to end; `logs` says what to show if it
    /// never does.
    pub fn finish(mut self, logs: impl Fn() -> String) -> Output {
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the script did not finish in {LIMIT:?}; logs:\n{}",
                logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        let read =
            |file: &NamedTempFile| std::fs::read_to_string(file.path()).expect("read output");
        let (stdout, stderr) = match self.output.as_ref() {
            Some((out, err)) => (read(out), read(err)),
            None => (String::new(), String::new()),
        };
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// `PATH` with `dirs` first (the built binary's directory, a directory of wrapper scripts).
pub fn path_with(dirs: &[&Path]) -> String {
    let mut parts: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    parts.push(std::env::var("PATH").unwrap_or_default());
    parts.join(":")
}

/// Writes an executable shell script.
pub fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/usr/bin/env bash\n{body}")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
