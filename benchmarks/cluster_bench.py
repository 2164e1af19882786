"""Committed writes/s and p50/p99 latency of a 3-process loopback cluster:
``python benchmarks/cluster_bench.py [--clients 1 16 64] [--protocol raft] [--json]``.

The same as ``pyconsensus bench cluster``; see pyconsensus/adapters/trio/bench.py
for what is measured and docs/benchmarks.md for recorded results.
"""

from __future__ import annotations

import sys

from pyconsensus.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "cluster", *sys.argv[1:]]))
