"""Message ids pack into Entry.term losslessly; SequenceSet is a set that stays small."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyconsensus.broadcast import MessageId, SequenceSet
from pyconsensus.broadcast.ids import MAX_ORIGIN
from pyconsensus.core.types import Entry


@given(st.integers(0, MAX_ORIGIN), st.integers(1, 2**40))
def test_a_packed_id_unpacks_to_itself(origin: int, seq: int) -> None:
    mid = MessageId(origin, seq)
    assert MessageId.unpack(mid.packed) == mid
    assert MessageId.of(Entry(1, mid.packed, b"x")) == mid


def test_packing_orders_by_sequence_then_origin() -> None:
    assert MessageId(9, 1).packed < MessageId(0, 2).packed < MessageId(1, 2).packed


@pytest.mark.parametrize(
    ("origin", "seq"), [(-1, 1), (MAX_ORIGIN + 1, 1), (1, 0), (1, -3), ("1", 1), (1, 1.0)]
)
def test_nonsensical_ids_are_refused(origin: object, seq: object) -> None:
    with pytest.raises(ValueError):
        MessageId(origin, seq)  # type: ignore[arg-type]


@pytest.mark.parametrize("term", [0, 5, -1, "x"])
def test_a_term_without_a_sequence_number_is_no_id(term: object) -> None:
    with pytest.raises(ValueError):
        MessageId.unpack(term)  # type: ignore[arg-type]


@given(st.lists(st.integers(1, 60), max_size=80))
def test_sequence_set_behaves_like_a_set(numbers: list[int]) -> None:
    seqs = SequenceSet()
    reference: set[int] = set()
    for n in numbers:
        assert seqs.add(n) == (n not in reference)
        reference.add(n)
    assert list(seqs) == sorted(reference)
    assert len(seqs) == len(reference)
    assert all((n in seqs) == (n in reference) for n in range(0, 62))
    # Intervals are disjoint and non-adjacent: the representation is canonical.
    intervals = seqs.intervals()
    assert all(a[1] + 1 < b[0] for a, b in itertools.pairwise(intervals))
    assert SequenceSet(intervals) == seqs


def test_in_order_arrivals_collapse_into_one_interval() -> None:
    seqs = SequenceSet()
    for n in [1, 2, 4, 5, 3, 6]:
        seqs.add(n)
    assert seqs.intervals() == [(1, 6)]


def test_a_gap_left_by_a_lost_message_costs_one_interval() -> None:
    seqs = SequenceSet()
    for n in range(1, 1_001):
        if n != 500:
            seqs.add(n)
    assert seqs.intervals() == [(1, 499), (501, 1_000)]


@pytest.mark.parametrize(
    "intervals", [[(2, 1)], [(1, 3), (4, 5)], [(3, 4), (1, 2)], [(0, 2)], [(1, "2")]]
)
def test_malformed_intervals_are_refused(intervals: list[tuple[int, int]]) -> None:
    with pytest.raises(ValueError):
        SequenceSet(intervals)


def test_a_copy_is_independent() -> None:
    seqs = SequenceSet([(1, 3)])
    other = seqs.copy()
    other.add(4)
    assert seqs.intervals() == [(1, 3)] and other.intervals() == [(1, 4)]
