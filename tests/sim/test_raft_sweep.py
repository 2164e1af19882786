"""Seeded fault-injection sweeps of Raft (the broken variants they catch are
the table of ``test_mutations``)."""

from __future__ import annotations

from collections.abc import Sequence
from random import Random

import attrs
import pytest

from pyconsensus.core.storage import Storage
from pyconsensus.core.types import NodeId
from pyconsensus.raft import RaftNode
from pyconsensus.sim import ProtocolSpec, RunConfig, run_seed, sweep
from pyconsensus.sim.checkers.raft import SPEC
from tests.sweeps import soak


@pytest.mark.parametrize("seeds", soak(range(200), fast=50))
def test_two_hundred_seeds_with_every_fault_kind_and_no_violation(seeds: range) -> None:
    result = sweep(SPEC, seeds, RunConfig())
    assert [str(f.violation) for f in result.failures] == []
    stats = result.stats
    # The faults really happened and the cluster really worked through them.
    assert stats.crashes > len(seeds)
    assert stats.lost_writes > 0
    assert stats.partitions > len(seeds)
    assert stats.dropped_loss > 0 and stats.duplicated > 0
    assert stats.leader_changes > len(seeds) // 2
    assert stats.proposals_acked > 100 * len(seeds)


def test_five_node_clusters_survive_faults_too() -> None:
    result = sweep(SPEC, range(30), RunConfig(nodes=5))
    assert [str(f.violation) for f in result.failures] == []


def test_a_seed_reproduces_its_run_exactly() -> None:
    first = run_seed(SPEC, 17)
    second = run_seed(SPEC, 17)
    assert first.stats == second.stats
    assert first.schedule == second.schedule
    assert first.end_ms == second.end_ms


class _Mute(RaftNode):
    """Never campaigns: the cluster never gets a leader."""

    def tick(self) -> None:
        pass


def test_a_cluster_that_never_elects_a_leader_fails_the_liveness_check() -> None:
    def factory(node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random) -> _Mute:
        return _Mute(node_id, members, storage, rng)

    spec = ProtocolSpec(name="mute", factory=factory, checkers=SPEC.checkers)
    result = run_seed(spec, 0, attrs.evolve(RunConfig(), liveness_timeout_ms=500))
    assert result.violation is not None
    assert result.violation.property == "Liveness"
