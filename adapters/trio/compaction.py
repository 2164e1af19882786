"""The runtime's side of snapshots: compaction off the event loop, and
installing a received snapshot with a streamed restore.

``SnapshotDriver`` is what ``Node`` delegates to (issue 15):

* **Compaction.** Every ``compact_every`` applied entries, ``compact`` takes
  the replicated state machine's point-in-time source in the loop, streams
  it into ``storage.snapshots`` in a worker thread (``take_snapshot``) while
  the node goes on, and then hands the snapshot's metadata to the core
  (``core.compact(index, meta)``), whose next write makes it current and
  drops the log up to it. One compaction at a time.
* **Restore.** For a ``Ready.restore`` (a snapshot received and staged, or
  the current one at start-up), ``restore`` installs it - the store reads
  every staged byte back and checks size and checksum - and feeds it to the
  state machine chunk by chunk, both in a worker thread; then it tells the
  core ``snapshot_installed(meta)``, or ``snapshot_rejected(meta, reason)``
  if the store or the state machine refused it (counted, logged, never
  fatal: the transfer starts again).
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from pyconsensus.adapters.trio.snapshotting import install_and_restore, take_snapshot
from pyconsensus.core.errors import SnapshotRejected, StorageError
from pyconsensus.core.membership import membership_at
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.storage import Storage
from pyconsensus.rsm import ReplicatedStateMachine
from pyconsensus.rsm.errors import MalformedCommand

RESTORE_CHUNK_BYTES = 1 << 20
"""How much of a snapshot is read and fed to the state machine at a time."""

log = logging.getLogger("pyconsensus.trio.snapshots")


class SnapshotDriver:
    """Compaction and restores of one node (see the module docstring)."""

    def __init__(
        self,
        core: Any,
        rsm: ReplicatedStateMachine,
        storage: Storage,
        *,
        compact_every: int,
        counters: Counter[str],
        wake: Callable[[], None],
    ) -> None:
        self.core = core
        self.rsm = rsm
        self.storage = storage
        self.compact_every = compact_every
        self.counters = counters
        self.wake = wake
        self.busy = False

    def due(self) -> bool:
        """Whether a compaction should start now."""
        rsm = self.rsm
        return (
            bool(self.compact_every)
            and not self.busy
            and rsm.applied - rsm.snapshot_index >= self.compact_every
        )

    def maybe_start(self, start_soon: Callable[[Callable[[], Awaitable[None]]], None]) -> None:
        """Start a compaction task if one is due (and none is running)."""
        if self.due():
            self.busy = True  # now, not when the task first runs
            start_soon(self.compact)

    async def compact(self) -> None:
        """Snapshot the state machine off the loop, then compact the core's log."""
        self.busy = True
        rsm = self.rsm
        index, term = rsm.applied, rsm.applied_term
        try:
            source = rsm.snapshot_source()
            membership = membership_at(self.core, index)
            meta = await take_snapshot(self.storage.snapshots, source, index, term, membership)
        except (StorageError, OSError) as exc:
            self.counters["snapshots.failed"] += 1
            log.error("snapshot at index %d failed: %s", index, exc)
            return
        finally:
            self.busy = False
        if rsm.snapshot_index >= index:
            return  # a restore overtook it meanwhile
        self.core.compact(index, meta)
        rsm.snapshot_index = index
        self.counters["snapshots.taken"] += 1
        self.counters["snapshots.bytes"] += meta.size
        log.info("snapshot at index %d taken (%d bytes)", index, meta.size)
        self.wake()

    async def restore(self, meta: SnapshotMeta) -> bool:
        """Install ``meta`` and restore the state machine from it, off the
        loop; tell the core how it went. True if the machine holds it now."""
        restore = functools.partial(self.rsm.restore_chunks, meta)
        try:
            await trio.to_thread.run_sync(
                install_and_restore,
                self.storage.snapshots,
                meta,
                restore,
                RESTORE_CHUNK_BYTES,
            )
        except (SnapshotRejected, MalformedCommand, StorageError, OSError) as exc:
            self.counters["snapshots.rejected"] += 1
            log.warning("snapshot at index %d rejected: %s", meta.index, exc)
            self.core.snapshot_rejected(meta, str(exc))
            self.wake()
            return False
        self.counters["snapshots.installed"] += 1
        log.info("snapshot at index %d installed (%d bytes)", meta.index, meta.size)
        self.core.snapshot_installed(meta)
        self.wake()
        return True
