"""``History``: the transactions a server has accepted, after its snapshot point."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from pyconsensus.core.types import Entry
from pyconsensus.zab.messages import Zxid


class History:
    """Entries ``base_index + 1 .. last_index`` in a list.

    Invariant: ``entries[k].index == base_index + 1 + k`` and epochs (``term``)
    never decrease along the list. ``base_index``/``base_epoch`` describe the
    last transaction folded into the snapshot (0/0 without one).
    """

    __slots__ = ("base_epoch", "base_index", "entries")

    def __init__(self, base_index: int = 0, base_epoch: int = 0) -> None:
        self.base_index = base_index
        self.base_epoch = base_epoch
        self.entries: list[Entry] = []

    @property
    def last_index(self) -> int:
        return self.base_index + len(self.entries)

    @property
    def last_epoch(self) -> int:
        return self.entries[-1].term if self.entries else self.base_epoch

    @property
    def last_zxid(self) -> Zxid:
        return Zxid(self.last_epoch, self.last_index)

    def epoch_at(self, index: int) -> int | None:
        """The epoch of the transaction at ``index``; ``None`` if not held."""
        offset = index - self.base_index
        if offset == 0:
            return self.base_epoch
        if offset < 0 or offset > len(self.entries):
            return None
        return self.entries[offset - 1].term

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Entries with ``lo <= index < hi`` (clipped to what is held)."""
        base = self.base_index + 1
        return self.entries[max(lo - base, 0) : max(hi - base, 0)]

    def append(self, entries: Sequence[Entry]) -> None:
        self.entries.extend(entries)

    def truncate_after(self, index: int) -> None:
        """Keep only transactions up to ``index`` (never below the snapshot)."""
        del self.entries[max(index - self.base_index, 0) :]

    def compact_to(self, index: int, epoch: int) -> None:
        """Forget transactions up to ``index``; they live in a snapshot now."""
        del self.entries[: max(index - self.base_index, 0)]
        self.base_index = index
        self.base_epoch = epoch

    def reset(self, index: int, epoch: int) -> None:
        """Forget everything: the history now starts after a snapshot at ``index``."""
        self.entries = []
        self.base_index = index
        self.base_epoch = epoch

    def last_index_of_epoch_at_most(self, epoch: int) -> int:
        """The largest held index whose epoch is ``<= epoch`` (epochs are sorted);
        the snapshot index if no held entry qualifies."""
        return self.base_index + bisect.bisect_right(self.entries, epoch, key=_epoch)


def _epoch(entry: Entry) -> int:
    return entry.term
