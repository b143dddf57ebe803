#!/usr/bin/env bash
# Prints the README.md shell block (```sh) whose first line starts with the given text, so that
# scripts run the README's commands as printed (scripts/compose-check.sh,
# scripts/readme-slow-commands.sh; tests/readme_commands.rs lists what runs each block).
# Exits 1 when no block starts so.
#   scripts/readme-block.sh 'cargo install --path . --locked'
set -euo pipefail
[ $# -eq 1 ] || {
    echo "usage: $0 FIRST-LINE-START" >&2
    exit 2
}
README="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/README.md"
awk -v start="$1" '
    inblock && /^```/ { if (found) exit; inblock = 0; next }
    !inblock && $0 == "```sh" { inblock = 1; first = 1; next }
    inblock && first { first = 0; found = (index($0, start) == 1) }
    inblock && found { print }
    END { exit !found }
' "$README" || {
    echo "$0: README.md has no shell block starting with: $1" >&2
    exit 1
}
