"""Committed entries per second of a pure core in the simulator (no I/O, no faults).

    python benchmarks/core_throughput.py [--protocol raft] [--repeats 5]

Same as ``pyconsensus bench core``; results are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import sys

from pyconsensus.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "core", *sys.argv[1:]]))
