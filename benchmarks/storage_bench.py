"""Durable write throughput of LmdbStorage against raw LMDB:
``python benchmarks/storage_bench.py [--batch 1 16 256] [--dir PATH] [--json]``.

The same as ``pyconsensus bench storage``; see pyconsensus/adapters/lmdb/bench.py
for what is measured and docs/benchmarks.md for recorded results. Run it on
the disk you care about (``--dir``): on tmpfs a "sync" costs nothing.
"""

from __future__ import annotations

import sys

from pyconsensus.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "storage", *sys.argv[1:]]))
