#!/usr/bin/env python3
"""Baseline for the XML-RPC decode benchmark: Python's standard xmlrpc.client.

Decodes shared/benches/data/partner_search_read_200.xml (the same bytes the Rust benchmark
shared/benches/xmlrpc_decode.rs decodes) with `xmlrpc.client.loads`, which is what Python Odoo
connectors (odoorpc, erppeek, plain ServerProxy) use, and prints records per second.

Usage: scripts/bench-xmlrpc-python.py [--seconds N] [FILE]
"""
import argparse
import os
import sys
import time
import xmlrpc.client


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=os.path.join(
        root, "shared", "benches", "data", "partner_search_read_200.xml"))
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="measuring time after a one-second warm-up (default 5)")
    args = parser.parse_args()

    data = open(args.file, "rb").read()
    (records,), _ = xmlrpc.client.loads(data)
    n = len(records)

    # Warm up, then report the mean over the whole measuring time (as the Rust side does), not
    # the best batch.
    deadline = time.perf_counter() + 1.0
    while time.perf_counter() < deadline:
        xmlrpc.client.loads(data)
    iterations = 0
    start = time.perf_counter()
    end = start + args.seconds
    now = start
    while now < end:
        for _ in range(10):
            xmlrpc.client.loads(data)
        iterations += 10
        now = time.perf_counter()
    elapsed = now - start
    per_call = elapsed / iterations
    print("python xmlrpc.client.loads (%s %s): %d records, %d bytes, %.3f ms/decode, %.0f records/s"
          % (sys.implementation.name, sys.version.split()[0], n, len(data), per_call * 1e3,
             n / per_call))


if __name__ == "__main__":
    main()
