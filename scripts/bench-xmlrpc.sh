#!/usr/bin/env bash
# XML-RPC decode benchmark, Rust against Python, on the same bytes in the same run:
# shared/benches/data/partner_search_read_200.xml (a 200-record res.partner search_read answer).
# Prints records/s for our decoder (decode only, and decode + conversion to JSON) and for
# Python's standard xmlrpc.client.loads, and the ratio.
#
# Usage: scripts/bench-xmlrpc.sh   (extra arguments go to criterion, e.g. --measurement-time 10)
set -euo pipefail
cd "$(dirname "$0")/.."

rust_out="$(cargo bench -q -p shared --bench xmlrpc_decode -- "$@" 2>&1)" || {
    echo "$rust_out" >&2
    exit 1
}
python_out="$(python3 scripts/bench-xmlrpc-python.py)"

rust_rate="$(sed -n 's/^rust decode_response: .* \([0-9]*\) records\/s$/\1/p' <<<"$rust_out")"
json_rate="$(sed -n 's/^rust decode_response + to_json: \([0-9]*\) records\/s$/\1/p' <<<"$rust_out")"
python_rate="$(sed -n 's/.* \([0-9]*\) records\/s$/\1/p' <<<"$python_out")"
if [ -z "$rust_rate" ] || [ -z "$json_rate" ] || [ -z "$python_rate" ]; then
    echo "could not read the figures:" >&2
    echo "$rust_out" >&2
    echo "$python_out" >&2
    exit 1
fi

echo "$python_out"
printf '%-48s %12s records/s\n' \
    "rust shared::odoo::xmlrpc::decode_response" "$rust_rate" \
    "rust decode_response + to_json" "$json_rate" \
    "python $(python3 -c 'import sys; print(sys.version.split()[0])') xmlrpc.client.loads" "$python_rate"
awk -v r="$rust_rate" -v j="$json_rate" -v p="$python_rate" \
    'BEGIN { printf "ratio: %.1fx (decode only), %.1fx (decode + to_json) Python'"'"'s rate\n", r / p, j / p }'
