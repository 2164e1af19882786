"""Nemesis schedules: seeded, composable, serializable, and biting."""

from __future__ import annotations

from random import Random

import pytest

from pyconsensus.core.errors import ConfigError
from pyconsensus.sim import SimConfig, Simulation
from pyconsensus.sim.checkers.raft import SPEC
from pyconsensus.sim.faults import (
    Bridge,
    ClockJump,
    Crash,
    Heal,
    Partition,
    Restart,
    Scheduled,
    fault_from_json,
    fault_to_json,
    schedule_from_json,
    schedule_to_json,
)
from pyconsensus.sim.nemesis import FAMILIES, NEMESES, describe, expand, nemesis_schedule, parse

MEMBERS = [1, 2, 3, 4, 5]


def schedule(names: tuple[str, ...], seed: int = 1, **options: int) -> tuple[Scheduled, ...]:
    return nemesis_schedule(Random(seed), MEMBERS, 6_000, names, **options)


def test_families_expand_to_their_nemeses() -> None:
    assert parse("partitions,loss") == ("split", "bridge", "one-way", "isolate-leader", "storm")
    assert expand(["all"]) == tuple(NEMESES)
    assert expand(["none"]) == ()
    assert set(expand(FAMILIES)) == set(NEMESES)


def test_an_unknown_nemesis_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match="meteor"):
        parse("partitions,meteor")


def test_the_same_seed_gives_the_same_schedule() -> None:
    assert schedule(("all",), seed=3) == schedule(("all",), seed=3)
    assert schedule(("all",), seed=3) != schedule(("all",), seed=4)


@pytest.mark.parametrize("name", sorted(NEMESES))
def test_every_nemesis_draws_faults_and_everything_heals_at_the_end(name: str) -> None:
    items = schedule((name,))
    during = [item for item in items if item.at_ms < 6_000]
    assert during, f"{name} scheduled nothing"
    assert all(0 <= item.at_ms <= 6_000 for item in items)
    assert Heal() in [item.fault for item in items if item.at_ms == 6_000]
    assert [item.at_ms for item in items] == sorted(item.at_ms for item in items)


def test_crash_majority_takes_down_a_majority_at_once() -> None:
    items = schedule(("crash-majority",))
    first = items[0].at_ms
    crashed = [item.fault for item in items if item.at_ms == first]
    assert len(crashed) == 3 and all(isinstance(f, Crash) for f in crashed)
    for fault in crashed:
        assert isinstance(fault, Crash)
        assert any(item.fault == Restart(fault.node) for item in items)


def test_a_bridge_leaves_one_node_talking_to_both_halves() -> None:
    fault = next(item.fault for item in schedule(("bridge",)) if isinstance(item.fault, Bridge))
    assert isinstance(fault, Bridge)
    assert sorted([*fault.left, fault.bridge, *fault.right]) == MEMBERS
    sim = Simulation(SPEC, 0, SimConfig(nodes=5), schedule=[Scheduled(0, fault)])
    sim.run_until(0)
    blocked = sim.network.blocked
    assert all(not blocked(fault.bridge, m) and not blocked(m, fault.bridge) for m in MEMBERS)
    assert all(blocked(a, b) and blocked(b, a) for a in fault.left for b in fault.right)


def test_no_fault_starts_during_a_healing_period() -> None:
    items = schedule(("partitions", "crashes"), heal_every_ms=1_000, heal_for_ms=300)
    for item in items:
        position = item.at_ms % 1_000
        if position > 700 and item.at_ms < 6_000:
            assert isinstance(item.fault, (Heal, Restart)) or "calm" in describe(item.fault)
    heal_times = {item.at_ms for item in items if isinstance(item.fault, Heal)}
    assert {700, 1_700, 2_700}.issubset(heal_times)


def test_healing_periods_must_fit_their_period() -> None:
    with pytest.raises(ConfigError):
        schedule(("partitions",), heal_every_ms=500, heal_for_ms=500)


def test_schedules_survive_json() -> None:
    items = schedule(("all",), seed=9)
    assert schedule_from_json(schedule_to_json(items)) == items
    every_kind = {type(item.fault) for item in items}
    assert Partition in every_kind and ClockJump in every_kind


def test_a_fault_of_unknown_type_is_refused() -> None:
    with pytest.raises(ConfigError):
        fault_from_json({"type": "Meteor"})
    with pytest.raises(ConfigError):
        fault_from_json({"type": "Crash", "node": 1, "colour": "red"})
    assert fault_from_json(fault_to_json(Crash(2))) == Crash(2)


def test_a_clock_jump_makes_every_node_campaign_at_once() -> None:
    sim = Simulation(SPEC, 5)
    sim.run_until(1_000)
    leader = sim.leader()
    assert leader is not None
    sim.apply_fault(ClockJump(sim.members, 30))
    sim.run_for(1_000)
    assert sim.stats.clock_jumps == 1
    assert sim.stats.elections >= 2  # the old leader lost its place
    assert sim.leader() is not None
