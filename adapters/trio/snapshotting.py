"""Snapshots taken off the event loop, and a gauge of how long the loop stalls.

``take_snapshot`` is how the runtime compacts: it asks the state machine for a
point-in-time ``SnapshotSource`` in the loop (quick, see
``pyconsensus.rsm.streaming``), streams the source into the snapshot store in
a worker thread (``trio.to_thread``), and closes the source back in the loop.
The loop goes on ticking, receiving and applying meanwhile; a worker thread
still competes for the GIL, which is why ``LoopStallGauge`` exists: it
measures the longest time the loop could not run a task.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import trio

from pyconsensus.core.membership import Membership
from pyconsensus.core.snapshots import SnapshotMeta, chunks
from pyconsensus.rsm.streaming import SnapshotSource


class _Writer(Protocol):
    def write(self, data: bytes) -> None: ...
    def finish(self) -> SnapshotMeta: ...
    def abort(self) -> None: ...


class SnapshotStore(Protocol):
    """The part of a snapshot store that writes local snapshots."""

    def create(self, index: int, term: int, membership: Membership | None) -> _Writer: ...


def stream_into(
    store: SnapshotStore,
    source: SnapshotSource,
    index: int,
    term: int,
    membership: Membership | None,
) -> SnapshotMeta:
    """Write ``source``'s bytes into a new local snapshot of ``store`` and
    finish it (durable when it returns); abort it if anything fails. Runs in
    whatever thread calls it."""
    writer = store.create(index, term, membership)
    try:
        for piece in source.chunks():
            writer.write(piece)
        return writer.finish()
    except BaseException:
        writer.abort()
        raise


async def take_snapshot(
    store: SnapshotStore,
    source: SnapshotSource,
    index: int,
    term: int,
    membership: Membership | None = None,
) -> SnapshotMeta:
    """``stream_into`` in a worker thread; the source is closed in the loop
    afterwards, whatever happened. Not cancellable once started (a thread
    cannot be interrupted; the snapshot is finished or aborted first)."""
    try:
        with trio.CancelScope(shield=True):
            meta = await trio.to_thread.run_sync(
                stream_into, store, source, index, term, membership
            )
    finally:
        source.close()
    return meta


class LoopStallGauge:
    """Measures event-loop stalls: a task sleeps ``interval`` again and again
    and records by how much each wake-up was late. ``max_ms`` is the longest
    lateness seen (time the loop could not run it: a callback that ran long,
    a thread that held the GIL, a starved process)."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.max_ms = 0.0
        self.samples = 0

    def reset(self) -> None:
        self.max_ms = 0.0
        self.samples = 0

    async def run(self) -> None:
        """Measure until cancelled."""
        interval = self.interval
        clock = time.perf_counter
        while True:
            start = clock()
            await trio.sleep(interval)
            late = (clock() - start - interval) * 1000
            self.samples += 1
            self.max_ms = max(self.max_ms, late)


def install_and_restore(
    store: Any, meta: SnapshotMeta, restore: Callable[[Iterable[bytes]], None], chunk: int
) -> None:
    """Install ``meta`` if it is the staged snapshot (the store verifies size
    and checksum), then feed its bytes to ``restore`` chunk by chunk. Runs in
    a worker thread; raises ``SnapshotRejected`` and what ``restore`` raises."""
    store.install(meta)
    reader = store.open(meta)
    try:
        restore(piece.data for piece in chunks(reader, chunk))
    finally:
        close = getattr(reader, "close", None)
        if close is not None:
            close()
