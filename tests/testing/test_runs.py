"""expect_ok: a seeded run of your workload as an assertion - passing for a
correct machine, failing for a broken one with a shrunk replay and a picture."""

from __future__ import annotations

import json

import pytest

from pyconsensus.rsm import StateMachine
from pyconsensus.sim.faults import Crash, Scheduled
from pyconsensus.testing import Scenario, SimulationFailed, expect_ok, replay
from tests.testing.machines import load_example

example = load_example()


class ForgetfulCounter(example.Counter):  # type: ignore[misc,name-defined]
    """Restores every snapshot as zero: the bug docs/simulation.md shows."""

    def restore(self, data: bytes) -> None:
        self.total = 0


class ForgetfulWorkload(example.CounterWorkload):  # type: ignore[misc,name-defined]
    def new_machine(self) -> StateMachine:
        return ForgetfulCounter()


@pytest.mark.parametrize("protocol", ["raft", "zab", "paxos"])
def test_a_correct_counter_passes_under_every_nemesis(protocol: str) -> None:
    result = expect_ok(example.CounterWorkload, Scenario(protocol=protocol, seed=1))
    assert result.ok
    assert result.linearizability is not None and result.linearizability.valid
    assert result.stats.ops_ok > 10


def test_a_counter_that_forgets_on_restore_fails_with_seed_replay_and_picture() -> None:
    scenario = Scenario(seed=0, compact_every=8, shrink_runs=10)
    with pytest.raises(SimulationFailed, match="raft seed 0 nemesis all") as caught:
        expect_ok(ForgetfulWorkload, scenario)
    failure = caught.value
    assert "Linearizability violated" in str(failure)
    assert failure.seed == 0
    assert json.loads(failure.replay)["format"] == "pyconsensus-replay"
    assert failure.picture.startswith("<!DOCTYPE html>")
    again = replay(failure.replay, ForgetfulWorkload)
    assert again.violation is not None
    assert again.violation.property == "Linearizability"


def test_a_given_schedule_replaces_the_seed_s_and_heals_at_the_end() -> None:
    scenario = Scenario(seed=5, nemesis=())
    result = expect_ok(example.CounterWorkload, scenario, [Scheduled(10, Crash(1))])
    assert result.stats.crashes == 1
    assert result.stats.restarts >= 1  # the tail restarted it, so liveness held
