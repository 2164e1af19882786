"""Durable storage on LMDB: ``LmdbStorage`` implements ``pyconsensus.core.Storage``.

One ``Write`` is one LMDB write transaction and, by default, one flush to disk
before ``write`` returns (group commit). Every entry, the snapshot and every
metadata value carry a CRC-32 checked on every read; the directory records
the format version and the cluster and node it belongs to. See docs/storage.md.
"""

from pyconsensus.adapters.lmdb.storage import (
    DEFAULT_MAP_SIZE,
    DEFAULT_VERIFY_ENTRIES,
    FORMAT_VERSION,
    DataDirectoryError,
    DurabilityWarning,
    LmdbStorage,
    StorageFull,
)

__all__ = [
    "DEFAULT_MAP_SIZE",
    "DEFAULT_VERIFY_ENTRIES",
    "FORMAT_VERSION",
    "DataDirectoryError",
    "DurabilityWarning",
    "LmdbStorage",
    "StorageFull",
]
