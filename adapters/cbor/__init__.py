"""CBOR wire and entry codec: versioned, tagged, strictly validated frames.

Wire format (version 1)
-----------------------
A frame is::

    byte 0     format version (1)
    byte 1     type tag (1-255, see ``tags.py``)
    bytes 2..  one CBOR array: the object's attrs fields in declaration order

Field values travel as CBOR ints, booleans, byte strings, text strings and
null. An enum member travels as its value; a nested attrs class as the array of
its fields; ``tuple[X, ...]`` as an array; ``tuple[Record, ...]`` (such as
``AppendEntries.entries``) as one flat array of every item's fields in turn
(``[index1, term1, data1, kind1, index2, ...]``), which is both smaller and
much faster to encode and check than an array per item. CBOR tags, floats, maps, indefinite
lengths and trailing bytes are never produced and always refused.

Decoding is strict: ``decode`` returns a fully type-checked object or raises
``DecodeError`` - never another exception, never a partly built object. It
checks version, tag, frame size (``Limits.max_frame_bytes``, or the computed
maximum of a fixed-size type) and the top-level array header before parsing;
the parser then runs with the nesting depth the type needs and no more and
refuses every tag as soon as it reads one (so no bignum, date or regex is ever
built); collection lengths (``Limits.max_items``) are checked before any object
of the collection is built. cbor2 never preallocates from a declared length,
so a lying length costs nothing; what the parser builds before the checks run
is bounded by the frame size (up to ~48x it, for a frame of one-byte CBOR
simple values: see docs/codec.md).

Registering a protocol
----------------------
Add one table to ``pyconsensus/adapters/cbor/tags.py`` and list it in
``PROTOCOLS``::

    from pyconsensus.zab import messages as zab

    ZAB: Final[Mapping[int, type]] = {
        0x30: zab.FollowerInfo,
        0x31: zab.LeaderInfo,
        ...
    }

    PROTOCOLS = {"core": CORE, "raft": RAFT, "zab": ZAB}

That is all: encoders and decoders are generated from the attrs annotations
(``int``, ``bool``, ``bytes``, ``str``, ``X | None``, enums, nested attrs
classes, unions of attrs classes, ``tuple[X, ...]``, fixed tuples,
``frozenset[X]``), an unsupported
annotation fails at registration, and the round-trip, mutation and fuzz tests
cover every registered type automatically.

Use ``encode``/``decode`` (the default codec, all protocols) or build a
``Codec`` of your own with other tags or ``Limits``.
"""

from __future__ import annotations

import functools
from typing import Any

from pyconsensus.adapters.cbor.codec import FORMAT_VERSION, Codec, Limits
from pyconsensus.adapters.cbor.errors import DecodeError, EncodeError
from pyconsensus.adapters.cbor.tags import PROTOCOLS, all_types


@functools.cache
def default_codec() -> Codec:
    """The codec of every table in ``PROTOCOLS``, with default ``Limits``."""
    return Codec(all_types())


def encode(obj: object) -> bytes:
    """Encode ``obj`` with the default codec."""
    return default_codec().encode(obj)


def decode(frame: bytes | bytearray | memoryview) -> Any:
    """Decode ``frame`` with the default codec (raises ``DecodeError``)."""
    return default_codec().decode(frame)


__all__ = [
    "FORMAT_VERSION",
    "PROTOCOLS",
    "Codec",
    "DecodeError",
    "EncodeError",
    "Limits",
    "decode",
    "default_codec",
    "encode",
]
