"""Seeded fault sweeps: ZAB keeps its properties under partitions, crashes in
every phase, message loss, duplication, reordering and clock skew - and the
checkers catch deliberately broken variants."""

from __future__ import annotations

import pytest

from pyconsensus.sim import RunConfig, sweep
from pyconsensus.sim.checkers.zab import SPEC, make_spec
from pyconsensus.sim.faults import FAULT_KINDS
from pyconsensus.sim.specs import get_spec
from pyconsensus.zab import ZabNode
from tests.sweeps import assert_caught, soak
from tests.zab.broken import CommitsWithoutQuorum, ForgetsEpochs, SkipsSynchronization


@pytest.mark.parametrize("seeds", soak(range(200), fast=50))
def test_two_hundred_seeds_with_every_fault_kind_break_no_property(seeds: range) -> None:
    config = RunConfig()
    assert config.faults == frozenset(FAULT_KINDS)
    result = sweep(SPEC, seeds, config)
    assert [str(f.violation) for f in result.failures] == []
    # Evidence that the faults bit and the protocol still made progress.
    stats = result.stats
    n = len(seeds)
    assert stats.crashes > n // 2 and stats.partitions > n // 2 and stats.network_storms > n // 2
    assert stats.lost_writes > n // 20
    assert stats.leader_changes > n // 2
    assert stats.committed > 100 * len(result.seeds)


def test_the_registry_serves_zab() -> None:
    spec = get_spec("zab")
    assert spec.name == "zab"
    assert "Primary Order" in spec.properties
    assert "Integrity" in spec.properties


@pytest.mark.parametrize(
    ("variant", "properties"),
    [
        pytest.param(
            SkipsSynchronization,
            {"State Machine Safety", "Integrity", "Primary Order", "Liveness"},
            id="a-leader-skipping-synchronization",
        ),
        pytest.param(
            CommitsWithoutQuorum,
            {"Durable Quorum", "State Machine Safety", "Primary Integrity", "Primary Order"},
            id="a-leader-committing-without-a-quorum",
        ),
        pytest.param(ForgetsEpochs, {"Durable Epochs"}, id="a-server-forgetting-its-epochs"),
    ],
)
def test_the_sweep_catches_a_broken_variant_that_the_correct_code_survives(
    variant: type[ZabNode], properties: set[str]
) -> None:
    assert_caught(make_spec(node_class=variant), SPEC, range(20), RunConfig(), properties)


def test_skipping_synchronization_breaks_safety_not_only_liveness() -> None:
    # Followers refuse proposals that contradict what they hold, so the broken
    # leader often just stalls; within a few seeds it also breaks safety.
    result = sweep(make_spec(node_class=SkipsSynchronization), range(10), RunConfig())
    broken = {f.violation.property for f in result.failures if f.violation is not None}
    safety = {"State Machine Safety", "Integrity", "Primary Integrity", "Durable Quorum"}
    assert broken & safety, broken
