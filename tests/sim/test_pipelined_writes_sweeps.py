"""Pipelined writes (Raft thesis section 10.2.1) under the simulator, for every
protocol that offers them: the simulator gives each write of a PipelinedNode a
random disk delay while the node goes on, early messages leave at once, and
``CrashMidWrite`` loses a write after its early messages left.

The scenarios behind these sweeps are driven by hand in
``tests/<protocol>/test_pipelined_writes.py``.
"""

from __future__ import annotations

import attrs
import pytest

from pyconsensus.paxos import PaxosConfig
from pyconsensus.raft import RaftConfig
from pyconsensus.sim import ProtocolSpec, RunConfig, summarize, sweep
from pyconsensus.sim.checkers import paxos, raft, zab
from pyconsensus.zab import ZabConfig
from tests.paxos.broken import UnsyncedSelfPaxos
from tests.raft.broken import UnsyncedSelfRaft
from tests.sweeps import assert_caught, soak
from tests.zab.broken import UnsyncedSelfZab

RAFT = RaftConfig(pipelined_writes=True)
ZAB = ZabConfig(pipelined_writes=True)
PAXOS = PaxosConfig(pipelined_writes=True)


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(raft.make_spec(RAFT), id="raft"),
        # The commit index left to the next append or heartbeat: the runtime's configuration.
        pytest.param(
            raft.make_spec(attrs.evolve(RAFT, broadcast_commit=False)),
            id="raft-commit-index-on-the-next-append",
        ),
        pytest.param(zab.make_spec(ZAB), id="zab"),
        pytest.param(paxos.make_spec(PAXOS), id="paxos"),
    ],
)
@pytest.mark.parametrize("seeds", soak(range(200), fast=50))
def test_two_hundred_seeds_with_pipelined_writes_and_every_fault_kind(
    spec: ProtocolSpec, seeds: range
) -> None:
    result = sweep(spec, seeds, RunConfig())
    assert [str(f.violation) for f in result.failures] == []
    stats = result.stats
    assert stats.lost_writes > 0 and stats.crashes > len(seeds)
    assert stats.proposals_acked > 100 * len(seeds)


@pytest.mark.parametrize(
    "spec",
    [pytest.param(zab.make_spec(ZAB), id="zab"), pytest.param(paxos.make_spec(PAXOS), id="paxos")],
)
@pytest.mark.parametrize("seeds", soak(range(100), fast=25))
def test_a_hundred_seeds_of_every_nemesis_stay_linearizable_with_pipelined_writes(
    spec: ProtocolSpec, seeds: range
) -> None:
    config = RunConfig(workload="kv", check_linearizability=True, nemesis=("all",))
    result = sweep(spec, seeds, config)
    assert result.ok, summarize(result, spec.properties)
    assert result.histories_checked == len(seeds) and result.checks_unknown == 0
    stats = result.stats
    assert stats.crashes > len(seeds) and stats.lost_writes > 0
    assert stats.ops_ok > 100 * len(seeds)
    assert result.operations_checked > 100 * len(seeds)


@pytest.mark.parametrize(
    ("broken", "correct", "properties"),
    [
        pytest.param(
            raft.make_spec(RAFT, node_class=UnsyncedSelfRaft),
            (raft.make_spec(RAFT), raft.SPEC),
            {"Commitment Safety", "State Machine Safety"},
            id="a-raft-leader-counting-its-unsynced-copy",
        ),
        pytest.param(
            zab.make_spec(ZAB, node_class=UnsyncedSelfZab),
            (zab.make_spec(ZAB), zab.SPEC),
            {"Durable Quorum"},
            id="a-zab-leader-counting-its-unsynced-copy",
        ),
        pytest.param(
            paxos.make_spec(PAXOS, node_class=UnsyncedSelfPaxos),
            (paxos.make_spec(PAXOS), paxos.SPEC),
            {"Learned Only Chosen", "Chosen Uniqueness", "State Machine Safety"},
            id="a-paxos-leader-counting-its-unsynced-acceptance",
        ),
    ],
)
def test_the_sweep_catches_a_commit_resting_on_an_unsynced_copy(
    broken: ProtocolSpec, correct: tuple[ProtocolSpec, ...], properties: set[str]
) -> None:
    """Caught within 20 seeds; the correct rule, pipelined or not, passes them."""
    assert_caught(broken, correct, range(20), RunConfig(), properties)
