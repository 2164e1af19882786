"""Length-prefixed frames over a trio stream.

On the wire every frame is ``u32 length (big-endian) | codec frame``, the codec
frame being a ``pyconsensus.adapters.cbor`` frame (version byte, type tag,
CBOR body). ``FrameReader`` cuts the byte stream into frames and refuses a
length over the limit before reading the body; ``FrameSender`` queues encoded
frames (bounded) and writes everything queued with one ``send_all``.

A sender may be *eager* (given a ``Flusher``): instead of waking its writer task
for every frame, it marks itself dirty, and whoever owns the flusher (the node's
driver loop) calls ``Flusher.flush()`` at the end of a batch. Each dirty sender
then writes what it has queued straight into its socket - one ``send`` system
call, no task switch (through TLS too: ``TlsSocketStream.send_nowait``
encrypts and writes in the same call). Only what the kernel does not take at
once (a full socket buffer) is left to the writer task.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from typing import Final

import trio

from pyconsensus.adapters.trio.loop import Wakeup
from pyconsensus.core.errors import ConsensusError

PREFIX: Final = struct.Struct(">I")

DirectWrite = Callable[[bytes], int]
"""Writes what it can of ``data`` into a stream at once and returns how many
bytes it took; ``BlockingIOError`` if none (the caller keeps all of ``data``
and offers it again, as a prefix of what it sends next), another ``OSError``
if the connection is broken."""
_RECEIVE_BYTES: Final = 1 << 18


class FrameError(ConsensusError):
    """The peer sent something that is not a valid frame; the connection is closed."""


class FrameTooLarge(FrameError):
    """A frame's length prefix exceeds the limit."""


def prefixed(frame: bytes) -> bytes:
    """``frame`` with its length prefix."""
    return PREFIX.pack(len(frame)) + frame


class ReceiveBudget:
    """The bytes that large frames still arriving may hold, over all of a
    node's connections: without it, every connection could park a frame
    just under ``max_frame_bytes`` and dribble its body, and memory would
    grow with the number of connections."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give(self, size: int) -> None:
        self.used -= size


LARGE_FRAME: Final = 1 << 16
"""Frames from this size on are reserved in a ``ReceiveBudget`` while they arrive."""


class FrameReader:
    """Reads whole frames (without their prefix) from ``stream``.

    With a ``budget``, a large frame reserves its length there before its
    body is read (``FrameTooLarge`` if the node has no room left); call
    ``release`` when the connection ends.
    """

    def __init__(
        self,
        stream: trio.abc.ReceiveStream,
        max_frame_bytes: int,
        budget: ReceiveBudget | None = None,
    ) -> None:
        self.stream = stream
        self.max_frame_bytes = max_frame_bytes
        self.budget = budget
        self._reserved = 0
        self._buffer = bytearray()
        self._ready: deque[bytes] = deque()

    def release(self) -> None:
        """Give back what a frame still arriving reserved (the connection ended)."""
        if self._reserved and self.budget is not None:
            self.budget.give(self._reserved)
        self._reserved = 0

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
                if length >= LARGE_FRAME and not self._reserved:
                    self._reserve(length)
                break
            self._ready.append(bytes(buffer[pos + 4 : end]))
            pos = end
            if self._reserved:
                self.release()
        if pos == size:
            self._buffer = bytearray()  # a fresh buffer: a burst's capacity is returned
        elif pos:
            del buffer[:pos]

    def _reserve(self, length: int) -> None:
        budget = self.budget
        if budget is None:
            return
        if not budget.take(length):
            raise FrameTooLarge(
                f"a frame of {length} bytes does not fit the node's receive budget "
                f"({budget.used} of {budget.limit} bytes held by frames still arriving)"
            )
        self._reserved = length


class Flusher:
    """The senders that have frames queued since the last ``flush``.

    ``wake`` is called when the first sender becomes dirty, so that the owner
    flushes soon even when the frame was queued outside its loop.
    """

    __slots__ = ("_dirty", "_wake", "syscalls")

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self._dirty: list[FrameSender] = []
        self.syscalls = 0

    def mark(self, sender: FrameSender) -> None:
        if not self._dirty:
            self._wake()
        self._dirty.append(sender)

    def flush(self) -> None:
        """Write every dirty sender's queue into its socket, as far as the kernel takes it."""
        dirty = self._dirty
        if not dirty:
            return
        self._dirty = []
        for sender in dirty:
            if sender.flush_now():
                self.syscalls += 1


class FrameSender:
    """A bounded queue of frames, written by one task.

    ``put`` never blocks: when the queue holds ``max_frames`` frames or
    ``max_bytes`` bytes, the new frame is dropped and counted in ``dropped``
    (a slow or dead peer must not stall the node nor grow its memory). ``run``
    writes everything queued at each wake-up with a single ``send_all``. With a
    ``flusher`` the sender is eager (see the module docstring).
    """

    def __init__(self, max_frames: int, max_bytes: int, flusher: Flusher | None = None) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.queued_bytes = 0
        self.sent_frames = 0
        self.dropped = 0
        self._frames: list[bytes] = []
        self._wakeup = Wakeup()
        self._closed = False
        self._flusher = flusher
        # Writes into the stream at once, while ``run`` owns a stream and is idle.
        self._direct: DirectWrite | None = None
        self._sending = False

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
            if self._flusher is not None:
                self._flusher.mark(self)
            else:
                self._wakeup.wake()
        return True

    def flush_now(self) -> bool:
        """Write the queue into the socket without waiting (eager senders); what
        the kernel does not take is left to the writer task. True if a system
        call was made."""
        frames = self._frames
        direct = self._direct
        if not frames:
            return False
        if direct is None or self._sending:
            self._wakeup.wake()  # not connected or mid-write: the writer takes it
            return False
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        try:
            sent = direct(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            # A broken connection: the writer's send_all raises and handles it.
            self._frames = [data]
            self._wakeup.wake()
            return True
        if sent == len(data):
            self._frames = []
            self.queued_bytes = 0
            self.sent_frames += len(frames)
        else:
            self._frames = [data[sent:]]
            self.queued_bytes = len(data) - sent
            self._wakeup.wake()
        return True

    def clear(self) -> None:
        """Forget everything queued (counted as dropped)."""
        self.dropped += len(self._frames)
        self._frames = []
        self.queued_bytes = 0

    def close(self) -> None:
        """Refuse further frames and wake the writer so that it returns."""
        self._closed = True
        self._wakeup.wake()

    async def run(self, stream: trio.abc.SendStream, direct: DirectWrite | None = None) -> None:
        """Write queued frames to ``stream`` until ``close()``; stream errors propagate.

        ``direct`` writes into ``stream`` without waiting
        (``transport.direct_write``): an eager sender uses it while this task
        is idle.
        Frames taken for a ``send_all`` that fails are lost (the connection
        broke under them); frames queued meanwhile stay for the next stream.
        """
        try:
            while True:
                while not self._frames:
                    if self._closed:
                        return
                    if direct is not None and self._flusher is not None:
                        self._direct = direct
                    await self._wakeup.park()
                if self._closed:
                    return
                frames = self._frames
                self._frames = []
                self.queued_bytes = 0
                data = frames[0] if len(frames) == 1 else b"".join(frames)
                self._sending = True
                try:
                    await stream.send_all(data)
                finally:
                    self._sending = False
                self.sent_frames += len(frames)
        finally:
            self._direct = None
