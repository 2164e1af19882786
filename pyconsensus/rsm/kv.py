"""A key-value state machine: put, get, compare-and-set and append.

Commands and answers are plain binary (big-endian lengths), documented here so
that any client can build them:

===========  ===============================================================  =====================
operation    command (``apply``) / query (``query``)                           answer
===========  ===============================================================  =====================
put          ``b"P" | u16 len(key) | key | value``                             ``b"\\x01"``
append       ``b"A" | u16 len(key) | key | suffix``                            ``b"\\x01"``
cas          ``b"C" | u16 len(key) | key | u8 has_expected |``                 ``b"\\x01"`` swapped,
             ``u32 len(expected) | expected | new``                            ``b"\\x00"`` not
get          ``b"G" | key`` (a query)                                          ``b"\\x00"`` absent,
                                                                               ``b"\\x01" | value``
===========  ===============================================================  =====================

``cas`` with ``has_expected = 0`` swaps only if the key is absent (create).
A malformed command is answered ``b"\\xff" | reason`` on every replica alike.
"""

from __future__ import annotations

import struct

_KEY_LEN = struct.Struct(">H")
_U32 = struct.Struct(">I")

OK = b"\x01"
SWAPPED = b"\x01"
NOT_SWAPPED = b"\x00"
ABSENT = b"\x00"
ERROR = 0xFF


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


def get(key: bytes) -> bytes:
    """The query that reads ``key``."""
    return b"G" + key


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


class KVStateMachine:
    """An in-memory map from bytes to bytes (see the module for the encoding)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def apply(self, command: bytes) -> bytes:
        op = command[:1]
        if len(command) < 3 or op not in b"PAC":
            return _error("unknown command")
        (length,) = _KEY_LEN.unpack_from(command, 1)
        start = 3 + length
        if len(command) < start:
            return _error("key truncated")
        key = command[3:start]
        rest = command[start:]
        if op == b"P":
            self.data[key] = rest
            return OK
        if op == b"A":
            self.data[key] = self.data.get(key, b"") + rest
            return OK
        if len(rest) < 5:
            return _error("cas truncated")
        has_expected = rest[0]
        (expected_len,) = _U32.unpack_from(rest, 1)
        if has_expected not in (0, 1) or len(rest) < 5 + expected_len:
            return _error("cas malformed")
        expected = rest[5 : 5 + expected_len] if has_expected else None
        if self.data.get(key) != expected:
            return NOT_SWAPPED
        self.data[key] = rest[5 + expected_len :]
        return SWAPPED

    def query(self, query: bytes) -> bytes:
        if query[:1] != b"G":
            return _error("unknown query")
        value = self.data.get(query[1:])
        return ABSENT if value is None else b"\x01" + value

    def snapshot(self) -> bytes:
        parts = [_U32.pack(len(self.data))]
        for key in sorted(self.data):
            value = self.data[key]
            parts.append(_U32.pack(len(key)) + key + _U32.pack(len(value)) + value)
        return b"".join(parts)

    def restore(self, data: bytes) -> None:
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
        if offset != len(data):
            raise ValueError("trailing bytes after the key-value snapshot")
        self.data = restored


def _error(reason: str) -> bytes:
    return bytes([ERROR]) + reason.encode()
