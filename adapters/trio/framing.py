"""Length-prefixed frames over a trio stream.

On the wire every frame is ``u32 length (big-endian) | codec frame``, the codec
frame being a ``pyconsensus.adapters.cbor`` frame (version byte, type tag,
CBOR body). ``FrameReader`` cuts the byte stream into frames and refuses a
length over the limit before reading the body; ``FrameSender`` queues encoded
frames (bounded) and writes everything queued with one ``send_all``.
"""

from __future__ import annotations

import struct
from collections import deque
from typing import Final

import trio

from pyconsensus.core.errors import ConsensusError

PREFIX: Final = struct.Struct(">I")
_RECEIVE_BYTES: Final = 1 << 18


class FrameError(ConsensusError):
    """The peer sent something that is not a valid frame; the connection is closed."""


class FrameTooLarge(FrameError):
    """A frame's length prefix exceeds the limit."""


def prefixed(frame: bytes) -> bytes:
    """``frame`` with its length prefix."""
    return PREFIX.pack(len(frame)) + frame


class FrameReader:
    """Reads whole frames (without their prefix) from ``stream``."""

    def __init__(self, stream: trio.abc.ReceiveStream, max_frame_bytes: int) -> None:
        self.stream = stream
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._ready: deque[bytes] = deque()

    async def receive(self) -> list[bytes]:
        """Every complete frame available now (waiting for at least one).

        Raises ``FrameTooLarge`` for an oversized length, ``EOFError`` when the
        peer closed the stream (cleanly or in the middle of a frame), and
        ``trio.BrokenResourceError`` on a broken connection.
        """
        while not self._ready:
            data = await self.stream.receive_some(_RECEIVE_BYTES)
            if not data:
                raise EOFError("connection closed by the peer")
            self._buffer += data
            self._cut()
        frames = list(self._ready)
        self._ready.clear()
        return frames

    async def receive_one(self) -> bytes:
        """The next frame (for handshakes)."""
        if not self._ready:
            for frame in await self.receive():
                self._ready.append(frame)
        return self._ready.popleft()

    def _cut(self) -> None:
        buffer = self._buffer
        size = len(buffer)
        pos = 0
        limit = self.max_frame_bytes
        while size - pos >= 4:
            (length,) = PREFIX.unpack_from(buffer, pos)
            if length > limit:
                raise FrameTooLarge(f"frame of {length} bytes exceeds the limit of {limit}")
            end = pos + 4 + length
            if end > size:
                break
            self._ready.append(bytes(buffer[pos + 4 : end]))
            pos = end
        if pos:
            del buffer[:pos]


class FrameSender:
    """A bounded queue of frames, written by one task.

    ``put`` never blocks: when the queue holds ``max_frames`` frames or
    ``max_bytes`` bytes, the new frame is dropped and counted in ``dropped``
    (a slow or dead peer must not stall the node nor grow its memory). ``run``
    writes everything queued at each wake-up with a single ``send_all``.
    """

    def __init__(self, max_frames: int, max_bytes: int) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.queued_bytes = 0
        self.sent_frames = 0
        self.dropped = 0
        self._frames: list[bytes] = []
        self._lot = trio.lowlevel.ParkingLot()
        self._closed = False

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, frame: bytes) -> bool:
        """Queue ``frame`` (already prefixed); False if it was dropped."""
        if (
            self._closed
            or len(self._frames) >= self.max_frames
            or self.queued_bytes + len(frame) > self.max_bytes
        ):
            self.dropped += 1
            return False
        self._frames.append(frame)
        self.queued_bytes += len(frame)
        if len(self._frames) == 1:
            self._lot.unpark_all()
        return True

    def clear(self) -> None:
        """Forget everything queued (counted as dropped)."""
        self.dropped += len(self._frames)
        self._frames = []
        self.queued_bytes = 0

    def close(self) -> None:
        """Refuse further frames and wake the writer so that it returns."""
        self._closed = True
        self._lot.unpark_all()

    async def run(self, stream: trio.abc.SendStream) -> None:
        """Write queued frames to ``stream`` until ``close()``; stream errors propagate.

        Frames taken for a ``send_all`` that fails are lost (the connection
        broke under them); frames queued meanwhile stay for the next stream.
        """
        while True:
            while not self._frames:
                if self._closed:
                    return
                await self._lot.park()
            if self._closed:
                return
            frames = self._frames
            self._frames = []
            self.queued_bytes = 0
            data = frames[0] if len(frames) == 1 else b"".join(frames)
            await stream.send_all(data)
            self.sent_frames += len(frames)
