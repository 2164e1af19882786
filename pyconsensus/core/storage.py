"""The ``Storage`` protocol and ``MemoryStorage``, an in-memory backend with crash semantics.

One generic shape serves every protocol: a small metadata map (term and vote,
epochs, promised ballot), entries by index (which may have holes: Paxos accepts
slots out of order), and at most one snapshot. Cores only *read* storage, when
they start; every change reaches storage as a ``Write`` from a ``Ready`` batch,
applied by the driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Protocol

from pyconsensus.core.errors import StorageError
from pyconsensus.core.ready import Write
from pyconsensus.core.snapshot_store import MemorySnapshotStore, StoreOp
from pyconsensus.core.snapshots import SnapshotMeta, SnapshotStore
from pyconsensus.core.types import Entry, MetaValue

DEFAULT_INCARNATION: Final = "memory"
"""The incarnation of a ``MemoryStorage`` whose creator named none."""


class Storage(Protocol):
    """Durable state of one node.

    ``write`` is atomic and durable when it returns: after a crash, either all
    of a write is visible or none of it is, and every write that returned is.
    """

    @property
    def incarnation(self) -> str:
        """Who this storage's node is, beyond its id: chosen when the storage
        was created and kept for its whole life. A node whose storage was
        wiped comes back with a new incarnation - a new member, not its old
        self (it must not vote as the node whose votes it forgot)."""
        ...

    def metadata(self) -> Mapping[str, MetaValue]:
        """All metadata keys and values."""
        ...

    def snapshot(self) -> SnapshotMeta | None:
        """The current snapshot, if any (the same as ``snapshots.latest()``)."""
        ...

    @property
    def snapshots(self) -> SnapshotStore:
        """Where this node's snapshot bytes live (complete and being received);
        the ``stage`` part of a ``write`` goes there atomically with the rest."""
        ...

    def first_index(self) -> int:
        """The lowest stored entry index, or ``last_index() + 1`` if none is stored."""
        ...

    def last_index(self) -> int:
        """The highest stored entry index; else the snapshot's index; else 0."""
        ...

    def entries(self, lo: int, hi: int) -> list[Entry]:
        """Stored entries with ``lo <= index < hi`` in index order (holes are skipped)."""
        ...

    def write(self, write: Write) -> None:
        """Apply ``write`` atomically and durably (see ``Write`` for the order of its parts)."""
        ...

    def close(self) -> None:
        """Release resources. The storage must not be used afterwards."""
        ...


class _State:
    """A plain copy of everything a storage holds."""

    __slots__ = ("entries", "first", "last", "metadata", "snapshot")

    def __init__(self) -> None:
        self.metadata: dict[str, MetaValue] = {}
        self.snapshot: SnapshotMeta | None = None
        self.entries: dict[int, Entry] = {}
        self.first = 0  # lowest stored index, meaningful only if entries is non-empty
        self.last = 0  # highest stored index, meaningful only if entries is non-empty

    def copy(self) -> _State:
        other = _State()
        other.metadata = dict(self.metadata)
        other.snapshot = self.snapshot
        other.entries = dict(self.entries)
        other.first = self.first
        other.last = self.last
        return other

    def floor(self) -> int:
        return self.snapshot.index if self.snapshot is not None else 0

    def apply(self, write: Write) -> None:
        # Refuse a bad write before changing anything: writes are atomic.
        floor = write.snapshot.index if write.snapshot is not None else self.floor()
        for entry in write.entries:
            if entry.index <= floor:
                raise StorageError(f"entry {entry.index} is at or below the snapshot index {floor}")
        if write.snapshot is not None:
            self.snapshot = write.snapshot
            self._remove_range(self.first, write.snapshot.index + 1)
        if write.truncate_from is not None:
            self._remove_range(write.truncate_from, self.last + 1)
        entries = self.entries
        for entry in write.entries:
            if not entries:
                self.first = self.last = entry.index
            elif entry.index > self.last:
                self.last = entry.index
            elif entry.index < self.first:
                self.first = entry.index
            entries[entry.index] = entry
        if write.metadata:
            self.metadata.update(write.metadata)

    def _remove_range(self, lo: int, hi: int) -> None:
        """Remove stored entries with ``lo <= index < hi`` and fix first/last."""
        entries = self.entries
        if not entries:
            return
        lo = max(lo, self.first)
        hi = min(hi, self.last + 1)
        if lo >= hi:
            return
        if hi - lo >= len(entries):
            for index in [i for i in entries if lo <= i < hi]:
                del entries[index]
        else:
            for index in range(lo, hi):
                entries.pop(index, None)
        if not entries:
            return
        if lo <= self.first:
            self.first = next(i for i in range(hi, self.last + 1) if i in entries)
        if hi > self.last:
            self.last = next(i for i in range(lo - 1, self.first - 1, -1) if i in entries)


