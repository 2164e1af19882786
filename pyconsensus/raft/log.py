"""``RaftLog``: the in-memory view of a node's log after its snapshot point."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from pyconsensus.core.types import Entry


class RaftLog:
    """Entries ``snapshot_index + 1 .. last_index`` held in a list.

    Invariant: ``entries[k].index == snapshot_index + 1 + k`` and terms never
    decrease along the list.
    """

    __slots__ = ("entries", "snapshot_index", "snapshot_term")

    def __init__(self, snapshot_index: int = 0, snapshot_term: int = 0) -> None:
        self.snapshot_index = snapshot_index
        self.snapshot_term = snapshot_term
        self.entries: list[Entry] = []

    @property
    def last_index(self) -> int:
        return self.snapshot_index + len(self.entries)

    @property
    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.snapshot_term

    def term_at(self, index: int) -> int | None:
        """The term of the entry at ``index``; ``None`` if compacted away or absent."""
        offset = index - self.snapshot_index
        if offset == 0:
            return self.snapshot_term
        if offset < 0 or offset > len(self.entries):
            return None
        return self.entries[offset - 1].term

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Entries with ``lo <= index < hi`` (clipped to what is held)."""
        base = self.snapshot_index + 1
        return self.entries[max(lo - base, 0) : max(hi - base, 0)]

    def append(self, entries: Sequence[Entry]) -> None:
        self.entries.extend(entries)

    def truncate_from(self, index: int) -> None:
        """Drop entries at or above ``index`` (never below the snapshot)."""
        del self.entries[max(index - self.snapshot_index - 1, 0) :]

    def compact_to(self, index: int, term: int) -> None:
        """Forget entries up to ``index``, keeping the suffix after it."""
        del self.entries[: max(index - self.snapshot_index, 0)]
        self.snapshot_index = index
        self.snapshot_term = term

    def reset(self, index: int, term: int) -> None:
        """Forget everything: the log now starts after a snapshot at ``index``."""
        self.entries = []
        self.snapshot_index = index
        self.snapshot_term = term

    def last_index_of_term_at_most(self, term: int, upto: int) -> int:
        """The largest index ``<= upto`` whose term is ``<= term`` (terms are sorted),
        or the snapshot index if there is none among the held entries."""
        hi = min(upto, self.last_index) - self.snapshot_index
        if hi <= 0:
            return self.snapshot_index
        pos = bisect.bisect_right(self.entries, term, lo=0, hi=hi, key=_term)
        return self.snapshot_index + pos

    def first_index_of_term(self, term: int, upto: int) -> int:
        """The first index of the run of ``term`` that contains ``upto``."""
        hi = min(upto, self.last_index) - self.snapshot_index
        if hi <= 0:
            return self.snapshot_index + 1
        pos = bisect.bisect_left(self.entries, term, lo=0, hi=hi, key=_term)
        return self.snapshot_index + 1 + pos


def _term(entry: Entry) -> int:
    return entry.term
