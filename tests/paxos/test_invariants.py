"""``PaxosSafety`` catches each violation it names (a checker that cannot fail is a defect)."""

from __future__ import annotations

from random import Random

import pytest

from pyconsensus.core.ready import Ready, Write
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Entry, EntryKind
from pyconsensus.paxos import PROMISED_KEY, Ballot, MultiPaxosNode
from pyconsensus.sim import InvariantViolation, Simulation
from pyconsensus.sim.checkers.paxos import SPEC, PaxosSafety

B1, B2, B3 = Ballot(1, 1).packed, Ballot(2, 2).packed, Ballot(3, 3).packed


@pytest.fixture
def sim() -> Simulation:
    return Simulation(SPEC, seed=0)


def feed(checker: PaxosSafety, sim: Simulation, node_id: int, ready: Ready) -> None:
    node = sim.nodes[node_id]
    assert node is not None
    checker.on_ready(sim, node_id, node, ready)


def accept(slot: int, ballot: int, data: bytes, promise: int | None = None) -> Ready:
    metadata = {PROMISED_KEY: promise} if promise is not None else {}
    return Ready(write=Write(metadata=metadata, entries=[Entry(slot, ballot, data)]))


def test_promise_going_backwards_is_caught(sim: Simulation) -> None:
    checker = PaxosSafety()
    feed(checker, sim, 1, Ready(write=Write(metadata={PROMISED_KEY: B2})))
    with pytest.raises(InvariantViolation, match="Promise Monotonic"):
        feed(checker, sim, 1, Ready(write=Write(metadata={PROMISED_KEY: B1})))


def test_promise_forgotten_in_a_restart_is_caught(sim: Simulation) -> None:
    checker = PaxosSafety()
    feed(checker, sim, 1, Ready(write=Write(metadata={PROMISED_KEY: B2})))
    amnesiac = MultiPaxosNode(1, sim.members, MemoryStorage(), Random(0))
    with pytest.raises(InvariantViolation, match="Promise Monotonic"):
        checker.on_restart(sim, 1, amnesiac)


def test_accepting_below_the_promise_is_caught(sim: Simulation) -> None:
    checker = PaxosSafety()
    feed(checker, sim, 1, Ready(write=Write(metadata={PROMISED_KEY: B2})))
    with pytest.raises(InvariantViolation, match="Accept Respects Promise"):
        feed(checker, sim, 1, accept(1, B1, b"x"))


def test_accepting_above_the_stored_promise_is_caught(sim: Simulation) -> None:
    checker = PaxosSafety()
    with pytest.raises(InvariantViolation, match="Accept Respects Promise"):
        feed(checker, sim, 1, accept(1, B2, b"x", promise=B1))


def test_two_values_in_one_ballot_and_slot_are_caught(sim: Simulation) -> None:
    checker = PaxosSafety()
    feed(checker, sim, 1, accept(1, B1, b"x", promise=B1))
    with pytest.raises(InvariantViolation, match="Proposal Uniqueness"):
        feed(checker, sim, 2, accept(1, B1, b"y", promise=B1))


def test_two_values_chosen_for_one_slot_are_caught(sim: Simulation) -> None:
    checker = PaxosSafety()
    feed(checker, sim, 1, accept(1, B1, b"x", promise=B1))
    feed(checker, sim, 2, accept(1, B1, b"x", promise=B1))  # "x" is chosen
    feed(checker, sim, 2, accept(1, B3, b"y", promise=B3))
    with pytest.raises(InvariantViolation, match="Chosen Uniqueness"):
        feed(checker, sim, 3, accept(1, B3, b"y", promise=B3))


def test_same_value_chosen_again_in_a_later_ballot_is_fine(sim: Simulation) -> None:
    checker = PaxosSafety()
    for node_id in (1, 2):
        feed(checker, sim, node_id, accept(1, B1, b"x", promise=B1))
    for node_id in (2, 3):
        feed(checker, sim, node_id, accept(1, B3, b"x", promise=B3))
    assert checker.chosen == {1: (b"x", EntryKind.NORMAL)}


def test_learning_a_value_no_quorum_accepted_is_caught(sim: Simulation) -> None:
    checker = PaxosSafety()
    feed(checker, sim, 1, accept(1, B1, b"x", promise=B1))
    with pytest.raises(InvariantViolation, match="Learned Only Chosen"):
        feed(checker, sim, 1, Ready(committed=[Entry(1, 0, b"x")]))


def test_learning_a_value_other_than_the_chosen_one_is_caught(sim: Simulation) -> None:
    checker = PaxosSafety()
    for node_id in (1, 2):
        feed(checker, sim, node_id, accept(1, B1, b"x", promise=B1))
    feed(checker, sim, 3, Ready(committed=[Entry(1, 0, b"x")]))
    with pytest.raises(InvariantViolation, match="Learned Only Chosen"):
        feed(checker, sim, 3, Ready(committed=[Entry(1, 0, b"", EntryKind.NOOP)]))


def staged_accept(sim: Simulation, node_id: int, slot: int, ballot: int, data: bytes) -> Ready:
    """An acceptance still in flight (pipelined writes): staged, not durable."""
    ready = accept(slot, ballot, data, promise=ballot)
    assert ready.write is not None
    sim.storages[node_id].stage(ready.write)
    return ready


def test_an_acceptance_in_flight_counts_only_once_durable(sim: Simulation) -> None:
    checker = PaxosSafety()
    for node_id in (1, 2):
        feed(checker, sim, node_id, staged_accept(sim, node_id, 1, B1, b"x"))
    assert checker.chosen == {}, "chosen on acceptances a crash could lose"
    sim.storages[1].sync()
    sim.storages[2].sync()
    checker.after_step(sim)
    assert checker.chosen == {1: (b"x", EntryKind.NORMAL)}
    feed(checker, sim, 3, Ready(committed=[Entry(1, 0, b"x")]))


def test_learning_a_value_chosen_with_an_acceptance_a_crash_lost_is_caught(
    sim: Simulation,
) -> None:
    checker = PaxosSafety()
    feed(checker, sim, 1, staged_accept(sim, 1, 1, B1, b"x"))
    feed(checker, sim, 2, accept(1, B1, b"x", promise=B1))
    sim.crash(1)  # before its write of x was durable
    checker.after_step(sim)
    with pytest.raises(InvariantViolation, match="Learned Only Chosen"):
        feed(checker, sim, 2, Ready(committed=[Entry(1, 0, b"x")]))
