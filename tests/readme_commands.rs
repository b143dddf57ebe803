//! Every shell block of README.md is run by a test or a script of this repository. The table
//! below names, for each ```sh block (by the start of its first line), what runs it; a block
//! added without an entry, or an entry whose block is gone, fails
//! `every_readme_shell_block_is_run_by_a_test_or_a_script` with the block's line.
//!
//! This file also runs the small blocks: the demo line, the `--help` lines, and the `sync`
//! synopsis (its placeholders filled in: every flag it lists exists, every `--protocol` and
//! `--store` choice it shows syncs the simulator). The other blocks run in their own files:
//! tests/readme_try_it.rs, readme_inspect_export.rs, readme_modules.rs, readme_queue.rs; the
//! slow ones (cargo install, Docker) in scripts/readme-slow-commands.sh and
//! scripts/compose-check.sh, which read the blocks out of README.md when they run.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{as_built, blocks_after, free_port, sh_blocks, wait_for_port, Group, BIN, LIMIT};

/// What runs a README block: a file of the repository, and the text in it that shows it does
/// (a test's function name; for a script, the start of the block's first line, by which it
/// finds the block in README.md).
struct RunBy {
    file: &'static str,
    shows: &'static str,
}

const fn by(file: &'static str, shows: &'static str) -> RunBy {
    RunBy { file, shows }
}

const SLOW: &str = "scripts/readme-slow-commands.sh";
const COMPOSE_CHECK: &str = "scripts/compose-check.sh";

/// Each README ```sh block, by the start of its first line, and what runs it.
const COVERAGE: &[(&str, &[RunBy])] = &[
    (
        "cargo run --release -- demo",
        &[
            // The demo line with this build's binary; as printed (cargo) in the slow script.
            by("tests/readme_commands.rs", "fn the_readme_demo_line_runs"),
            by(SLOW, "cargo run --release -- demo"),
            // `./scripts/test.sh` is CI's command.
            by(".ci/run", "./scripts/test.sh"),
        ],
    ),
    (
        "cargo run --release -- --help",
        &[by(
            "tests/readme_commands.rs",
            "fn the_readme_help_lines_print_what_the_readme_says",
        )],
    ),
    (
        "odoo-sync sync --url https://acme.odoo.com",
        &[by(
            "tests/readme_commands.rs",
            "fn the_sync_synopsis_flags_exist_and_its_choices_sync",
        )],
    ),
    (
        "cargo run --release -- sim --custom-field",
        &[by(
            "tests/readme_modules.rs",
            "fn the_readme_modules_example_mirrors_the_declared_module_with_its_custom_field",
        )],
    ),
    (
        "cat > /tmp/modules.toml",
        &[by(
            "tests/readme_modules.rs",
            "fn the_readme_modules_example_mirrors_the_declared_module_with_its_custom_field",
        )],
    ),
    (
        "cargo install --path . --locked",
        &[by(SLOW, "cargo install --path . --locked")],
    ),
    (
        "export JWT_SECRET=$(head -c 32 /dev/urandom | base64)",
        &[by(
            "tests/readme_try_it.rs",
            "fn the_readme_try_it_block_brings_a_tenant_to_done",
        )],
    ),
    (
        "cargo run --release -- sim --db name=acme",
        &[by(
            "tests/readme_inspect_export.rs",
            "fn the_readme_inspect_and_export_commands_work_as_written",
        )],
    ),
    (
        "export API_CALL_DELAY_MS=0 ODOO_API_KEY=k1",
        &[by(
            "tests/readme_inspect_export.rs",
            "fn the_readme_inspect_and_export_commands_work_as_written",
        )],
    ),
    (
        "export JWT_SECRET=\"$(openssl rand -hex 32)\"",
        &[by(
            COMPOSE_CHECK,
            "export JWT_SECRET=\"$(openssl rand -hex 32)\"",
        )],
    ),
    (
        "docker run -d --restart unless-stopped",
        &[by(COMPOSE_CHECK, "docker run -d --restart unless-stopped")],
    ),
    (
        "redis-cli ZCARD odoo-sync:jobs:scheduled",
        &[by(
            "tests/readme_queue.rs",
            "fn the_readme_queue_blocks_inspect_and_empty_a_real_queue",
        )],
    ),
    (
        "docker compose stop scheduler worker",
        &[
            // Against a real redis-server, `docker` only recorded ...
            by(
                "tests/readme_queue.rs",
                "fn the_readme_queue_blocks_inspect_and_empty_a_real_queue",
            ),
            // ... and against the real compose project.
            by(COMPOSE_CHECK, "docker compose stop scheduler worker"),
        ],
    ),
];

