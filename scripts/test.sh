#!/usr/bin/env bash
# The project's test command (the README's and CI's): installs the real servers the tests need
# (scripts/install-test-deps.sh; quick when already there), points the tests at them, then runs
# every test in the workspace with cargo-nextest and the doc tests with cargo test.
# Extra arguments go to `cargo nextest run` (e.g. `./scripts/test.sh -p testkit -E 'test(redis)'`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

"$ROOT/scripts/install-test-deps.sh"

# testkit reads these; absolute paths so tests work from any working directory.
export MONGOD_BIN="${MONGOD_BIN:-${TOOLS_DIR:-$ROOT/.tools}/mongodb/bin/mongod}"
REDIS_SERVER_BIN="${REDIS_SERVER_BIN:-$(command -v redis-server)}"
export REDIS_SERVER_BIN

# The whole workspace, unless packages were named (`-p X` / `--package X`): then only those, for
# the doc tests too, so `./scripts/test.sh -p testkit` does not build every crate.
scope=()
prev=""
for arg in "$@"; do
    case "$prev" in -p | --package) scope+=(-p "$arg") ;; esac
    case "$arg" in --package=*) scope+=(-p "${arg#--package=}") ;; esac
    prev="$arg"
done
workspace=()
if [ "${#scope[@]}" -eq 0 ]; then
    scope=(--workspace)
    workspace=(--workspace)
fi

# Run both suites even if the first fails, so one run reports everything; fail if either failed.
status=0
if cargo nextest --version >/dev/null 2>&1; then
    # CI=true selects the `ci` profile of .config/nextest.toml unless a profile was chosen.
    if [ "${CI:-}" = "true" ] && [ -z "${NEXTEST_PROFILE:-}" ]; then
        export NEXTEST_PROFILE=ci
    fi
    cargo nextest run "${workspace[@]}" --no-fail-fast "$@" || status=$?
else
    echo "test.sh: cargo-nextest not found; falling back to cargo test" >&2
    cargo test "${workspace[@]}" --no-fail-fast "$@" || status=$?
fi

# nextest does not run doc tests. The root package `odoo-sync` is a binary without a library,
# so it has none (`cargo test -p odoo-sync --doc` refuses it): left out of the doc-test scope.
doc_scope=()
skip_next=""
for arg in "${scope[@]}"; do
    if [ "$arg" = "-p" ]; then skip_next="yes"; continue; fi
    if [ -n "$skip_next" ]; then
        skip_next=""
        [ "$arg" = "odoo-sync" ] || doc_scope+=(-p "$arg")
        continue
    fi
    doc_scope+=("$arg")
done
if [ "${#doc_scope[@]}" -gt 0 ]; then
    cargo test "${doc_scope[@]}" --doc || status=$?
fi

if [ "$status" -ne 0 ]; then
    echo "test.sh: FAILED (exit $status)" >&2
fi
exit "$status"
