"""Ballot numbers: ``(round, node_id)`` pairs, totally ordered, round first.

Two proposers never share a ballot because the node id is part of it, and a
proposer that wants to outrank every ballot it has seen takes the highest round
it knows plus one.

Storage and ``Entry.term`` hold plain non-negative integers, so a ballot is
packed as ``round << 32 | node_id``. The packing is lossless for node ids below
``2**32`` (``MultiPaxosNode`` refuses larger ids) and preserves the order:
``a < b`` exactly when ``a.packed < b.packed``. ``Ballot.ZERO`` (round 0,
node 0) packs to 0 and stands for "no ballot yet"; real ballots have round >= 1.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

NODE_ID_BITS = 32
"""Bits of a packed ballot that hold the node id."""

MAX_NODE_ID = (1 << NODE_ID_BITS) - 1
"""The largest node id a ballot can carry."""


def _non_negative_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or value < 0:
        raise ValueError(f"ballot {attribute.name} must be a non-negative int, got {value!r}")


def _node_id(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    _non_negative_int(instance, attribute, value)
    if value > MAX_NODE_ID:
        raise ValueError(f"ballot node_id must be at most {MAX_NODE_ID}, got {value}")


@attrs.frozen(slots=True, order=True)
class Ballot:
    """A ballot number. Compared as ``(round, node_id)``."""

    ZERO: ClassVar[Ballot]

    round: int = attrs.field(validator=_non_negative_int)
    node_id: int = attrs.field(validator=_node_id)

    @property
    def packed(self) -> int:
        """The ballot as one non-negative int (see the module docstring)."""
        return (self.round << NODE_ID_BITS) | self.node_id

    @classmethod
    def unpack(cls, value: int) -> Ballot:
        """The ballot whose ``packed`` form is ``value``."""
        if type(value) is not int or value < 0:
            raise ValueError(f"a packed ballot is a non-negative int, got {value!r}")
        return cls(value >> NODE_ID_BITS, value & MAX_NODE_ID)

    def successor(self, node_id: int) -> Ballot:
        """A ballot of ``node_id`` in the next round: above this one and above
        every other ballot of its round."""
        return Ballot(self.round + 1, node_id)

    def __str__(self) -> str:
        return f"({self.round}, {self.node_id})"


Ballot.ZERO = Ballot(0, 0)
