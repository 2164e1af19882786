"""Draws the example picture of docs/simulation.md::

    python -m tests.sim.picture_example docs/images/stale-read.svg

A Raft that serves reads without ReadIndex (``LeaselessReader``), the seed
that catches it, shrunk; the picture shows the last stretch before the
violation.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pyconsensus.sim import RunConfig, run_seed
from pyconsensus.sim.checkers.raft import make_spec
from pyconsensus.sim.diagram import render_svg
from pyconsensus.sim.shrink import shrink
from tests.sim.broken import LeaselessReader

CONFIG = RunConfig(workload="kv", check_linearizability=True, nemesis=("all",), clients=5, keys=2)
SEED = 4


def picture() -> str:
    spec = make_spec(node_class=LeaselessReader)
    failing = run_seed(spec, SEED, CONFIG)
    assert failing.violation is not None
    shrunk = shrink(spec, SEED, CONFIG, failing.schedule, failing.violation)
    result = run_seed(spec, SEED, shrunk.config, shrunk.schedule, trace=True)
    assert result.trace is not None and result.trace.violation is not None
    at = result.trace.violation.time_ms
    result.trace.title = "Raft serving reads without ReadIndex: a stale read (shrunk seed 4)"
    return render_svg(result.trace, start_ms=at - 1_300, end_ms=at + 60, px_per_ms=1.1)


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(picture())
