"""Sealed records of the file snapshot store (``snapshots.py``).

Layouts (big-endian; ``crc`` is ``zlib.crc32`` of the preceding bytes, as in
``records.py``):

* meta     ``index u64 | term u64 | size u64 | u16 len | checksum |``
           ``u32 len | membership text (0xFFFFFFFF: none) | crc u32``
* staged   ``offset u64 | length u32 | chunk crc u32 | crc u32``: one per
           chunk appended to the staging file, written after the chunk is on disk
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

from pyconsensus.adapters.lmdb.records import CRC, seal, unseal
from pyconsensus.core.errors import StorageCorruption, StorageError
from pyconsensus.core.membership import Membership
from pyconsensus.core.snapshots import SnapshotMeta

_META_HEAD: Final = struct.Struct(">QQQH")
_U32: Final = struct.Struct(">I")
_NO_MEMBERSHIP: Final = 0xFFFFFFFF
STAGED: Final = struct.Struct(">QII")
STAGED_RECORD_BYTES: Final = STAGED.size + CRC.size


def encode_meta(meta: SnapshotMeta) -> bytes:
    """The sealed record of ``meta``."""
    try:
        checksum = meta.checksum.encode("ascii")
        membership = None if meta.membership is None else meta.membership.encode().encode()
        head = _META_HEAD.pack(meta.index, meta.term, meta.size, len(checksum))
        tail = (
            _U32.pack(_NO_MEMBERSHIP)
            if membership is None
            else _U32.pack(len(membership)) + membership
        )
    except (struct.error, UnicodeEncodeError, AttributeError, TypeError) as exc:
        raise StorageError(f"cannot store snapshot metadata {meta!r}: {exc}") from exc
    return seal(head + checksum + tail)


def decode_meta(value: bytes | memoryview, what: str) -> SnapshotMeta:
    """``SnapshotMeta`` from its sealed record; ``StorageCorruption`` if damaged."""
    body = unseal(value, what)
    try:
        index, term, size, checksum_len = _META_HEAD.unpack_from(body)
        offset = _META_HEAD.size
        checksum = bytes(body[offset : offset + checksum_len]).decode("ascii")
        offset += checksum_len
        (membership_len,) = _U32.unpack_from(body, offset)
        offset += _U32.size
        membership = None
        if membership_len != _NO_MEMBERSHIP:
            text = bytes(body[offset : offset + membership_len]).decode()
            offset += membership_len
            membership = Membership.decode(text)
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise StorageCorruption(f"{what}: unreadable snapshot metadata: {exc}") from exc
    if offset != len(body) or len(checksum) != checksum_len:
        raise StorageCorruption(f"{what}: snapshot metadata of the wrong length")
    return SnapshotMeta(index, term, membership, size, checksum)


def encode_staged(offset: int, data: bytes) -> bytes:
    """The record that says ``data`` is durably staged at ``offset``."""
    return seal(STAGED.pack(offset, len(data), zlib.crc32(data)))


def decode_staged(value: bytes | memoryview) -> tuple[int, int, int] | None:
    """``(offset, length, chunk crc)``, or ``None`` for a torn or damaged record."""
    if len(value) != STAGED_RECORD_BYTES:
        return None
    try:
        body = unseal(value, "staged chunk")
    except StorageCorruption:
        return None
    offset, length, chunk_crc = STAGED.unpack(body)
    return offset, length, chunk_crc
