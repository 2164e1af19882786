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
"""

from __future__ import annotations

import struct

import attrs

TAG = 0xC1
_HEADER = struct.Struct(">BQQQ")
HEADER_SIZE = _HEADER.size


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


def decode(data: bytes) -> SessionCommand | None:
    """The command in ``data``, or ``None`` if it is not a valid envelope."""
    if len(data) < HEADER_SIZE or data[0] != TAG:
        return None
    _, client_id, seq, first = _HEADER.unpack_from(data)
    if seq < 1 or not 1 <= first <= seq:
        return None
    return SessionCommand(client_id, seq, data[HEADER_SIZE:], first)


def valid_coordinates(client_id: int, seq: int, first_unacked: int) -> bool:
    """Whether the numbers fit the envelope and obey its rules."""
    limit = 1 << 64
    first = first_unacked or seq
    return 0 <= client_id < limit and 1 <= seq < limit and 1 <= first <= seq
