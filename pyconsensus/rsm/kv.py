"""A key-value state machine: put, get, compare-and-set, append, delete and range.

Commands and answers are plain binary (big-endian lengths), documented here so
that any client can build them:

===========  ===============================================================  =====================
operation    command (``apply``) / query (``query``)                           answer
===========  ===============================================================  =====================
put          ``b"P" | u16 len(key) | key | value``                             ``b"\\x01"``
append       ``b"A" | u16 len(key) | key | suffix``                            ``b"\\x01"``
cas          ``b"C" | u16 len(key) | key | u8 has_expected |``                 ``b"\\x01"`` swapped,
             ``u32 len(expected) | expected | new``                            ``b"\\x00"`` not
delete       ``b"D" | u16 len(key) | key``                                     ``b"\\x01"`` deleted,
                                                                               ``b"\\x00"`` absent
get          ``b"G" | key`` (a query)                                          ``b"\\x00"`` absent,
                                                                               ``b"\\x01" | value``
range        ``b"R" | u16 len(start) | start | u8 has_end |`` (a query)        a page, see below
             ``u16 len(end) | end | u32 limit``
===========  ===============================================================  =====================

``cas`` with ``has_expected = 0`` swaps only if the key is absent (create).
A malformed command is answered ``b"\\xff" | reason`` on every replica alike.

``range`` reads the keys ``start <= key < end`` (``has_end = 0``: no upper
bound) in key order, at most ``limit`` (>= 1) of them. Its answer is a page::

    u8 more | u32 count | count * (u16 len(key) | key | u32 len(value) | value)

A page never exceeds the machine's ``max_answer_bytes`` (1 MiB unless
configured, far below the runtime's default 16 MiB frame limit), so it may hold
fewer than ``limit`` pairs: ``more = 1`` says keys of the range were left out;
ask again from just after the last key (``RangePage.next_start``). A single
pair too large for a page is answered ``b"\\xfe" | key`` (``decode_range``
raises ``EntryTooLarge``): read that key with ``get`` and go on after it.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections.abc import Iterable, Iterator, MutableMapping

import attrs

from pyconsensus.rsm.cow import Overlay
from pyconsensus.rsm.streaming import DEFAULT_PIECE_BYTES, ChunkReader, records

_KEY_LEN = struct.Struct(">H")
_U32 = struct.Struct(">I")
_PAGE_HEAD = struct.Struct(">BI")  # more, count
_PAIR_OVERHEAD = _KEY_LEN.size + _U32.size

OK = b"\x01"
SWAPPED = b"\x01"
NOT_SWAPPED = b"\x00"
DELETED = b"\x01"
WAS_ABSENT = b"\x00"
ABSENT = b"\x00"
ERROR = 0xFF
TOO_LARGE = 0xFE
DEFAULT_MAX_ANSWER_BYTES = 1 << 20


def _key(key: bytes) -> bytes:
    if len(key) > 0xFFFF:
        raise ValueError(f"key of {len(key)} bytes is longer than 65535")
    return _KEY_LEN.pack(len(key)) + key


def put(key: bytes, value: bytes) -> bytes:
    """The command that sets ``key`` to ``value``."""
    return b"P" + _key(key) + value


def append(key: bytes, suffix: bytes) -> bytes:
    """The command that appends ``suffix`` to ``key``'s value (absent = empty)."""
    return b"A" + _key(key) + suffix


def cas(key: bytes, expected: bytes | None, new: bytes) -> bytes:
    """The command that sets ``key`` to ``new`` if its value is ``expected``
    (``None``: if it is absent)."""
    if expected is None:
        return b"C" + _key(key) + b"\x00" + _U32.pack(0) + new
    return b"C" + _key(key) + b"\x01" + _U32.pack(len(expected)) + expected + new


def delete(key: bytes) -> bytes:
    """The command that removes ``key``."""
    return b"D" + _key(key)


def get(key: bytes) -> bytes:
    """The query that reads ``key``."""
    return b"G" + key


