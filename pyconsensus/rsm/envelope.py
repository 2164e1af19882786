"""The session envelope: how a client command travels through the log.

Every command a ``ReplicatedStateMachine`` proposes is wrapped so that every
replica can tell who sent it and whether it has seen it before. The encoding is
fixed-width binary (big-endian), independent of any wire codec::

    offset  size  field
    0       1     format tag 0xC1 (session command, version 1)
    1       8     client_id       unsigned; chosen by the client, unique per session
    9       8     seq             unsigned, >= 1; the client's sequence number
    17      8     first_unacked   unsigned, 1 <= first_unacked <= seq: the lowest
                                  sequence number whose answer the client still waits for
    25      ...   payload         the application's command, passed to ``StateMachine.apply``

A retry re-sends the command with the same ``seq``, so it is de-duplicated.

When sessions expire by time, the node that proposes the command (the leader;
with ZAB, which forwards inside its core, the node the client reached) stamps
it with its clock, and the entry uses format tag 0xC2 instead::

    0       1     format tag 0xC2 (stamped session command)
    1       24    client_id, seq, first_unacked, as above
    25      8     time_ms         the proposing leader's clock, in milliseconds
    33      4     timeout_ms      >= 1: sessions silent for longer are forgotten
    37      ...   payload

The timeout travels with the time so that every replica expires sessions by
the log alone: replicas configured differently still agree.
"""

from __future__ import annotations

import struct

import attrs

TAG = 0xC1
STAMPED_TAG = 0xC2
_HEADER = struct.Struct(">BQQQ")
_STAMP = struct.Struct(">QI")
HEADER_SIZE = _HEADER.size
STAMPED_HEADER_SIZE = HEADER_SIZE + _STAMP.size
MAX_TIMEOUT_MS = 0xFFFFFFFF


@attrs.frozen(slots=True)
class SessionCommand:
    """One client command with its session coordinates."""

    client_id: int
    seq: int
    payload: bytes
    first_unacked: int = 0
    """0 means "same as ``seq``": the client waits for no earlier answer."""

    def encode(self) -> bytes:
        """The entry data to propose."""
        first = self.first_unacked or self.seq
        return _HEADER.pack(TAG, self.client_id, self.seq, first) + self.payload


@attrs.frozen(slots=True)
class Stamp:
    """What the proposing leader adds to a command when sessions expire by
    time: its clock reading and the timeout in force, in milliseconds."""

    time_ms: int
    timeout_ms: int

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.time_ms < 1 << 64:
            raise ValueError(f"time_ms must fit 64 unsigned bits, got {self.time_ms}")
        if not 1 <= self.timeout_ms <= MAX_TIMEOUT_MS:
            raise ValueError(f"timeout_ms must be 1..{MAX_TIMEOUT_MS}, got {self.timeout_ms}")


def encode_stamped(command: SessionCommand, stamp: Stamp) -> bytes:
    """The entry data of ``command`` stamped with ``stamp`` (format 0xC2)."""
    first = command.first_unacked or command.seq
    header = _HEADER.pack(STAMPED_TAG, command.client_id, command.seq, first)
    return header + _STAMP.pack(stamp.time_ms, stamp.timeout_ms) + command.payload


def decode(data: bytes) -> SessionCommand | None:
    """The command in ``data``, or ``None`` if it is not a valid envelope."""
    decoded = decode_entry(data)
    return None if decoded is None else decoded[0]


def decode_entry(data: bytes) -> tuple[SessionCommand, Stamp | None] | None:
    """The command in ``data`` and its stamp (``None``: unstamped), or ``None``
    if ``data`` is not a valid envelope of either format."""
    if len(data) < HEADER_SIZE:
        return None
    tag, client_id, seq, first = _HEADER.unpack_from(data)
    if seq < 1 or not 1 <= first <= seq:
        return None
    if tag == TAG:
        return SessionCommand(client_id, seq, data[HEADER_SIZE:], first), None
    if tag != STAMPED_TAG or len(data) < STAMPED_HEADER_SIZE:
        return None
    time_ms, timeout_ms = _STAMP.unpack_from(data, HEADER_SIZE)
    if timeout_ms < 1:
        return None
    command = SessionCommand(client_id, seq, data[STAMPED_HEADER_SIZE:], first)
    return command, Stamp(time_ms, timeout_ms)


def valid_coordinates(client_id: int, seq: int, first_unacked: int) -> bool:
    """Whether the numbers fit the envelope and obey its rules."""
    limit = 1 << 64
    first = first_unacked or seq
    return 0 <= client_id < limit and 1 <= seq < limit and 1 <= first <= seq
