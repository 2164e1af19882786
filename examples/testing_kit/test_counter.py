"""Testing the counter with pyconsensus.testing - run with ``pytest examples/testing_kit``.

The fixtures come from the plugin that installing pyconsensus registers.
"""

from __future__ import annotations

import pytest
from counter import Counter, CounterWorkload
from hypothesis import given, settings

from pyconsensus.sim.faults import Scheduled
from pyconsensus.testing import Scenario, SimCluster, check_determinism, expect_ok
from pyconsensus.testing.plugin import ConsensusSim
from pyconsensus.testing.strategies import command_sequences, fault_schedules, scenarios


def test_a_write_survives_the_leader_crashing() -> None:
    cluster = SimCluster(Counter, protocol="raft", seed=1)
    client = cluster.client()
    assert client.call(b"+5") == b"5"
    cluster.crash(cluster.wait_for_leader())
    assert client.call(b"+1") == b"6"
    assert client.read(b"?") == b"6"


@pytest.mark.consensus(seeds=range(3), nemeses=[("all",)])
def test_the_counter_is_linearizable_under_every_fault(
    consensus_sim: ConsensusSim, consensus_scenario: Scenario
) -> None:
    result = consensus_sim.expect_ok(CounterWorkload, consensus_scenario)
    assert result.stats.ops_ok > 0


@settings(max_examples=10, deadline=None)
@given(commands=command_sequences(CounterWorkload()))
def test_the_counter_is_deterministic(commands: list[bytes]) -> None:
    check_determinism(Counter, commands)


@settings(max_examples=5, deadline=None)
@given(scenario=scenarios(protocols=["raft"]), schedule=fault_schedules())
def test_the_counter_survives_any_fault_schedule(
    scenario: Scenario, schedule: tuple[Scheduled, ...]
) -> None:
    expect_ok(CounterWorkload, scenario, schedule)
