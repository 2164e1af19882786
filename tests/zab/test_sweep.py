"""Seeded fault sweeps: ZAB keeps its properties under partitions, crashes in
every phase, message loss, duplication, reordering and clock skew - and the
checkers catch deliberately broken variants."""

from __future__ import annotations

import pytest

from pyconsensus.sim import RunConfig, sweep
from pyconsensus.sim.checkers.zab import SPEC, make_spec
from pyconsensus.sim.faults import FAULT_KINDS
from pyconsensus.sim.specs import get_spec
from pyconsensus.zab import Diff, Learner, Sync, ZabNode
from pyconsensus.zab.leading import Leading


def test_two_hundred_seeds_with_every_fault_kind_break_no_property() -> None:
    config = RunConfig()
    assert config.faults == frozenset(FAULT_KINDS)
    result = sweep(SPEC, range(200), config)
    assert [str(f.violation) for f in result.failures] == []
    # Evidence that the faults bit and the protocol still made progress.
    stats = result.stats
    assert stats.crashes > 100 and stats.partitions > 100 and stats.network_storms > 100
    assert stats.lost_writes > 10
    assert stats.leader_changes > 100
    assert stats.committed > 100 * len(result.seeds)


def test_the_registry_serves_zab() -> None:
    spec = get_spec("zab")
    assert spec.name == "zab"
    assert "Primary Order" in spec.properties
    assert "Integrity" in spec.properties


class _LeadsWithoutSync(Leading):
    def plan_sync(self, learner: Learner) -> Sync:
        return Diff(())


class SkipsSynchronization(ZabNode):
    """Broken: NEWLEADER carries none of the leader's history, so followers keep
    whatever they hold - uncommitted proposals of dead epochs included."""

    leading_class = _LeadsWithoutSync


class _CommitsAlone(Leading):
    def maybe_commit(self) -> None:
        node = self.node
        if node.history.last_index > node.commit:
            node.commit = node.history.last_index
            self.broadcast = True


class CommitsWithoutQuorum(ZabNode):
    """Broken: the leader commits what it has written itself."""

    leading_class = _CommitsAlone


class ForgetsEpochs(ZabNode):
    """Broken: a restarted server ignores the epochs it stored."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.accepted_epoch = self.current_epoch = 0


@pytest.mark.parametrize(
    ("variant", "properties"),
    [
        (
            SkipsSynchronization,
            {"State Machine Safety", "Integrity", "Primary Order", "Liveness"},
        ),
        (
            CommitsWithoutQuorum,
            {"Durable Quorum", "State Machine Safety", "Primary Integrity", "Primary Order"},
        ),
        (ForgetsEpochs, {"Durable Epochs"}),
    ],
)
def test_the_sweep_catches_a_broken_variant(variant: type[ZabNode], properties: set[str]) -> None:
    result = sweep(make_spec(node_class=variant), range(20), RunConfig(), stop_on_failure=True)
    assert result.failures, f"{variant.__name__} survived {len(result.seeds)} seeds"
    violation = result.failures[0].violation
    assert violation is not None and violation.property in properties, str(violation)


def test_skipping_synchronization_breaks_safety_not_only_liveness() -> None:
    # Followers refuse proposals that contradict what they hold, so the broken
    # leader often just stalls; within a few seeds it also breaks safety.
    result = sweep(make_spec(node_class=SkipsSynchronization), range(10), RunConfig())
    broken = {f.violation.property for f in result.failures if f.violation is not None}
    safety = {"State Machine Safety", "Integrity", "Primary Integrity", "Durable Quorum"}
    assert broken & safety, broken
