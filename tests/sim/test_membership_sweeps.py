"""The membership nemesis and its checkers: the correct Raft passes seeded runs
with random membership changes and leadership transfers (linearizable client
histories included), and each deliberately broken membership rule is caught
(``tests.sweeps.assert_caught``; the variants are in ``tests.raft.broken``).

The seeds of the broken rows are the first that catch each variant (found by
sweeping from 0 with ``stop_on_failure``); starting there keeps the table to
seconds. Longer sweeps: ``pyconsensus sim --protocol raft --nemesis
all,membership --nodes 5 --option voters=1,2,3 --seeds 1000``.
"""

from __future__ import annotations

import attrs
import pytest

from pyconsensus.raft import RaftConfig, RaftNode
from pyconsensus.sim import RunConfig, sweep
from pyconsensus.sim.checkers.raft import make_spec
from pyconsensus.sim.nemesis import expand
from pyconsensus.sim.simulation import Simulation
from pyconsensus.sim.sweep import run_seed
from tests.raft.broken import EarlyChangeRaft, NoRollbackRaft, TwoAtOnceRaft
from tests.sweeps import assert_caught

SPARES = RaftConfig(voters="1,2,3")  # nodes 4 and 5 start as spares
CHANGES = RunConfig(nodes=5, nemesis=("membership", "partitions"))

TABLE = {
    # A replacement appended as one configuration: two voters change at once.
    "two-voters-changed-without-joint-consensus-break-the-change-rule": (
        TwoAtOnceRaft,
        range(2, 3),
        frozenset({"Change Rule"}),
    ),
    # A follower keeps the configuration of an entry a new leader truncated.
    "a-truncated-configuration-entry-not-rolled-back-is-caught": (
        NoRollbackRaft,
        range(6, 7),
        frozenset({"Configuration Follows Log"}),
    ),
    # A new leader changes the membership before its no-op committed (2015).
    "a-change-before-an-entry-of-the-leaders-term-committed-is-caught": (
        EarlyChangeRaft,
        range(12, 13),
        frozenset({"Change Rule"}),
    ),
}


@pytest.mark.parametrize("name", list(TABLE))
def test_broken_membership_rule_is_caught(name: str) -> None:
    node_class, seeds, properties = TABLE[name]
    assert_caught(
        make_spec(SPARES, node_class=node_class), make_spec(SPARES), seeds, CHANGES, properties
    )


def test_the_correct_raft_stays_linearizable_through_membership_changes() -> None:
    config = attrs.evolve(
        CHANGES, workload="kv", check_linearizability=True, nemesis=("all", "membership")
    )
    result = sweep(make_spec(SPARES), range(3), config)
    assert [str(f.violation) for f in result.failures] == []


def test_the_membership_nemesis_changes_the_membership() -> None:
    sims: list[Simulation] = []
    run_seed(make_spec(SPARES), 0, CHANGES, instrument=sims.append)
    nodes = [node for node in sims[0].nodes.values() if isinstance(node, RaftNode)]
    assert sum(node.counters["membership.changed"] for node in nodes) > 0


def test_all_does_not_include_the_membership_nemesis() -> None:
    assert "membership" not in expand(["all"])
    assert "membership" in expand(["all", "membership"])