class MemoryStorage:
    """In-memory ``Storage`` that models what a crash loses.

    ``write`` is stage-then-sync. The simulator can also ``stage`` a write without
    syncing it and then ``crash()``: staged writes vanish, synced ones survive,
    exactly like data that reached the page cache but not the disk.

    ``incarnation`` is given by the creator (the core draws no randomness of
    its own): the simulator or a test names each life of a node's storage.
    """

    def __init__(self, incarnation: str = DEFAULT_INCARNATION) -> None:
        if type(incarnation) is not str or not incarnation:
            raise StorageError(f"an incarnation is a non-empty str, got {incarnation!r}")
        self._incarnation = incarnation
        self._durable = _State()
        self._visible: _State | None = None  # None while nothing is staged
        self._staged: list[Write] = []
        self._snapshots = MemorySnapshotStore()
        self.writes = 0
        self.syncs = 0

    @property
    def _view(self) -> _State:
        return self._visible if self._visible is not None else self._durable

    # -- reading ---------------------------------------------------------

    @property
    def incarnation(self) -> str:
        return self._incarnation

    @property
    def snapshots(self) -> MemorySnapshotStore:
        """This storage's snapshot store: the ``stage`` parts of its writes
        go there, staged and synced with the rest of each write."""
        return self._snapshots

    def metadata(self) -> Mapping[str, MetaValue]:
        return dict(self._view.metadata)

    def snapshot(self) -> SnapshotMeta | None:
        return self._view.snapshot

    def first_index(self) -> int:
        view = self._view
        return view.first if view.entries else self.last_index() + 1

    def last_index(self) -> int:
        view = self._view
        return view.last if view.entries else view.floor()

    def entries(self, lo: int, hi: int) -> list[Entry]:
        view = self._view
        if not view.entries:
            return []
        lo = max(lo, view.first)
        hi = min(hi, view.last + 1)
        stored = view.entries
        return [stored[i] for i in range(lo, hi) if i in stored]

    # -- writing ---------------------------------------------------------

    def write(self, write: Write) -> None:
        if self._visible is not None:
            self.stage(write)
            self.sync()
            return
        self.writes += 1
        self.syncs += 1
        self._snapshots.apply(_store_ops(write))
        try:
            self._durable.apply(write)
        except StorageError:
            self._snapshots.crash()  # nothing else is pending: undo this write's part
            raise
        self._snapshots.sync()

    def stage(self, write: Write) -> None:
        """Apply ``write`` so reads see it, without making it durable."""
        if self._visible is None:
            self._visible = self._durable.copy()
        self._snapshots.apply(_store_ops(write))
        self._visible.apply(write)
        self._staged.append(write)
        self.writes += 1

    def sync(self, count: int | None = None) -> None:
        """Make the oldest ``count`` staged writes durable (default: all of them)."""
        if self._visible is None:
            return
        done = self._staged if count is None else self._staged[:count]
        for write in done:
            self._durable.apply(write)
        self._snapshots.sync(sum(len(_store_ops(write)) for write in done))
        del self._staged[: len(done)]
        # The visible state stays (now equal to the durable one when nothing is
        # staged): copying the durable state for every staged write would cost
        # the whole log each time. Only a crash drops it.
        self.syncs += 1

    def is_staged(self, write: Write) -> bool:
        """Whether ``write`` (this very object) is staged and not yet durable."""
        return any(staged is write for staged in self._staged)

    def has_staged(self) -> bool:
        """Whether a staged write is not yet durable."""
        return bool(self._staged)

    def durable(self) -> MemoryStorage:
        """A read-only look at what would survive a crash right now (it shares
        this storage's durable state: never write through it)."""
        view = MemoryStorage(self._incarnation)
        view._durable = self._durable
        view._snapshots = self._snapshots
        return view

    def crash(self) -> None:
        """Lose everything that was staged but not synced."""
        self._staged.clear()
        self._visible = None
        self._snapshots.crash()

    def close(self) -> None:
        pass


def _store_ops(write: Write) -> list[StoreOp]:
    """The parts of ``write`` that its snapshot store applies."""
    ops: list[StoreOp] = []
    if write.snapshot is not None:
        ops.append(write.snapshot)
    if write.stage is not None:
        ops.append(write.stage)
    return ops