#[test]
fn every_readme_shell_block_is_run_by_a_test_or_a_script() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let blocks = sh_blocks();
    let mut problems = Vec::new();
    for block in &blocks {
        let entries: Vec<_> = COVERAGE
            .iter()
            .filter(|(start, _)| block.first_line().starts_with(start))
            .collect();
        match entries.len() {
            1 => {}
            0 => problems.push(format!(
                "README.md line {}: the block starting `{}` is run by no test or script; run it \
                 in one and name it in COVERAGE (tests/readme_commands.rs)",
                block.line,
                block.first_line()
            )),
            _ => problems.push(format!(
                "README.md line {}: the block starting `{}` matches {} COVERAGE entries",
                block.line,
                block.first_line(),
                entries.len()
            )),
        }
    }
    for (start, runners) in COVERAGE {
        if !blocks.iter().any(|b| b.first_line().starts_with(start)) {
            problems.push(format!(
                "COVERAGE names a block starting `{start}` that README.md no longer has"
            ));
        }
        for runner in *runners {
            match std::fs::read_to_string(root.join(runner.file)) {
                Ok(text) if text.contains(runner.shows) => {}
                Ok(_) => problems.push(format!(
                    "{} is said to run the block `{start}` but does not contain `{}`",
                    runner.file, runner.shows
                )),
                Err(e) => problems.push(format!("{}: {e}", runner.file)),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The block's lines with their `# ...` comments, as (command, comment).
fn commented_lines(block: &str) -> Vec<(&str, &str)> {
    block
        .lines()
        .map(|l| match l.split_once(" #") {
            Some((command, comment)) => (command.trim(), comment.trim()),
            None => (l.trim(), ""),
        })
        .collect()
}

fn run_binary(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("odoo-sync")
}

#[test]
fn the_readme_demo_line_runs() {
    let block = sh_blocks()[0].text;
    let demo = commented_lines(block)
        .into_iter()
        .find(|(command, _)| command.contains(" demo"))
        .map(|(command, _)| as_built(command))
        .expect("the README's first block runs the demo");
    let dir = tempfile::tempdir().expect("dir");
    let out = Group::spawn(&demo, dir.path(), &[], true).finish(String::new);
    assert!(
        out.status.success(),
        "{demo} failed ({}):\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    let all = format!("{}{}", out.stdout, out.stderr);
    for says in ["Initial sync done", "Incremental pass", "0 failed for good"] {
        assert!(
            all.contains(says),
            "the demo no longer says {says:?}:\n{all}"
        );
    }
}

#[test]
fn the_readme_help_lines_print_what_the_readme_says() {
    let block = blocks_after("## Commands", 1)[0];
    let lines = commented_lines(block);
    assert_eq!(lines.len(), 3, "the block's three help lines:\n{block}");
    for (command, comment) in lines {
        let args: Vec<&str> = command
            .strip_prefix("cargo run --release -- ")
            .unwrap_or_else(|| panic!("{command}: not a `cargo run --release --` line"))
            .split_whitespace()
            .collect();
        let out = run_binary(&args);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command} failed: {out:?}");
        // What each line shows: the commands the README documents; the demo's dataset as the
        // README's description of it says; the simulator's databases, versions and faults
        // (the line's comment), on the port the README gives.
        let shows: &[&str] = match args.as_slice() {
            ["--help"] => &[
                "demo",
                "sim",
                "api",
                "worker",
                "scheduler",
                "standalone",
                "sync",
                "inspect",
                "export",
                "admin",
            ],
            ["demo", "--help"] => &[
                "--records <RECORDS>",
                "[default: 20000]",
                "[default: 90]",
                "--odoo-version",
                "[default: 19]",
            ],
            ["sim", "--help"] => {
                assert_eq!(
                    comment,
                    "the Odoo simulator on its own: databases, versions, faults"
                );
                &[
                    "--db <SPEC>",
                    "version=12..19",
                    "--fault <SPEC>",
                    "127.0.0.1:18069",
                ]
            }
            other => panic!("a help line this test does not know: {other:?}"),
        };
        for needle in shows {
            assert!(
                help.contains(needle),
                "`{command}` does not show {needle:?}:\n{help}"
            );
        }
    }
}

/// The synopsis's `[...]` groups: `--flag VALUE`, or `--flag A|B|C`, or `--flag A | B`.
fn optional_groups(synopsis: &str) -> Vec<&str> {
    synopsis
        .split('[')
        .skip(1)
        .filter_map(|part| part.split_once(']').map(|(group, _)| group.trim()))
        .collect()
}

/// The `--flag` words of a text.
fn flags(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || c == '[' || c == ']')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_synopsis_flags_exist_and_its_choices_sync() {
    let synopsis =
        blocks_after("Sync one real Odoo tenant in the foreground", 1)[0].replace("\\\n", " ");
    let help = String::from_utf8_lossy(&run_binary(&["sync", "--help"]).stdout).into_owned();
    for flag in flags(&synopsis) {
        assert!(
            help.contains(&format!("      {flag} ")) || help.contains(&format!("      {flag}\n")),
            "the synopsis's {flag} is not an option of `odoo-sync sync`:\n{help}"
        );
    }

    // The required part as printed, against a simulated Odoo 19 with that database, login
    // and key; only the URL is the simulator's.
    let required = synopsis
        .split('[')
        .next()
        .expect("the synopsis")
        .trim()
        .to_string();
    assert!(
        required.starts_with("odoo-sync sync --url https://acme.odoo.com --db acme"),
        "{required}"
    );
    let port = free_port();
    let sim_url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("dir");
    let _sim = Group::spawn(
        &format!(
            "exec '{BIN}' sim --listen 127.0.0.1:{port} \
             --db name=acme,version=19,login=me@acme.com,api-key=the-key,records=300,days=30"
        ),
        dir.path(),
        &[],
        false,
    );
    wait_for_port(port, "the simulator");
    let required = required
        .replace("odoo-sync ", &format!("'{BIN}' "))
        .replace("https://acme.odoo.com", &sim_url);
    let mongo = testkit::MongoServer::start().await.expect("mongod");
    let env = [
        ("KEY", "the-key".to_string()),
        ("API_CALL_DELAY_MS", "0".to_string()),
    ];
    let sync = |options: &str| {
        let script = format!("{required} {options}");
        let out = Group::spawn(&script, dir.path(), &env, true).finish(String::new);
        assert!(
            out.status.success(),
            "`{script}` failed ({}):\n{}\n{}",
            out.status,
            out.stdout,
            out.stderr
        );
        out.stderr
    };

    let groups = optional_groups(&synopsis);
    let value_of = |flag: &str| -> String {
        let group = groups
            .iter()
            .find(|g| g.starts_with(flag))
            .unwrap_or_else(|| panic!("the synopsis has no [{flag} ...]"));
        group[flag.len()..].trim().to_string()
    };
    std::fs::write(
        dir.path().join(value_of("--config")),
        "limit_per_call = 100\n",
    )
    .expect("settings file");
    let modules = value_of("--modules");

    // Every protocol, into the SQLite store, each as a tenant of its own.
    let choices = |flag: &str| -> Vec<String> {
        value_of(flag)
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let protocols = choices("--protocol");
    assert_eq!(protocols, ["auto", "json2", "xmlrpc", "jsonrpc"]);
    let stores = choices("--store");
    assert_eq!(stores.len(), 2, "{stores:?}");
    let sqlite = &stores[0];
    assert!(sqlite.starts_with("sqlite://"), "{sqlite}");
    for protocol in &protocols {
        let said = sync(&format!(
            "--tenant t-{protocol} --modules {modules} --protocol {protocol} --store {sqlite}"
        ));
        assert!(said.contains("Protocol: "), "{said}");
    }
    // The MongoDB choice (testkit's mongod for host/db), with the settings file; then a
    // later run with both checks.
    let mongodb = &stores[1];
    assert!(mongodb.starts_with("mongodb://"), "{mongodb}");
    let store = format!("--store '{}'", mongo.uri());
    let config = format!("--config {}", value_of("--config"));
    sync(&format!("--tenant acme {config} {store}"));
    let said = sync(&format!(
        "--tenant acme {config} {store} --reconcile --verify"
    ));
    assert!(said.contains("Incremental pass"), "{said}");

    // `--follow` keeps going until Ctrl-C, then ends as a reader expects: exit 0.
    let following = Group::spawn(
        &format!("exec {required} --tenant acme {config} {store} --follow"),
        dir.path(),
        &env,
        true,
    );
    let deadline = Instant::now() + LIMIT;
    while !following.stderr_so_far().contains("Ctrl-C to stop") {
        assert!(
            Instant::now() < deadline,
            "--follow never said it follows:\n{}",
            following.stderr_so_far()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    following.interrupt();
    let out = following.finish(String::new);
    assert!(
        out.status.success(),
        "--follow ended with {} on Ctrl-C:\n{}",
        out.status,
        out.stderr
    );
}
