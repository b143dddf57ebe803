#!/usr/bin/env bash
# Seeds fuzz/corpus/xmlrpc_decode from the real Odoo fixtures (requests and responses) plus the
# benchmark document. The corpus directory is gitignored; run this once before fuzzing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fixtures="${FIXTURES_DIR:-$here/../fixtures/odoo-19.0}"
if [ ! -d "$fixtures" ]; then
    echo "fixtures not found at $fixtures (set FIXTURES_DIR)" >&2
    exit 1
fi
corpus="$here/corpus/xmlrpc_decode"
mkdir -p "$corpus"
cp "$fixtures"/xmlrpc_*.request "$fixtures"/xmlrpc_*.response "$corpus"/
cp "$here/../shared/benches/data/partner_search_read_200.xml" "$corpus"/
echo "seeded $(ls "$corpus" | wc -l) files into $corpus"
