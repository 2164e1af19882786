"""``MemorySnapshotStore``: the simulator's ``SnapshotStore``, with crash semantics.

Three kinds of state, each as durable as its real counterpart would be:

* complete snapshots (``finish``, ``install``): durable when the call returns;
* which snapshot is current (``Write.snapshot``) and the staged bytes of one
  being received (``Write.stage``): they change with the owner's writes, so
  the owning ``MemoryStorage`` applies them as *pending* operations and makes
  them durable with ``sync`` - a ``crash`` loses what was not synced, like
  the rest of an unsynced write.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

from pyconsensus.core.errors import CorruptSnapshot, SnapshotRejected, StorageError
from pyconsensus.core.membership import Membership
from pyconsensus.core.snapshots import (
    BytesReader,
    Checksum,
    SnapshotMeta,
    SnapshotReader,
    SnapshotStage,
)

StoreOp = SnapshotMeta | SnapshotStage
"""A pending change: a ``SnapshotMeta`` becomes current, a ``SnapshotStage`` is staged."""


class _View:
    """Which snapshot is current and what is staged (durable or visible)."""

    __slots__ = ("latest", "staged", "staging")

    def __init__(self) -> None:
        self.latest: SnapshotMeta | None = None
        self.staging: SnapshotMeta | None = None
        self.staged: list[bytes] = []

    def copy(self) -> _View:
        other = _View()
        other.latest, other.staging, other.staged = self.latest, self.staging, list(self.staged)
        return other

    def staged_size(self) -> int:
        return sum(len(part) for part in self.staged)

    def apply(self, op: StoreOp) -> None:
        if isinstance(op, SnapshotMeta):
            self.latest = op
            if self.staging is not None and self.staging.index <= op.index:
                self.discard_staging()  # superseded by what is now current
            return
        if op.meta != self.staging:
            if op.offset != 0:
                raise StorageError(
                    f"stage at offset {op.offset} of a snapshot at {op.meta.index} "
                    "that is not being staged"
                )
            self.staging, self.staged = op.meta, []
        size = self.staged_size()
        if op.offset != size:
            raise StorageError(f"stage at offset {op.offset}, but {size} bytes are staged")
        self.staged.append(op.data)

    def discard_staging(self) -> None:
        self.staging, self.staged = None, []


class BufferedWriter:
    """A ``SnapshotWriter`` that collects the pieces and hands the whole
    snapshot to ``keep`` on ``finish`` (stores that keep bytes in memory)."""

    __slots__ = ("_checksum", "_done", "_index", "_keep", "_membership", "_parts", "_term")

    def __init__(
        self,
        keep: Callable[[SnapshotMeta, bytes], None],
        index: int,
        term: int,
        membership: Membership | None,
    ) -> None:
        self._keep = keep
        self._index, self._term, self._membership = index, term, membership
        self._parts: list[bytes] = []
        self._checksum = Checksum()
        self._done = False

    def write(self, data: bytes) -> None:
        if self._done:
            raise StorageError("write to a finished or aborted snapshot")
        self._parts.append(bytes(data))
        self._checksum.update(data)

    def finish(self) -> SnapshotMeta:
        if self._done:
            raise StorageError("finish of a finished or aborted snapshot")
        self._done = True
        data = b"".join(self._parts)
        meta = SnapshotMeta(
            self._index, self._term, self._membership, len(data), self._checksum.value()
        )
        self._keep(meta, data)
        return meta

    def abort(self) -> None:
        self._done = True
        self._parts = []


class MemorySnapshotStore:
    """In-memory ``SnapshotStore`` that models what a crash loses (see the
    module docstring). ``MemoryStorage`` owns one; it can also be used alone,
    driving ``apply``/``sync``/``crash`` itself."""

    def __init__(self) -> None:
        self._complete: dict[SnapshotMeta, bytes] = {}
        self._durable = _View()
        self._visible: _View | None = None  # None while nothing is pending
        self._pending: list[StoreOp] = []
        self.installed = 0
        self.rejected = 0

    @property
    def _view(self) -> _View:
        return self._visible if self._visible is not None else self._durable

    # -- the SnapshotStore protocol ---------------------------------------

    def create(self, index: int, term: int, membership: Membership | None) -> BufferedWriter:
        return BufferedWriter(self.keep, index, term, membership)

    def latest(self) -> SnapshotMeta | None:
        return self._view.latest

    def open(self, meta: SnapshotMeta) -> SnapshotReader:
        data = self._complete.get(meta)
        if data is None:
            raise SnapshotRejected(meta.index, "this store holds no such snapshot")
        return BytesReader(data)

    def staged(self) -> tuple[SnapshotMeta, int] | None:
        view = self._view
        if view.staging is None:
            return None
        return view.staging, view.staged_size()

    def install(self, meta: SnapshotMeta) -> None:
        if meta in self._complete:
            return
        view = self._view
        if view.staging != meta:
            self.rejected += 1
            raise SnapshotRejected(meta.index, "it is not the snapshot being staged")
        data = b"".join(view.staged)
        problem = _mismatch(meta, data)
        if problem is not None:
            self.rejected += 1
            self._discard_staging()
            raise CorruptSnapshot(meta.index, problem)
        self.keep(meta, data)
        self._discard_staging()
        self.installed += 1

    # -- driven by the owning storage -------------------------------------

    def keep(self, meta: SnapshotMeta, data: bytes) -> None:
        """Hold ``data`` durably as the complete snapshot ``meta``."""
        self._complete[meta] = data

    def apply(self, ops: Iterable[StoreOp]) -> None:
        """Apply ``ops`` so that reads see them, without making them durable;
        ``StorageError`` (and nothing applied) if one does not fit."""
        ops = list(ops)
        if not ops:
            return
        for op in ops:
            if isinstance(op, SnapshotMeta) and op not in self._complete:
                raise StorageError(f"snapshot at {op.index} is not complete in the store")
        trial = self._view.copy()
        for op in ops:
            trial.apply(op)
        self._visible = trial
        self._pending.extend(ops)

    def sync(self, count: int | None = None) -> None:
        """Make the oldest ``count`` pending operations durable (default: all)."""
        done = self._pending if count is None else self._pending[:count]
        for op in done:
            # A stage for a snapshot installed or discarded meanwhile no longer fits.
            with contextlib.suppress(StorageError):
                self._durable.apply(op)
        del self._pending[: len(done)]
        if not self._pending:
            self._visible = None
        self._forget_old()

    def crash(self) -> None:
        """Lose every pending operation."""
        self._pending.clear()
        self._visible = None

    def pending(self) -> int:
        """How many operations are not yet durable."""
        return len(self._pending)

    def durable_latest(self) -> SnapshotMeta | None:
        """The current snapshot as a crash would leave it."""
        return self._durable.latest

    def _discard_staging(self) -> None:
        # Installing (or rejecting) is durable at once, like a real store's
        # rename or delete: both views lose the staging area.
        self._durable.discard_staging()
        if self._visible is not None:
            self._visible.discard_staging()

    def _forget_old(self) -> None:
        """Drop complete snapshots older than the durable current one."""
        latest = self._durable.latest
        if latest is None:
            return
        for meta in [m for m in self._complete if m.index < latest.index]:
            del self._complete[meta]


def _mismatch(meta: SnapshotMeta, data: bytes) -> str | None:
    """Why ``data`` is not the snapshot ``meta`` describes, or ``None``."""
    if len(data) != meta.size:
        return f"{len(data)} bytes staged, the snapshot has {meta.size}"
    running = Checksum()
    running.update(data)
    if running.value() != meta.checksum:
        return f"checksum {running.value()} differs from {meta.checksum}"
    return None
