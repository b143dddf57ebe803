#!/usr/bin/env bash
# Runs, as printed, the README commands too slow for the test suite that need no Docker
# (scripts/compose-check.sh runs the Docker ones; tests/readme_commands.rs lists what runs each
# README block):
#   - the demo line of the README's first block, `cargo run --release -- demo`;
#   - the block that puts odoo-sync on PATH: `cargo install --path . --locked` into a
#     temporary CARGO_INSTALL_ROOT (not ~/.cargo/bin), then the installed binary's --version;
#     and the block's `# or:` alternative (`cargo build --release && export PATH=...`).
# Everything builds in this repository's target/ (CARGO_TARGET_DIR is set to it), so with a
# release build there the whole script takes the demo's seconds; from nothing, the release
# build's ~20 minutes on 2 cores. Not part of .ci/run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf 'readme-slow-commands: %s\n' "$*" >&2; }
die() {
    printf 'readme-slow-commands: FAILED: %s\n' "$*" >&2
    exit 1
}

export CARGO_TARGET_DIR="$ROOT/target"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export CARGO_INSTALL_ROOT="$WORK/install"

# Runs a README line or block with bash as a reader's terminal would (stopping at a failure),
# its output in $WORK/$1.log; prints how long it took.
run() {
    local name="$1" script="$2" started
    started="$EPOCHREALTIME"
    log "running ($name):"
    printf '    %s\n' "$script" >&2
    bash -euo pipefail -c "$script" >"$WORK/$name.log" 2>&1 || {
        tail -n 30 "$WORK/$name.log" >&2
        die "$name failed"
    }
    log "$name: done in $(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
}

# --- the demo line -----------------------------------------------------------------------
demo="$(scripts/readme-block.sh 'cargo run --release -- demo' | grep -E '^cargo run --release -- demo')"
run demo "$demo"
grep -q 'Initial sync done' "$WORK/demo.log" || die "the demo did not say 'Initial sync done'"
grep -q '0 failed for good' "$WORK/demo.log" || die "the demo had batches failed for good"

# --- odoo-sync on PATH ---------------------------------------------------------------------
block="$(scripts/readme-block.sh 'cargo install --path . --locked')"
run install "$block"
installed="$CARGO_INSTALL_ROOT/bin/odoo-sync"
[ -x "$installed" ] || die "cargo install put no odoo-sync in $CARGO_INSTALL_ROOT/bin"
version="$(PATH="$CARGO_INSTALL_ROOT/bin:$PATH" odoo-sync --version)" || die "the installed odoo-sync --version failed"
log "installed: $installed: $version"

# The block's alternative, its `# or: ` taken off, then odoo-sync from that PATH.
alternative="$(printf '%s\n' "$block" | sed -n 's/^# or: //p')"
[ -n "$alternative" ] || die "the install block has no '# or:' line any more"
run alternative "$alternative && command -v odoo-sync && odoo-sync --version"
found="$(grep -E '/odoo-sync$' "$WORK/alternative.log" | tail -n1)"
[ "$found" = "$ROOT/target/release/odoo-sync" ] || die "after the alternative, odoo-sync is $found, not $ROOT/target/release/odoo-sync"
log "alternative: $found: $(tail -n1 "$WORK/alternative.log")"
log "PASSED"
