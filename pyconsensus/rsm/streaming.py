"""Snapshots that do not stop the node: the streaming side of the state machine contract.

A plain ``StateMachine`` returns its whole state from ``snapshot()`` as one
``bytes`` value, which the driver must build in its event loop and hold whole.
A ``StreamingStateMachine`` instead hands out a point-in-time
``SnapshotSource`` - cheaply, in the loop, between two ``apply`` calls - and
the driver pulls the bytes from it in a worker thread, chunk by chunk, into
the snapshot store, while the node goes on applying commands. Restoring
streams the same way: the machine is fed chunks as they are read from the
store.

What a streaming state machine must guarantee (docs/storage.md, "What a
state machine must do", says it for users):

1. ``snapshot_source()`` is quick: O(1), or proportional to what changed
   since the last snapshot - never to the size of the state. It is called in
   the driver's thread (the event loop) between two ``apply`` calls.
2. The source yields exactly the state as it was when ``snapshot_source()``
   returned, however many ``apply`` calls run while it is read (isolation:
   copy-on-write, an MVCC read transaction, a fork...).
3. ``chunks()`` may run in another thread, concurrently with ``apply``,
   ``query`` and ``snapshot_source`` in the driver's thread; it must not
   change the machine, and what it reads must be safe to read while they run.
4. ``close()`` is called exactly once, in the driver's thread, after the
   chunks were read or the snapshot abandoned; it releases what the source
   held (and may fold changes made meanwhile back into the machine).
5. ``restore_chunks(chunks)`` replaces the whole state with the one a source
   yielded, consuming the chunks in order; their boundaries are arbitrary.
   No ``apply`` runs while it does, and no source is open.

The bytes must be deterministic only in what they mean: replicas may order
them differently, since a restore rebuilds the same state from any of them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Final, Protocol, runtime_checkable

from pyconsensus.rsm.machine import StateMachine

DEFAULT_PIECE_BYTES: Final = 256 * 1024
"""About how many bytes a source built in this package yields at a time."""


class SnapshotSource(Protocol):
    """A point-in-time view of a state machine's state, read as a stream."""

    def chunks(self) -> Iterator[bytes]:
        """The state's bytes, in pieces of any size (may run in a worker thread)."""
        ...

    def close(self) -> None:
        """Release the view (in the driver's thread, exactly once)."""
        ...


@runtime_checkable
class StreamingStateMachine(StateMachine, Protocol):
    """A ``StateMachine`` that can be snapshotted and restored as a stream."""

    def snapshot_source(self) -> SnapshotSource:
        """A point-in-time source of the current state; quick (see the module)."""
        ...

    def restore_chunks(self, chunks: Iterable[bytes]) -> None:
        """Replace the whole state with the one ``chunks`` (a source's bytes) hold."""
        ...


class BytesSource:
    """A ``SnapshotSource`` over bytes already taken (a plain ``StateMachine``'s
    ``snapshot()``: the copy is made in the loop, as before streaming)."""

    __slots__ = ("data", "piece")

    def __init__(self, data: bytes, piece: int = DEFAULT_PIECE_BYTES) -> None:
        self.data = data
        self.piece = piece

    def chunks(self) -> Iterator[bytes]:
        view = memoryview(self.data)
        for start in range(0, len(view), self.piece):
            yield bytes(view[start : start + self.piece])

    def close(self) -> None:
        self.data = b""


def source_of(machine: StateMachine) -> SnapshotSource:
    """The machine's own source if it streams, else its ``snapshot()`` bytes."""
    if isinstance(machine, StreamingStateMachine):
        return machine.snapshot_source()
    return BytesSource(machine.snapshot())


def restore_from(machine: StateMachine, chunks: Iterable[bytes]) -> None:
    """Restore ``machine`` from ``chunks``: streamed if it streams, else joined."""
    if isinstance(machine, StreamingStateMachine):
        machine.restore_chunks(chunks)
    else:
        machine.restore(b"".join(chunks))


class ChunkReader:
    """Reads fixed-size fields from a stream of chunks of arbitrary sizes,
    holding at most one field and one chunk at a time."""

    __slots__ = ("_buffer", "_chunks", "consumed")

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self.consumed = 0

    def read(self, size: int) -> bytes | None:
        """Exactly ``size`` bytes; ``None`` at a clean end of the stream;
        ``ValueError`` if it ends in the middle."""
        buffer = self._buffer
        while len(buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                if buffer:
                    raise ValueError(f"the stream ends {len(buffer)} bytes into a field")
                return None
            buffer += chunk
        data = bytes(buffer[:size])
        del buffer[:size]
        self.consumed += size
        return data

    def read_exact(self, size: int, what: str) -> bytes:
        data = self.read(size)
        if data is None:
            raise ValueError(f"the stream ends before {what}")
        return data

    def rest(self) -> Iterator[bytes]:
        """The remaining bytes, chunk by chunk."""
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            self.consumed += len(data)
            yield data
        for chunk in self._chunks:
            self.consumed += len(chunk)
            yield chunk


U32: Final = struct.Struct(">I")


def records(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """``(key, value)`` pairs of a stream of ``u32 len | key | u32 len | value``
    records (the key-value machine's snapshot, after its count)."""
    reader = ChunkReader(chunks)
    while (head := reader.read(U32.size)) is not None:
        key = reader.read_exact(U32.unpack(head)[0], "a key")
        (length,) = U32.unpack(reader.read_exact(U32.size, "a value's length"))
        yield key, reader.read_exact(length, "a value")


class PrefixedSource:
    """A source that yields ``prefix`` and then ``inner``'s bytes (a layer's
    own header before the application's state)."""

    __slots__ = ("inner", "prefix")

    def __init__(self, prefix: bytes, inner: SnapshotSource) -> None:
        self.prefix = prefix
        self.inner = inner

    def chunks(self) -> Iterator[bytes]:
        yield self.prefix
        yield from self.inner.chunks()

    def close(self) -> None:
        self.inner.close()
