"""CBOR codec throughput: ``python benchmarks/codec_bench.py [--entries 1 64 512] [--json]``.

The same as ``pyconsensus bench codec``; see pyconsensus/adapters/cbor/bench.py
for what is measured and docs/benchmarks.md for recorded results.
"""

from __future__ import annotations

import sys

from pyconsensus.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "codec", *sys.argv[1:]]))
