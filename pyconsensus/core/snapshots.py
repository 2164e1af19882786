"""Snapshot metadata apart from the snapshot's bytes, and the bytes as a handle
read in bounded chunks.

A snapshot is two things of very different size: a few fields that say what it
is (``SnapshotMeta``: index, term, configuration, size, checksum) and the
application's state, which may be far larger than a message or a buffer may
be. Cores keep and send the metadata; the bytes stay behind a
``SnapshotReader`` and travel as ``SnapshotChunk``s - never whole.

Today's cores still carry the whole ``Snapshot`` value (``types.Snapshot``);
``describe`` and ``BytesReader`` let code written against the shapes here
work with it until the transfer module replaces it (see docs/architecture.md,
"Shapes for wave 2").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Final, Protocol

import attrs

from pyconsensus.core.membership import Membership
from pyconsensus.core.types import Snapshot

CHECKSUM_ALGORITHM: Final = "sha256"
"""The algorithm named in every checksum (``"sha256:<hex>"``), so that it can change."""


@attrs.frozen(slots=True)
class SnapshotMeta:
    """What a snapshot is, without its bytes.

    ``index``/``term`` name the last entry it covers; ``membership`` is the
    configuration in force at ``index`` (``None`` for snapshots of clusters
    whose membership never changed: the configured members); ``size`` and
    ``checksum`` describe the bytes, so a receiver can verify a transfer
    before it installs anything.
    """

    index: int
    term: int
    membership: Membership | None
    size: int
    checksum: str


@attrs.frozen(slots=True)
class SnapshotChunk:
    """One bounded piece of a snapshot's bytes: ``data`` starts at byte
    ``offset``; ``done`` marks the last piece."""

    offset: int
    data: bytes
    done: bool


class SnapshotReader(Protocol):
    """A handle to a snapshot's bytes that can be read in pieces, from any
    offset (a resumed transfer starts in the middle). The simulator's is a
    ``BytesReader``; a storage adapter's reads its files or database."""

    @property
    def size(self) -> int:
        """The total number of bytes."""
        ...

    def read(self, offset: int, limit: int) -> bytes:
        """Up to ``limit`` bytes from ``offset`` (fewer only at the end)."""
        ...


@attrs.frozen(slots=True)
class BytesReader:
    """A ``SnapshotReader`` over bytes already in memory."""

    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, limit: int) -> bytes:
        if offset < 0 or limit < 0:
            raise ValueError(f"cannot read {limit} bytes at offset {offset}")
        return self.data[offset : offset + limit]


class Checksum:
    """A running checksum of bytes fed in order (a receiver checks chunks as
    they arrive, without holding them all)."""

    __slots__ = ("_hash",)

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def value(self) -> str:
        """``"sha256:<hex digest>"`` of everything fed so far."""
        return f"{CHECKSUM_ALGORITHM}:{self._hash.hexdigest()}"


def checksum(data: bytes) -> str:
    """The checksum of ``data`` as ``SnapshotMeta`` states it."""
    running = Checksum()
    running.update(data)
    return running.value()


def chunks(reader: SnapshotReader, chunk_size: int, start: int = 0) -> Iterator[SnapshotChunk]:
    """The bytes of ``reader`` from ``start`` on, as chunks of at most
    ``chunk_size`` bytes; the last one has ``done`` set (an empty snapshot is
    one empty chunk). Each chunk is read only when it is asked for."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    size = reader.size
    if not 0 <= start <= size:
        raise ValueError(f"start {start} is outside a snapshot of {size} bytes")
    offset = start
    while True:
        data = reader.read(offset, chunk_size)
        end = offset + len(data)
        yield SnapshotChunk(offset, data, end >= size)
        if end >= size:
            return
        if not data:
            raise ValueError(f"the reader ended at {end} of {size} bytes")
        offset = end


def describe(snapshot: Snapshot, membership: Membership | None = None) -> SnapshotMeta:
    """The metadata of a whole in-memory ``Snapshot``."""
    return SnapshotMeta(
        snapshot.index, snapshot.term, membership, len(snapshot.data), checksum(snapshot.data)
    )