def range_query(start: bytes = b"", end: bytes | None = None, limit: int = 1000) -> bytes:
    """The query that reads up to ``limit`` pairs with ``start <= key < end``
    (``end=None``: to the last key), in key order."""
    if not 1 <= limit <= 0xFFFFFFFF:
        raise ValueError(f"limit must be between 1 and 2**32 - 1, got {limit}")
    bound = b"\x00" + _key(b"") if end is None else b"\x01" + _key(end)
    return b"R" + _key(start) + bound + _U32.pack(limit)


def decode_get(answer: bytes) -> bytes | None:
    """The value in a ``get`` answer (``None``: absent)."""
    if answer[:1] == b"\x01":
        return answer[1:]
    if answer == ABSENT:
        return None
    raise ValueError(f"not a get answer: {answer[:20]!r}")


def decode_cas(answer: bytes) -> bool:
    """Whether a ``cas`` swapped."""
    if answer not in (SWAPPED, NOT_SWAPPED):
        raise ValueError(f"not a cas answer: {answer[:20]!r}")
    return answer == SWAPPED


def decode_delete(answer: bytes) -> bool:
    """Whether a ``delete`` removed a key (False: it was absent)."""
    if answer not in (DELETED, WAS_ABSENT):
        raise ValueError(f"not a delete answer: {answer[:20]!r}")
    return answer == DELETED


