"""Test-only message classes that exercise every shape the codec supports."""

from __future__ import annotations

import enum

import attrs

from pyconsensus.adapters.cbor import Codec
from pyconsensus.core.types import Entry, Snapshot


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@attrs.frozen(slots=True)
class Ballot:
    round: int
    node: int


@attrs.frozen(slots=True)
class Everything:
    """One field of every supported kind."""

    number: int
    flag: bool
    blob: bytes
    text: str
    maybe_number: int | None
    colour: Colour
    maybe_colour: Colour | None
    level: Level
    ballot: Ballot
    maybe_ballot: Ballot | None
    numbers: tuple[int, ...]
    maybe_numbers: tuple[int | None, ...]
    colours: tuple[Colour, ...]
    ballots: tuple[Ballot, ...]
    maybe_ballots: tuple[Ballot | None, ...]
    pair: tuple[int, bytes]
    coloured_pair: tuple[Colour, Ballot | None]
    nested: tuple[tuple[int, ...], ...]
    members: frozenset[int]
    levels: frozenset[Level]
    entries: tuple[Entry, ...]
    snapshot: Snapshot | None


@attrs.frozen(slots=True)
class Accepted:
    """A Paxos-like message: records with a nested record, inside a tuple."""

    src: int
    dst: int
    ballot: Ballot
    slots: tuple[Slot, ...]


@attrs.frozen(slots=True)
class Slot:
    index: int
    ballot: Ballot
    value: bytes
    colour: Colour


@attrs.frozen(slots=True)
class KeywordOnly:
    """kw_only fields and a private name: built by keyword, with attrs' alias."""

    _secret: int
    visible: bytes = attrs.field(kw_only=True)


def _positive(instance: object, attribute: object, value: int) -> None:
    if value < 0:
        raise ValueError("must not be negative")


@attrs.frozen(slots=True)
class Validated:
    """A class whose validator refuses some decoded values."""

    amount: int = attrs.field(validator=_positive)


@attrs.frozen(slots=True)
class Ledger:
    """Tuples of a validated class: decoding must go through ``__init__``."""

    items: tuple[Validated, ...]
    owners: tuple[KeywordOnly, ...]


@attrs.frozen(slots=True)
class Empty:
    pass


@attrs.define
class Mutable:
    """Not slotted, not frozen - still encodable."""

    value: int
    tags: tuple[str, ...]


@attrs.frozen
class Recursive:
    """Cannot be registered: its encoding would have no depth bound."""

    child: Recursive | None


SAMPLE_TYPES: dict[int, type] = {
    0x01: Entry,
    0x02: Snapshot,
    0x90: Everything,
    0x91: Accepted,
    0x92: KeywordOnly,
    0x93: Validated,
    0x94: Ledger,
    0x95: Empty,
    0x96: Mutable,
    0x97: Ballot,
}


def sample_codec() -> Codec:
    return Codec(SAMPLE_TYPES)
