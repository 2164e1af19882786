"""A registrable protocol module for CLI tests: Raft serving reads without ReadIndex."""

from __future__ import annotations

import attrs

from pyconsensus.sim.checkers.raft import make_spec
from tests.sim.broken import LeaselessReader

SPEC = attrs.evolve(make_spec(node_class=LeaselessReader), name="leaseless-raft")
