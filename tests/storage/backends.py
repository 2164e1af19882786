"""The ``Backend`` of each storage this repository ships, for the conformance suite."""

from __future__ import annotations

import itertools
import os
import warnings
from pathlib import Path

from pyconsensus.adapters.lmdb import LmdbStorage
from pyconsensus.core.storage import MemoryStorage, Storage


class MemoryBackend:
    """``MemoryStorage``: a crash keeps what was written (``write`` syncs)."""

    name = "memory"
    atomic_on_error = True

    def __init__(self) -> None:
        self._numbers = itertools.count()

    def open(self) -> Storage:
        # The creator names each new storage's incarnation, as the simulator will.
        return MemoryStorage(incarnation=f"memory-{next(self._numbers)}")

    def reopen(self, storage: Storage) -> Storage:
        assert isinstance(storage, MemoryStorage)
        storage.crash()  # nothing is staged: only durable state remains
        return storage

    def crash(self, storage: Storage) -> Storage:
        assert isinstance(storage, MemoryStorage)
        storage.crash()
        return storage

    def close_all(self) -> None:
        pass


class LmdbBackend:
    """``LmdbStorage`` in a fresh directory per ``open``.

    ``crash`` abandons the storage without closing it cleanly: the LMDB
    environment is closed (as the kernel does when a process dies) but nothing
    else runs - no final flush, no bookkeeping. Real SIGKILLs are in
    tests/adapters/test_lmdb_crash.py.
    """

    name = "lmdb"
    atomic_on_error = True

    def __init__(self, root: Path, *, sync: bool = True) -> None:
        self.root = root
        self.sync = sync
        self._numbers = itertools.count()
        self._open: list[Storage] = []

    def _make(self, path: Path) -> Storage:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            storage = LmdbStorage(path, cluster_id="conformance", node_id=1, sync=self.sync)
        self._open.append(storage)
        return storage

    def open(self) -> Storage:
        return self._make(self.root / f"storage-{next(self._numbers)}")

    def reopen(self, storage: Storage) -> Storage:
        assert isinstance(storage, LmdbStorage)
        storage.close()
        return self._make(storage.path)

    def crash(self, storage: Storage) -> Storage:
        assert isinstance(storage, LmdbStorage)
        storage._env.close()  # what process death does to the mapping
        storage._closed = True
        os.close(storage._lock_fd)
        return self._make(storage.path)

    def close_all(self) -> None:
        for storage in self._open:
            storage.close()
