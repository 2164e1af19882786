"""The ReadIndex queue: reads wait for a quorum to confirm a round, in order."""

from __future__ import annotations

from pyconsensus.core.quorum import majority
from pyconsensus.core.reads import ReadIndexQueue

QUORUM = majority([1, 2, 3, 4, 5])


def test_a_read_is_released_once_a_quorum_confirmed_its_round() -> None:
    reads: ReadIndexQueue[str] = ReadIndexQueue()
    assert reads.start("a", 7) == 1
    assert reads.take_broadcast() and not reads.take_broadcast()
    assert reads.release(QUORUM, {1: reads.round, 2: 1}) == []  # two of five
    assert reads.release(QUORUM, {1: reads.round, 2: 1, 5: 1}) == [("a", 7)]
    assert len(reads) == 0


def test_reads_come_out_in_order_and_never_overtake_older_ones() -> None:
    reads: ReadIndexQueue[str] = ReadIndexQueue()
    reads.start("a", 3)
    reads.start("b", 4)
    reads.start("c", 6)
    confirmed = {1: reads.round, 2: 3, 3: 3, 4: 1}
    assert reads.release(QUORUM, confirmed) == [("a", 3), ("b", 4), ("c", 6)]
    reads.start("d", 8)
    assert reads.release(QUORUM, {1: reads.round, 2: 3, 3: 3}) == []


def test_an_older_confirmation_does_not_release_a_newer_round() -> None:
    reads: ReadIndexQueue[int] = ReadIndexQueue()
    reads.start(1, 5)
    reads.start(2, 5)
    assert reads.release(QUORUM, {1: 2, 2: 1, 3: 1}) == [(1, 5)]
    assert len(reads) == 1


def test_deferred_reads_wait_outside_the_rounds() -> None:
    reads: ReadIndexQueue[str] = ReadIndexQueue()
    reads.defer("x")
    reads.defer("y")
    assert not reads.broadcast_due and len(reads) == 2
    assert reads.take_deferred() == ["x", "y"]
    assert reads.take_deferred() == []


def test_draining_returns_started_reads_then_deferred_ones() -> None:
    reads: ReadIndexQueue[str] = ReadIndexQueue()
    reads.start("a", 1)
    reads.defer("w")
    reads.start("b", 2)
    assert reads.drain() == ["a", "b", "w"]
    assert len(reads) == 0 and not reads.broadcast_due
    assert reads.start("c", 3) == 3  # rounds keep counting up across leaderships
