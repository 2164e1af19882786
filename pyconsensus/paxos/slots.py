"""``SlotLog``: an acceptor's accepted values by slot, above its snapshot point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from pyconsensus.core.types import Entry


class SlotLog:
    """Slots ``base + 1 .. last_index``, each holding the value accepted there
    (an ``Entry`` whose term is the packed ballot) or ``None`` for a hole.

    Unlike a Raft log, slots are independent: an acceptor may accept slot 9
    before slot 8, and a later ballot may replace any one slot's value.
    """

    __slots__ = ("base", "base_term", "slots")

    def __init__(self, base: int = 0, base_term: int = 0) -> None:
        self.base = base
        self.base_term = base_term
        self.slots: list[Entry | None] = []

    @property
    def last_index(self) -> int:
        """The highest slot held, or ``base`` if none is."""
        return self.base + len(self.slots)

    def get(self, slot: int) -> Entry | None:
        """The value accepted in ``slot``; ``None`` for a hole, a compacted or an
        unknown slot."""
        offset = slot - self.base - 1
        if 0 <= offset < len(self.slots):
            return self.slots[offset]
        return None

    def put(self, entries: Sequence[Entry]) -> None:
        """Store a run of entries for consecutive slots above ``base``,
        replacing whatever those slots held."""
        offset = entries[0].index - self.base - 1
        slots = self.slots
        if offset < 0:
            raise ValueError(f"slot {entries[0].index} is at or below the base {self.base}")
        if offset == len(slots):
            slots.extend(entries)
        elif offset > len(slots):
            slots.extend([None] * (offset - len(slots)))
            slots.extend(entries)
        else:
            slots[offset : offset + len(entries)] = entries

    def append(self, entry: Entry) -> None:
        """Store ``entry`` in slot ``last_index + 1``."""
        self.slots.append(entry)

    def slice(self, lo: int, hi: int) -> list[Entry | None]:
        """Slots ``lo <= slot < hi``, clipped to those held."""
        base = self.base + 1
        return self.slots[max(lo - base, 0) : max(hi - base, 0)]

    def run(self, lo: int, hi: int) -> list[Entry]:
        """Slots ``lo <= slot < hi``, which the caller knows hold no hole (every
        slot up to the learned prefix, or a proposer's own run of proposals)."""
        return cast(list[Entry], self.slice(lo, hi))

    def entries_from(self, lo: int) -> list[Entry]:
        """Every accepted value in slots ``>= lo`` (holes skipped)."""
        return [e for e in self.slots[max(lo - self.base - 1, 0) :] if e is not None]

    def compact_to(self, index: int, term: int) -> None:
        """Forget slots up to ``index``; the log now starts after it."""
        del self.slots[: max(index - self.base, 0)]
        self.base = index
        self.base_term = term
