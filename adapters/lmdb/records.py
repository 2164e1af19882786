"""Binary records of the LMDB storage, each ending in a CRC-32 of everything before it.

Layouts (big-endian integers; ``crc`` is ``zlib.crc32`` of the preceding bytes):

* entry      ``index u64 | term u64 | kind u8 | data... | crc u32``
  The index is repeated inside the value so that a value found under the wrong
  key is detected, not just a flipped bit.
* snapshot   ``index u64 | term u64 | data... | crc u32``
* value      ``type u8 | payload... | crc u32`` for metadata (``MetaValue``)
  and identity: type ``n`` None, ``i`` signed int (minimal two's complement),
  ``s`` UTF-8 str, ``b`` bytes.
* log state  ``first u64 | last u64 | count u64 | crc u32``

The storage format is deliberately not the wire format: it is fixed-layout
(cheap on the write path, where every entry of a batch is encoded) and it is
versioned separately (``FORMAT_VERSION`` of the storage).
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

from pyconsensus.core.errors import StorageCorruption, StorageError
from pyconsensus.core.types import Entry, EntryKind, MetaValue, Snapshot

ENTRY_HEAD: Final = struct.Struct(">QQB")
SNAPSHOT_HEAD: Final = struct.Struct(">QQ")
LOG_STATE: Final = struct.Struct(">QQQ")
KEY: Final = struct.Struct(">Q")
CRC: Final = struct.Struct(">I")
CRC_BYTES: Final = CRC.size
MAX_U64: Final = (1 << 64) - 1

_KINDS: Final = {kind.value: kind for kind in EntryKind}

crc32 = zlib.crc32


def index_key(index: int) -> bytes:
    """The LMDB key of entry ``index``: big-endian, so keys sort by index."""
    return KEY.pack(index)


def seal(body: bytes) -> bytes:
    return body + CRC.pack(crc32(body))


def unseal(value: bytes | memoryview, what: str) -> memoryview:
    """The body of a sealed record after checking its CRC."""
    view = memoryview(value)
    if len(view) < CRC_BYTES:
        raise StorageCorruption(f"{what}: record of {len(view)} bytes is too short")
    body = view[:-CRC_BYTES]
    (expected,) = CRC.unpack_from(view, len(view) - CRC_BYTES)
    if crc32(body) != expected:
        raise StorageCorruption(f"{what}: checksum mismatch, the stored bytes are damaged")
    return body


def encode_entry(entry: Entry) -> bytes:
    """The sealed record of ``entry``; ``StorageError`` if it cannot be stored."""
    try:
        body = ENTRY_HEAD.pack(entry.index, entry.term, entry.kind) + entry.data
    except (struct.error, TypeError, AttributeError) as exc:
        raise StorageError(f"cannot store {entry!r}: {exc}") from exc
    return body + CRC.pack(crc32(body))


def key_index(key: bytes | memoryview) -> int:
    """The index a log key stands for."""
    if len(key) != KEY.size:
        raise StorageCorruption(f"log key {bytes(key)!r} is not an 8-byte index")
    index: int = KEY.unpack(key)[0]
    return index


def decode_entry(key: bytes | memoryview, value: bytes | memoryview) -> Entry:
    """The entry stored under ``key``; ``StorageCorruption`` if anything is off."""
    return decode_entry_at(key_index(key), value)


def decode_entry_at(index: int, value: bytes | memoryview) -> Entry:
    """The entry stored under the key of ``index``."""
    body = unseal(value, f"entry {index}")
    if len(body) < ENTRY_HEAD.size:
        raise StorageCorruption(f"entry {index}: record of {len(body)} bytes is too short")
    stored_index, term, kind = ENTRY_HEAD.unpack_from(body)
    if stored_index != index:
        raise StorageCorruption(f"entry {index}: the record says it is entry {stored_index}")
    member = _KINDS.get(kind)
    if member is None:
        raise StorageCorruption(f"entry {index}: unknown kind {kind}")
    return Entry(index, term, bytes(body[ENTRY_HEAD.size :]), member)


def encode_snapshot(snapshot: Snapshot) -> bytes:
    try:
        body = SNAPSHOT_HEAD.pack(snapshot.index, snapshot.term) + snapshot.data
    except (struct.error, TypeError, AttributeError) as exc:
        raise StorageError(f"cannot store snapshot {snapshot!r}: {exc}") from exc
    return seal(body)


def decode_snapshot(value: bytes | memoryview) -> Snapshot:
    body = unseal(value, "snapshot")
    if len(body) < SNAPSHOT_HEAD.size:
        raise StorageCorruption(f"snapshot: record of {len(body)} bytes is too short")
    index, term = SNAPSHOT_HEAD.unpack_from(body)
    return Snapshot(index, term, bytes(body[SNAPSHOT_HEAD.size :]))


def encode_value(value: MetaValue, what: str) -> bytes:
    """The sealed record of a metadata value (bool is refused: it is not an int here)."""
    if value is None:
        return seal(b"n")
    if type(value) is int:
        width = (value.bit_length() + 8) // 8
        return seal(b"i" + value.to_bytes(width, "big", signed=True))
    if type(value) is str:
        try:
            return seal(b"s" + value.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise StorageError(f"{what}: {exc}") from exc
    if type(value) is bytes:
        return seal(b"b" + value)
    raise StorageError(
        f"{what}: {type(value).__name__} is not a metadata value (int|str|bytes|None)"
    )


def decode_value(value: bytes | memoryview, what: str) -> MetaValue:
    body = unseal(value, what)
    if not body:
        raise StorageCorruption(f"{what}: empty record")
    kind, payload = body[0], body[1:]
    if kind == ord("n") and not payload:
        return None
    if kind == ord("i") and payload:
        return int.from_bytes(payload, "big", signed=True)
    if kind == ord("s"):
        try:
            return bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StorageCorruption(f"{what}: {exc}") from exc
    if kind == ord("b"):
        return bytes(payload)
    raise StorageCorruption(f"{what}: unknown value type {kind}")


def encode_log_state(first: int, last: int, count: int) -> bytes:
    return seal(LOG_STATE.pack(first, last, count))


def decode_log_state(value: bytes | memoryview) -> tuple[int, int, int]:
    body = unseal(value, "log state")
    if len(body) != LOG_STATE.size:
        raise StorageCorruption(
            f"log state: record of {len(body)} bytes, expected {LOG_STATE.size}"
        )
    first, last, count = LOG_STATE.unpack(body)
    return first, last, count
