"""Wall time of the linearizability checker on a 10,000-operation history.

    python benchmarks/linearizability_bench.py [--keys 8] [--clients 10] [--nemesis all]

A 3-node Raft cluster runs under faults with session clients of the key-value
store until the history holds 10,000 operations; then the checker is timed on
it. Same as ``pyconsensus bench lin``; results are in docs/benchmarks.md.
"""

from __future__ import annotations

import sys

from pyconsensus.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "lin", *sys.argv[1:]]))
