"""Message ids and the compact sets of sequence numbers that de-duplicate them.

Every broadcast message is named by ``MessageId(origin, seq)``: the member that
broadcast it and that member's sequence number, which counts from 1 and is
durable, so an id is never reused - not even by a later incarnation of the
origin after a crash.

A delivered message reaches the application as an ``Entry`` whose ``term``
holds the packed id, ``seq << 32 | origin``, the same packing Paxos uses for
ballots. ``MessageId.of(entry)`` recovers it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator

import attrs

from pyconsensus.core.types import Entry, NodeId

ORIGIN_BITS = 32
"""Bits of a packed id that hold the origin's node id."""

MAX_ORIGIN = (1 << ORIGIN_BITS) - 1
"""The largest node id a packed message id can carry."""


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or value < 1:
        raise ValueError(f"message {attribute.name} must be a positive int, got {value!r}")


def _origin(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 0 <= value <= MAX_ORIGIN:
        raise ValueError(f"message origin must be an int in [0, {MAX_ORIGIN}], got {value!r}")


@attrs.frozen(slots=True, order=True)
class MessageId:
    """Names one broadcast: who sent it and its sequence number there."""

    origin: NodeId = attrs.field(validator=_origin)
    seq: int = attrs.field(validator=_positive_int)

    @property
    def packed(self) -> int:
        """The id as one positive int, stored in ``Entry.term``."""
        return (self.seq << ORIGIN_BITS) | self.origin

    @classmethod
    def unpack(cls, value: int) -> MessageId:
        """The id whose ``packed`` form is ``value`` (``ValueError`` if none is)."""
        if type(value) is not int or value < 0:
            raise ValueError(f"a packed message id is a non-negative int, got {value!r}")
        return cls(value & MAX_ORIGIN, value >> ORIGIN_BITS)

    @classmethod
    def of(cls, entry: Entry) -> MessageId:
        """The id of a delivered broadcast (``entry.kind`` must be ``NORMAL``)."""
        return cls.unpack(entry.term)

    def __str__(self) -> str:
        return f"{self.origin}:{self.seq}"


class SequenceSet:
    """A set of positive ints kept as sorted, disjoint, non-adjacent intervals.

    Messages of one origin arrive nearly in order, so the set collapses into a
    single interval; a gap stays only where a message was never received (its
    sender crashed before anyone got it). Memory grows with the number of gaps,
    not with the number of messages.
    """

    __slots__ = ("_hi", "_lo")

    def __init__(self, intervals: Iterable[tuple[int, int]] = ()) -> None:
        self._lo: list[int] = []
        self._hi: list[int] = []
        for lo, hi in intervals:
            for n in (lo, hi):
                if type(n) is not int or n < 1:
                    raise ValueError(f"interval bounds must be positive ints, got {n!r}")
            if hi < lo or (self._hi and lo <= self._hi[-1] + 1):
                raise ValueError("intervals must be sorted, disjoint and non-adjacent")
            self._lo.append(lo)
            self._hi.append(hi)

    def __contains__(self, n: int) -> bool:
        i = bisect_right(self._lo, n) - 1
        return i >= 0 and n <= self._hi[i]

    def add(self, n: int) -> bool:
        """Add ``n``; False if it was already there."""
        lo, hi = self._lo, self._hi
        i = bisect_right(lo, n) - 1  # the interval starting at or before n
        if i >= 0 and n <= hi[i]:
            return False
        joins_left = i >= 0 and hi[i] == n - 1
        joins_right = i + 1 < len(lo) and lo[i + 1] == n + 1
        if joins_left and joins_right:
            hi[i] = hi[i + 1]
            del lo[i + 1], hi[i + 1]
        elif joins_left:
            hi[i] = n
        elif joins_right:
            lo[i + 1] = n
        else:
            lo.insert(i + 1, n)
            hi.insert(i + 1, n)
        return True

    def __len__(self) -> int:
        return sum(h - lo + 1 for lo, h in zip(self._lo, self._hi, strict=True))

    def __iter__(self) -> Iterator[int]:
        for lo, hi in zip(self._lo, self._hi, strict=True):
            yield from range(lo, hi + 1)

    def intervals(self) -> list[tuple[int, int]]:
        """The set as ``(first, last)`` pairs, in order."""
        return list(zip(self._lo, self._hi, strict=True))

    def copy(self) -> SequenceSet:
        other = SequenceSet()
        other._lo = self._lo[:]
        other._hi = self._hi[:]
        return other

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SequenceSet):
            return NotImplemented
        return self._lo == other._lo and self._hi == other._hi

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"SequenceSet({self.intervals()!r})"
