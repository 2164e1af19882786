"""Mutation tests for Raft and the replication layer, as a table: each
deliberately broken variant is caught within a bounded number of seeds, and the
correct code passes the very same seeds (``tests.sweeps.assert_caught``).

A checker that cannot fail proves nothing; the rows show which checker catches
which bug, and under which faults. The other protocols' tables are in their
``test_sweep`` modules; the pipelined-writes rows in ``test_pipelined_writes_sweeps``.
"""

from __future__ import annotations

import attrs
import pytest

from pyconsensus.raft import RaftConfig
from pyconsensus.sim import ProtocolSpec, RunConfig, sweep
from pyconsensus.sim.checkers.raft import SPEC, make_spec
from pyconsensus.sim.network import NetworkConfig
from pyconsensus.sim.sweep import WorkloadFactory
from tests.raft.broken import Figure8Raft
from tests.sim.broken import DoubleVoter, EagerLeader, ForgetfulKV, LeaselessReader
from tests.sweeps import assert_caught

KV = RunConfig(workload="kv", check_linearizability=True)
# No PreVote, and election timeouts (30-50 ms) close to message delays (5-30 ms).
CONTESTED = RaftConfig(pre_vote=False, election_ticks=3)
STALE_READS = attrs.evolve(KV, nemesis=("all",), clients=5, keys=2)


@attrs.frozen
class Row:
    broken: ProtocolSpec
    seeds: range
    config: RunConfig
    properties: frozenset[str]
    correct: ProtocolSpec = SPEC
    workload: WorkloadFactory | None = None


TABLE = {
    # A Raft that commits old-term entries by counting replicas (and appends no
    # election no-op): partitions alone expose it.
    "the-figure-8-leader-breaks-leader-completeness": Row(
        make_spec(node_class=Figure8Raft),
        range(50),
        RunConfig(faults=frozenset({"partitions"})),
        frozenset({"Commitment Safety", "Leader Completeness", "State Machine Safety"}),
    ),
    # Two leaders in one term need two candidates asking the same follower in the
    # same term: the clock-jump nemesis expires every timer at once.
    "a-follower-voting-twice-is-caught-once-elections-are-contested": Row(
        make_spec(node_class=DoubleVoter),
        range(10),
        attrs.evolve(KV, nemesis=("elections",)),
        frozenset({"Election Safety"}),
    ),
    "a-follower-voting-twice-is-caught-without-pre-vote-and-faults-too": Row(
        make_spec(CONTESTED, node_class=DoubleVoter),
        range(10),
        attrs.evolve(
            KV, faults=frozenset(), network=NetworkConfig(min_delay_ms=5, max_delay_ms=30)
        ),
        frozenset({"Election Safety", "Log Matching", "Leader Append-Only"}),
        correct=make_spec(CONTESTED),
    ),
    # The leader answers as soon as the entry is in its own log; when the entry is
    # then lost, the client was told a lie.
    "a-leader-acknowledging-before-a-quorum-breaks-acknowledged-writes": Row(
        make_spec(node_class=EagerLeader),
        range(20),
        RunConfig(),
        frozenset({"Acknowledged Writes"}),
    ),
    # ...and the replication layer finds the command it was told had committed
    # never reached the state machine.
    "a-leader-acknowledging-before-a-quorum-is-caught-under-a-kv-workload": Row(
        make_spec(node_class=EagerLeader),
        range(20),
        KV,
        frozenset({"Acknowledged Writes", "Linearizability"}),
    ),
    # Retried appends (same session sequence number) must take effect once;
    # without the session table, a read shows the suffix twice.
    "a-replication-layer-without-sessions-applies-retries-twice": Row(
        SPEC, range(30), KV, frozenset({"Linearizability"}), workload=ForgetfulKV
    ),
}


@pytest.mark.parametrize("row", TABLE.values(), ids=TABLE.keys())
def test_the_sweep_catches_a_broken_variant_that_the_correct_code_survives(row: Row) -> None:
    assert_caught(
        row.broken, row.correct, row.seeds, row.config, row.properties, workload=row.workload
    )


def test_reads_without_read_index_are_caught_only_by_the_linearizability_check() -> None:
    """A leader answers reads from its commit index without confirming it still
    leads. No invariant of the protocol notices; the history does."""
    spec = make_spec(node_class=LeaselessReader)
    seeds = assert_caught(spec, SPEC, range(30), STALE_READS, {"Linearizability"})
    assert sweep(spec, seeds, attrs.evolve(STALE_READS, check_linearizability=False)).ok
