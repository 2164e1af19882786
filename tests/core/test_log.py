"""The indexed log under Raft's log and ZAB's history."""

from __future__ import annotations

import pytest

from pyconsensus.core.log import IndexedLog
from pyconsensus.core.snapshots import SnapshotMeta, checksum
from pyconsensus.core.types import Entry


def log_of(terms: list[int], offset: int = 0, offset_term: int = 0) -> IndexedLog:
    log = IndexedLog(offset, offset_term)
    log.append([Entry(offset + 1 + k, t) for k, t in enumerate(terms)])
    return log


def test_term_lookup_covers_the_compaction_point_and_nothing_outside() -> None:
    log = log_of([2, 2, 3], offset=4, offset_term=1)
    assert [log.term_at(i) for i in range(3, 9)] == [None, 1, 2, 2, 3, None]
    assert (log.last_index, log.last_term) == (7, 3)
    assert (IndexedLog(4, 1).last_index, IndexedLog(4, 1).last_term) == (4, 1)


def test_slices_are_clipped_to_what_is_held() -> None:
    log = log_of([1, 1, 2, 2], offset=2, offset_term=1)
    assert [e.index for e in log.slice(0, 100)] == [3, 4, 5, 6]
    assert [e.index for e in log.slice(4, 6)] == [4, 5]
    assert log.slice(7, 9) == []


def test_truncation_never_reaches_below_the_compaction_point() -> None:
    log = log_of([1, 2, 3], offset=5, offset_term=1)
    log.truncate_from(8)
    assert log.last_index == 7
    log.truncate_from(2)
    assert (log.last_index, log.entries) == (5, [])


def test_compaction_keeps_the_suffix_and_moves_the_offset() -> None:
    log = log_of([1, 1, 2, 2])
    log.compact_to(3, 2)
    assert (log.offset, log.offset_term, [e.index for e in log.entries]) == (3, 2, [4])
    log.reset(10, 4)
    assert (log.offset, log.last_index, log.term_at(10)) == (10, 10, 4)


def test_snapshot_to_compacts_only_applied_entries() -> None:
    log = log_of([1, 1, 2, 2])
    assert log.snapshot_to(3, 4, meta(3, 2))
    assert log.offset == 3
    assert not log.snapshot_to(2, 4, meta(2, 1))  # already compacted
    with pytest.raises(ValueError, match="only 4 has been applied"):
        log.snapshot_to(5, 4, meta(5, 2))
    with pytest.raises(ValueError, match="has term 1, the log has 2"):
        log.snapshot_to(4, 4, meta(4, 1))


def meta(index: int, term: int) -> SnapshotMeta:
    return SnapshotMeta(index, term, None, 0, checksum(b""))


def test_term_searches_find_the_edges_of_term_runs() -> None:
    log = log_of([1, 1, 3, 3, 3, 5], offset=2, offset_term=1)  # indices 3..8
    assert log.last_index_of_term_at_most(3, upto=8) == 7
    assert log.last_index_of_term_at_most(4, upto=6) == 6
    assert log.last_index_of_term_at_most(0, upto=8) == 2
    assert log.first_index_of_term(3, upto=7) == 5
    assert log.first_index_of_term(1, upto=1) == 3