class EntryTooLarge(ValueError):
    """A range reached a pair too large for one answer page: read ``key`` with
    ``get`` and continue the range after it."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        super().__init__(f"the pair of key {key[:40]!r} is too large for a range page")


@attrs.frozen(slots=True)
class RangePage:
    """One answer to a ``range`` query."""

    items: tuple[tuple[bytes, bytes], ...]
    """The pairs, in key order."""
    more: bool
    """Keys of the range were left out (by ``limit`` or the page size)."""

    @property
    def next_start(self) -> bytes | None:
        """Where the next page starts (``None``: the range is complete)."""
        if not self.more:
            return None
        return self.items[-1][0] + b"\x00" if self.items else None


def decode_range(answer: bytes) -> RangePage:
    """The page in a ``range`` answer; raises ``EntryTooLarge`` for a pair that
    does not fit a page, and ``ValueError`` for anything else."""
    if answer[:1] == bytes([TOO_LARGE]):
        raise EntryTooLarge(answer[1:])
    try:
        more, count = _PAGE_HEAD.unpack_from(answer, 0)
        offset = _PAGE_HEAD.size
        items = []
        for _ in range(count):
            (klen,) = _KEY_LEN.unpack_from(answer, offset)
            key = answer[offset + 2 : offset + 2 + klen]
            offset += 2 + klen
            (vlen,) = _U32.unpack_from(answer, offset)
            value = answer[offset + 4 : offset + 4 + vlen]
            offset += 4 + vlen
            items.append((key, value))
    except struct.error as exc:
        raise ValueError(f"not a range answer: {answer[:20]!r}") from exc
    if more not in (0, 1) or offset != len(answer):
        raise ValueError(f"not a range answer: {answer[:20]!r}")
    return RangePage(tuple(items), bool(more))


class KVStateMachine:
    """An in-memory map from bytes to bytes (see the module for the encoding).

    ``max_answer_bytes`` bounds one ``range`` page; keep it below the
    transport's frame limit (``max_frame_bytes``) if you lower that.

    It is a ``StreamingStateMachine``: ``snapshot_source()`` freezes the map
    and sends later changes into a copy-on-write ``Overlay`` until the source
    is closed, so a snapshot of any size is read in a worker thread without
    the map being copied first (``pyconsensus.rsm.streaming``).
    """

    def __init__(self, *, max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES) -> None:
        if max_answer_bytes < _PAGE_HEAD.size + _PAIR_OVERHEAD:
            raise ValueError(f"max_answer_bytes of {max_answer_bytes} cannot hold one pair")
        self.max_answer_bytes = max_answer_bytes
        self.data: MutableMapping[bytes, bytes] = {}
        # Keys in order, for ranges: built by the first range, then brought up
        # to date by the next from what was added and whether something was
        # removed meanwhile. A machine that never ranges keeps none of it.
        self._ordered: list[bytes] | None = None
        self._added: set[bytes] = set()
        self._removed = False

    def apply(self, command: bytes) -> bytes:
        op = command[:1]
        if len(command) < 3 or op not in b"PACD":
            return _error("unknown command")
        (length,) = _KEY_LEN.unpack_from(command, 1)
        start = 3 + length
        if len(command) < start:
            return _error("key truncated")
        key = command[3:start]
        rest = command[start:]
        data = self.data
        if op == b"D":
            if rest:
                return _error("delete malformed")
            if data.pop(key, None) is None:
                return WAS_ABSENT
            if self._ordered is not None:
                if key in self._added:
                    self._added.discard(key)
                else:
                    self._removed = True
            return DELETED
        if op != b"C" and self._ordered is not None and key not in data:
            self._track(key)
        if op == b"P":
            data[key] = rest
            return OK
        if op == b"A":
            data[key] = data.get(key, b"") + rest
            return OK
        if len(rest) < 5:
            return _error("cas truncated")
        has_expected = rest[0]
        (expected_len,) = _U32.unpack_from(rest, 1)
        if has_expected not in (0, 1) or len(rest) < 5 + expected_len:
            return _error("cas malformed")
        expected = rest[5 : 5 + expected_len] if has_expected else None
        current = data.get(key)
        if current != expected:
            return NOT_SWAPPED
        if current is None and self._ordered is not None:
            self._track(key)
        data[key] = rest[5 + expected_len :]
        return SWAPPED

    def query(self, query: bytes) -> bytes:
        op = query[:1]
        if op == b"G":
            value = self.data.get(query[1:])
            return ABSENT if value is None else b"\x01" + value
        if op == b"R":
            return self._range(query)
        return _error("unknown query")

    def _range(self, query: bytes) -> bytes:
        try:
            (start_len,) = _KEY_LEN.unpack_from(query, 1)
            start = query[3 : 3 + start_len]
            offset = 3 + start_len
            has_end = query[offset]
            (end_len,) = _KEY_LEN.unpack_from(query, offset + 1)
            end = query[offset + 3 : offset + 3 + end_len]
            offset += 3 + end_len
            (limit,) = _U32.unpack_from(query, offset)
        except (struct.error, IndexError):
            return _error("range truncated")
        if len(start) != start_len or len(end) != end_len or offset + 4 != len(query):
            return _error("range malformed")
        if has_end not in (0, 1) or limit < 1:
            return _error("range malformed")
        keys = self._keys()
        position = bisect_left(keys, start)
        stop = bisect_left(keys, end) if has_end else len(keys)
        data = self.data
        budget = self.max_answer_bytes - _PAGE_HEAD.size
        parts = []
        taken = 0
        while position < stop and taken < limit:
            key = keys[position]
            value = data[key]
            size = _PAIR_OVERHEAD + len(key) + len(value)
            if size > budget:
                if not taken:
                    return bytes([TOO_LARGE]) + key
                break
            budget -= size
            parts.append(_KEY_LEN.pack(len(key)) + key + _U32.pack(len(value)) + value)
            taken += 1
            position += 1
        return _PAGE_HEAD.pack(position < stop, taken) + b"".join(parts)

    def _track(self, key: bytes) -> None:
        """Note a new key for the order; past as many as are ordered, drop
        the order instead (sorting afresh costs about as much as merging)."""
        assert self._ordered is not None
        if len(self._added) >= len(self._ordered):
            self._ordered = None
            self._added = set()
            self._removed = False
        else:
            self._added.add(key)

    def _keys(self) -> list[bytes]:
        """The keys in order, merging what changed since the last range."""
        ordered = self._ordered
        if ordered is None:
            self._ordered = sorted(self.data)
            return self._ordered
        if self._removed:
            data, added = self.data, self._added
            ordered = [key for key in ordered if key in data and key not in added]
            self._removed = False
        if self._added:
            ordered.extend(self._added)
            ordered.sort()  # one sorted run and a short tail: about linear
            self._added = set()
        self._ordered = ordered
        return ordered

    def snapshot(self) -> bytes:
        parts = [_U32.pack(len(self.data))]
        for key in self._keys() if self._ordered is not None else sorted(self.data):
            value = self.data[key]
            parts.append(_U32.pack(len(key)) + key + _U32.pack(len(value)) + value)
        return b"".join(parts)

    def snapshot_source(self) -> KVSnapshotSource:
        """A point-in-time source of the map (see ``KVSnapshotSource``); one
        at a time: close it before asking for the next."""
        if isinstance(self.data, Overlay):
            raise RuntimeError("a snapshot source is open; close it before taking another")
        frozen = self.data
        assert isinstance(frozen, dict)
        self.data = Overlay(frozen)
        return KVSnapshotSource(self, frozen)

    def restore_chunks(self, chunks: Iterable[bytes]) -> None:
        """``restore`` from the bytes of a snapshot, in chunks of any size."""
        reader = ChunkReader(chunks)
        (count,) = _U32.unpack(reader.read_exact(_U32.size, "the key count"))
        restored: dict[bytes, bytes] = {}
        for key, value in records(reader.rest()):
            restored[key] = value
        if len(restored) != count:
            raise ValueError(f"the snapshot holds {len(restored)} keys, its count says {count}")
        self._replace(restored)

    def restore(self, data: bytes) -> None:
        self._replace(_parse_snapshot(data))

    def verify_snapshot(self, data: bytes) -> None:
        """Raise ``ValueError`` unless ``restore`` would accept ``data``."""
        _parse_snapshot(data)

    def _replace(self, restored: dict[bytes, bytes]) -> None:
        self.data = restored
        self._ordered = None
        self._added = set()
        self._removed = False


def _parse_snapshot(data: bytes) -> dict[bytes, bytes]:
    try:
        (count,) = _U32.unpack_from(data, 0)
        offset = 4
        restored: dict[bytes, bytes] = {}
        for _ in range(count):
            (klen,) = _U32.unpack_from(data, offset)
            key = data[offset + 4 : offset + 4 + klen]
            offset += 4 + klen
            (vlen,) = _U32.unpack_from(data, offset)
            restored[key] = data[offset + 4 : offset + 4 + vlen]
            offset += 4 + vlen
    except struct.error as exc:
        raise ValueError(f"truncated key-value snapshot: {exc}") from exc
    if offset != len(data):
        raise ValueError("truncated key-value snapshot, or trailing bytes after it")
    return restored


class KVSnapshotSource:
    """The key-value map as it was when the source was taken: ``chunks()``
    reads the frozen map (safe in a worker thread: the machine's changes go to
    its overlay meanwhile) in ``snapshot``'s layout, keys in the map's order
    rather than sorted; ``close()`` folds the overlay back into the map."""

    def __init__(self, machine: KVStateMachine, frozen: dict[bytes, bytes]) -> None:
        self._machine = machine
        self._frozen = frozen
        self._overlay = machine.data

    def chunks(self) -> Iterator[bytes]:
        frozen = self._frozen
        pack = _U32.pack
        parts = [pack(len(frozen))]
        size = 0
        for key, value in frozen.items():
            parts.append(pack(len(key)) + key + pack(len(value)) + value)
            size += len(key) + len(value) + 8
            if size >= DEFAULT_PIECE_BYTES:
                yield b"".join(parts)
                parts, size = [], 0
        if parts:
            yield b"".join(parts)

    def close(self) -> None:
        machine = self._machine
        if machine.data is self._overlay:  # not replaced by a restore meanwhile
            assert isinstance(self._overlay, Overlay)
            machine.data = self._overlay.merged()


def _error(reason: str) -> bytes:
    return bytes([ERROR]) + reason.encode()
