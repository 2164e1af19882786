"""One structural check of indices, entry batches and snapshots for every core."""

from __future__ import annotations

import attrs
import pytest

from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.types import Entry, EntryKind, Snapshot
from pyconsensus.core.validation import chunk_problem, entries_problem, is_index, snapshot_problem


def forged(entry: Entry, **fields: object) -> Entry:
    """``entry`` with fields no constructor call would give it (decoded junk)."""
    copy = attrs.evolve(entry)
    for name, value in fields.items():
        object.__setattr__(copy, name, value)
    return copy


def check(entries: object, first: int = 3) -> str | None:
    return entries_problem(entries, first, min_term=2, max_term=5)


def test_indices_are_non_negative_ints_and_not_bools() -> None:
    assert is_index(0) and is_index(7)
    assert not is_index(-1) and not is_index(True) and not is_index(1.0) and not is_index("1")


def test_a_well_formed_batch_passes_and_an_empty_one_too() -> None:
    assert check((Entry(3, 2), Entry(4, 2), Entry(5, 5, b"x", EntryKind.NOOP))) is None
    assert check(()) is None


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([Entry(3, 2)], "malformed"),  # a list, not a tuple
        ((Entry(3, 2), "entry"), "malformed"),
        ((Entry(3, 2), forged(Entry(4, 2), data="text"), Entry(5, 2)), "malformed"),
        ((Entry(3, 2), forged(Entry(4, 2), kind=1), Entry(5, 2)), "malformed"),
        ((Entry(4, 2),), "bad_index"),  # does not start at first_index
        ((Entry(3, 2), Entry(9, 2), Entry(5, 2)), "bad_index"),  # a gap in the middle
        ((forged(Entry(3, 2), index=3.0),), "bad_index"),
        ((Entry(3, 1),), "bad_term"),  # below min_term
        ((Entry(3, 2), Entry(4, 6)), "bad_term"),  # above max_term
        ((Entry(3, 3), Entry(4, 2), Entry(5, 3)), "bad_term"),  # goes back in the middle
        ((forged(Entry(3, 2), term="2"),), "bad_term"),
    ],
)
def test_every_entry_of_a_batch_is_checked(entries: object, reason: str) -> None:
    assert check(entries) == reason


def test_each_protocol_names_its_terms() -> None:
    batch = (Entry(3, 9),)
    assert entries_problem(batch, 3, min_term=1, max_term=5, term_reason="bad_epoch") == (
        "bad_epoch"
    )


def test_a_negative_first_index_is_a_bad_index() -> None:
    assert entries_problem((Entry(-1, 2),), -1, min_term=0, max_term=5) == "bad_index"


@pytest.mark.parametrize(
    ("snapshot", "reason"),
    [
        (SnapshotMeta(4, 2, None, 1, "sha256:00"), None),
        ("snapshot", "malformed"),
        (Snapshot(4, 2, b"s"), "malformed"),  # whole bytes never travel
        (SnapshotMeta(4, 2, None, 1, b"sha"), "malformed"),  # type: ignore[arg-type]
        (SnapshotMeta(4, 2, None, -1, "sha256:00"), "malformed"),
        (SnapshotMeta(4, 2, "1,2", 1, "sha256:00"), "malformed"),  # type: ignore[arg-type]
        (SnapshotMeta(-4, 2, None, 0, ""), "bad_index"),
        (SnapshotMeta(4, 9, None, 0, ""), "bad_index"),  # a term from the future
        (SnapshotMeta(0, 0, None, 0, ""), "bad_index"),  # below min_index
    ],
)
def test_snapshots_are_checked_by_type_index_and_term(snapshot: object, reason: str) -> None:
    assert snapshot_problem(snapshot, max_term=5, min_index=1) == reason


@pytest.mark.parametrize(
    ("offset", "data", "done", "reason"),
    [
        (0, b"ab", False, None),
        (2, b"c", True, None),
        (0, b"abc", True, None),
        (2, b"cd", True, "bad_chunk"),  # past the end
        (0, b"ab", True, "bad_chunk"),  # not the end
        (-1, b"a", False, "malformed"),
        (0, "ab", False, "malformed"),
        (0, b"ab", 0, "malformed"),
    ],
)
def test_chunks_lie_inside_their_snapshot_and_only_the_last_is_done(
    offset: object, data: object, done: object, reason: str | None
) -> None:
    meta = SnapshotMeta(4, 2, None, 3, "sha256:00")
    assert chunk_problem(meta, offset, data, done) == reason
