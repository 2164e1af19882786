"""``LmdbSnapshotStore``: the ``SnapshotStore`` of an ``LmdbStorage``.

PLACEHOLDER of the pure-side branch (issue 15): it keeps the on-disk format of
the current snapshot unchanged (one record, index | term | bytes) and holds a
snapshot's bytes whole in memory while writing or installing it. Complete
snapshots (``finish``, ``install``) are durable - a sealed record in the
``snapshot`` database, committed and flushed - before they are returned;
the bytes of a snapshot being *received* are staged in memory only, so a
restarted node starts such a transfer again from the beginning. The chunked,
file-backed store with durable staging replaces this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from pyconsensus.adapters.lmdb import records
from pyconsensus.core.errors import SnapshotRejected
from pyconsensus.core.membership import Membership
from pyconsensus.core.snapshot_store import BufferedWriter, MemorySnapshotStore
from pyconsensus.core.snapshots import (
    BytesReader,
    SnapshotMeta,
    SnapshotReader,
    SnapshotStage,
    read_all,
)
from pyconsensus.core.types import Snapshot

PENDING_PREFIX: Final = b"pending:"
"""Keys of complete snapshots not yet current: ``pending:<checksum>``."""


class LmdbSnapshotStore:
    """See the module docstring. ``transaction(write)`` opens an LMDB
    transaction of the owning storage; ``current()`` is its current snapshot."""

    def __init__(
        self,
        transaction: Callable[[bool], Any],
        database: Any,
        current: Callable[[], tuple[SnapshotMeta, bytes] | None],
    ) -> None:
        self._transaction = transaction
        self._db = database
        self._current = current
        self._staging = MemorySnapshotStore()

    def create(self, index: int, term: int, membership: Membership | None) -> BufferedWriter:
        return BufferedWriter(self.keep, index, term, None)

    def latest(self) -> SnapshotMeta | None:
        current = self._current()
        return current[0] if current is not None else None

    def open(self, meta: SnapshotMeta) -> SnapshotReader:
        return BytesReader(self.bytes_of(meta))

    def staged(self) -> tuple[SnapshotMeta, int] | None:
        return self._staging.staged()

    def install(self, meta: SnapshotMeta) -> None:
        if self._pending(meta) is not None:
            return
        self._staging.install(meta)
        self.keep(meta, read_all(self._staging.open(meta)))

    # -- for the owning storage ---------------------------------------------

    def stage(self, part: SnapshotStage) -> None:
        """Stage ``part`` (in memory: see the module docstring)."""
        self._staging.apply([part])
        self._staging.sync()

    def keep(self, meta: SnapshotMeta, data: bytes) -> None:
        """Store ``data`` durably as the complete snapshot ``meta``."""
        record = records.encode_snapshot(Snapshot(meta.index, meta.term, data))
        with self._transaction(True) as txn:
            txn.put(_pending_key(meta), record, db=self._db)

    def bytes_of(self, meta: SnapshotMeta) -> bytes:
        """The bytes of a complete snapshot; ``SnapshotRejected`` if there is none."""
        current = self._current()
        if current is not None and current[0] == meta:
            return current[1]
        data = self._pending(meta)
        if data is None:
            raise SnapshotRejected(meta.index, "this store holds no such snapshot")
        return data

    def forget_pending(self, txn: Any) -> None:
        """Delete every pending snapshot inside ``txn`` (one became current)."""
        cursor = txn.cursor(db=self._db)
        if cursor.set_range(PENDING_PREFIX):
            while bytes(cursor.key()).startswith(PENDING_PREFIX):
                if not cursor.delete():
                    break

    def _pending(self, meta: SnapshotMeta) -> bytes | None:
        with self._transaction(False) as txn:
            raw = txn.get(_pending_key(meta), db=self._db)
            if raw is None:
                return None
            snapshot = records.decode_snapshot(raw)
        return snapshot.data if (snapshot.index, snapshot.term) == (meta.index, meta.term) else None


def _pending_key(meta: SnapshotMeta) -> bytes:
    return PENDING_PREFIX + meta.checksum.encode()
