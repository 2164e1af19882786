"""CI sweeps: clients of a replicated key-value store under every nemesis, with
the history checked for linearizability - for Raft, ZAB and Multi-Paxos."""

from __future__ import annotations

import pytest

from pyconsensus.sim import ProtocolSpec, RunConfig, summarize, sweep
from pyconsensus.sim.checkers.paxos import SPEC as PAXOS
from pyconsensus.sim.checkers.raft import SPEC as RAFT
from pyconsensus.sim.checkers.zab import SPEC as ZAB
from tests.sweeps import soak

CONFIG = RunConfig(workload="kv", check_linearizability=True, nemesis=("all",))


@pytest.mark.parametrize("seeds", soak(range(300), fast=60))
@pytest.mark.parametrize("spec", [RAFT, ZAB, PAXOS], ids=["raft", "zab", "paxos"])
def test_three_hundred_seeds_of_every_nemesis_stay_linearizable(
    spec: ProtocolSpec, seeds: range
) -> None:
    result = sweep(spec, seeds, CONFIG)
    assert result.ok, summarize(result, spec.properties)
    assert result.histories_checked == len(seeds)
    assert result.checks_unknown == 0
    stats = result.stats
    # The faults bit: crashes, partitions, storms and contested elections happened...
    assert stats.crashes > len(seeds) and stats.partitions > len(seeds)
    assert stats.clock_jumps > len(seeds) // 2 and stats.network_storms > len(seeds) // 2
    assert stats.leader_changes > len(seeds)
    # ...and clients kept working through them, some left not knowing.
    assert stats.ops_ok > 150 * len(seeds)
    assert stats.ops_indeterminate > 0
    assert result.operations_checked > 150 * len(seeds)
    assert stats.longest_unavailable_ms > 500


def test_five_node_clusters_stay_linearizable() -> None:
    result = sweep(RAFT, range(25), RunConfig(workload="kv", check_linearizability=True, nodes=5))
    assert result.ok, summarize(result, RAFT.properties)
