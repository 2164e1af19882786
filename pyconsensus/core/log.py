"""``IndexedLog``: consecutive entries after a compaction point, with term lookup.

Raft's log and ZAB's history are the same structure under different words: a
list of entries numbered from ``offset + 1``, whose terms (epochs) never
decrease, preceded by a snapshot at ``offset`` whose last entry had
``offset_term``. This class holds that structure once; ``RaftLog`` and ZAB's
``History`` only add their own vocabulary.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.types import Entry


class IndexedLog:
    """Entries ``offset + 1 .. last_index`` held in a list.

    Invariant: ``entries[k].index == offset + 1 + k`` and terms never decrease
    along the list. ``offset``/``offset_term`` describe the last entry folded
    into the snapshot (0/0 without one).
    """

    __slots__ = ("entries", "offset", "offset_term")

    def __init__(self, offset: int = 0, offset_term: int = 0) -> None:
        self.offset = offset
        self.offset_term = offset_term
        self.entries: list[Entry] = []

    @property
    def last_index(self) -> int:
        return self.offset + len(self.entries)

    @property
    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.offset_term

    def term_at(self, index: int) -> int | None:
        """The term of the entry at ``index``; ``None`` if compacted away or absent
        (the compaction point itself answers with ``offset_term``)."""
        offset = index - self.offset
        if offset == 0:
            return self.offset_term
        if offset < 0 or offset > len(self.entries):
            return None
        return self.entries[offset - 1].term

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Entries with ``lo <= index < hi`` (clipped to what is held)."""
        base = self.offset + 1
        return self.entries[max(lo - base, 0) : max(hi - base, 0)]

    def append(self, entries: Sequence[Entry]) -> None:
        """Add ``entries``, which must continue the log (not checked here)."""
        self.entries.extend(entries)

    def truncate_from(self, index: int) -> None:
        """Drop entries at or above ``index`` (never below the compaction point)."""
        del self.entries[max(index - self.offset - 1, 0) :]

    def compact_to(self, index: int, term: int) -> None:
        """Forget entries up to ``index``, keeping the suffix after it."""
        del self.entries[: max(index - self.offset, 0)]
        self.offset = index
        self.offset_term = term

    def reset(self, index: int, term: int) -> None:
        """Forget everything: the log now starts after a snapshot at ``index``."""
        self.entries = []
        self.offset = index
        self.offset_term = term

    def snapshot_to(self, index: int, applied: int, meta: SnapshotMeta) -> bool:
        """Compact to ``index`` for the application's snapshot ``meta`` of its
        state there (what every core's ``compact`` does); False if the log is
        compacted that far already. ``index`` must have been applied and
        ``meta`` must name it with its term: ``ValueError`` otherwise."""
        if meta.index != index:
            raise ValueError(f"cannot compact to index {index} with a snapshot at {meta.index}")
        if index <= self.offset:
            return False
        if index > applied:
            raise ValueError(f"cannot compact to index {index}: only {applied} has been applied")
        term = self.term_at(index)
        if term is None:
            raise ValueError(f"cannot compact to index {index}: the log ends at {self.last_index}")
        if meta.term != term:
            raise ValueError(f"snapshot at {index} has term {meta.term}, the log has {term}")
        self.compact_to(index, term)
        return True

    def last_index_of_term_at_most(self, term: int, upto: int) -> int:
        """The largest index ``<= upto`` whose term is ``<= term`` (terms are sorted),
        or ``offset`` if there is none among the held entries."""
        hi = min(upto, self.last_index) - self.offset
        if hi <= 0:
            return self.offset
        pos = bisect.bisect_right(self.entries, term, lo=0, hi=hi, key=_term)
        return self.offset + pos

    def first_index_of_term(self, term: int, upto: int) -> int:
        """The first index of the run of ``term`` that contains ``upto``."""
        hi = min(upto, self.last_index) - self.offset
        if hi <= 0:
            return self.offset + 1
        pos = bisect.bisect_left(self.entries, term, lo=0, hi=hi, key=_term)
        return self.offset + 1 + pos


def _term(entry: Entry) -> int:
    return entry.term
