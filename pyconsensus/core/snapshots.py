"""Snapshot metadata apart from the snapshot's bytes, and the bytes as a handle
read in bounded chunks.

A snapshot is two things of very different size: a few fields that say what it
is (``SnapshotMeta``: index, term, configuration, size, checksum) and the
application's state, which may be far larger than a message or a buffer may
be. Cores keep and send the metadata; the bytes stay behind a
``SnapshotReader`` and travel as ``SnapshotChunk``s - never whole.

Where the bytes live is a ``SnapshotStore`` (the protocol is here; the
simulator's ``MemorySnapshotStore`` is in ``core/snapshot_store.py``, the
durable one in ``adapters/lmdb``). ``types.Snapshot`` (whole bytes) stays as a
convenience for tests; ``describe`` gives its metadata.
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


def write_snapshot(
    store: SnapshotStore,
    index: int,
    term: int,
    data: bytes,
    membership: Membership | None = None,
) -> SnapshotMeta:
    """Write ``data`` into ``store`` as the snapshot at ``index``/``term``
    (a convenience for tests and small state machines; large ones stream
    pieces into ``store.create`` themselves)."""
    writer = store.create(index, term, membership)
    try:
        writer.write(data)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


def install_and_open(store: SnapshotStore, meta: SnapshotMeta) -> SnapshotReader:
    """What a driver does with ``Ready.restore``: install ``meta`` if it is the
    snapshot being staged, then open it for the state machine to stream from.
    Raises ``SnapshotRejected`` (or ``CorruptSnapshot``) if it cannot: tell
    the node ``snapshot_rejected``; otherwise, once the machine is restored,
    ``snapshot_installed``."""
    staged = store.staged()
    if staged is not None and staged[0] == meta:
        store.install(meta)
    return store.open(meta)


def read_all(reader: SnapshotReader, chunk_size: int = 1 << 20) -> bytes:
    """Every byte behind ``reader`` (for state machines that restore from
    bytes; large ones should stream ``chunks`` instead)."""
    return b"".join(chunk.data for chunk in chunks(reader, chunk_size))


def describe(snapshot: Snapshot, membership: Membership | None = None) -> SnapshotMeta:
    """The metadata of a whole in-memory ``Snapshot``."""
    return SnapshotMeta(
        snapshot.index, snapshot.term, membership, len(snapshot.data), checksum(snapshot.data)
    )


@attrs.frozen(slots=True)
class SnapshotStage:
    """The ``stage`` part of a ``Write``: append ``data`` at byte ``offset`` of
    the snapshot ``meta`` being received.

    ``offset`` is where the bytes staged so far end (a core never leaves a
    gap); a stage part for another ``meta`` at offset 0 discards whatever was
    staged before (a superseded transfer). Staging is durable with the rest of
    the write, so the receiver may acknowledge ``offset + len(data)`` once the
    write is durable."""

    meta: SnapshotMeta
    offset: int
    data: bytes

    @property
    def end(self) -> int:
        """The offset just after this part's bytes."""
        return self.offset + len(self.data)


class SnapshotWriter(Protocol):
    """Writes one local snapshot into a store, in pieces (the application's
    state is streamed, never copied whole)."""

    def write(self, data: bytes) -> None:
        """Append ``data`` to the snapshot."""
        ...

    def finish(self) -> SnapshotMeta:
        """Make the snapshot durable (bytes, then their directory) and return its
        metadata (size and checksum computed while writing). It becomes the
        node's current snapshot only through the core: the driver passes the
        metadata to the node's ``compact``, whose ``Write.snapshot`` records it."""
        ...

    def abort(self) -> None:
        """Forget the snapshot; nothing of it is kept."""
        ...


class SnapshotStore(Protocol):
    """Where a node's snapshots live: complete ones, and the one being received.

    A store belongs to one ``Storage`` (``Storage.snapshots``): the ``snapshot``
    and ``stage`` parts of a ``Write`` reach it atomically with the rest of
    the write. Every method here that changes something is durable when it
    returns.
    """

    def create(self, index: int, term: int, membership: Membership | None) -> SnapshotWriter:
        """Start writing a local snapshot of the state at ``index``/``term``."""
        ...

    def latest(self) -> SnapshotMeta | None:
        """The current snapshot: the last one a durable ``Write.snapshot``
        recorded (``None`` if there is none)."""
        ...

    def open(self, meta: SnapshotMeta) -> SnapshotReader:
        """A reader for a complete snapshot this store holds (the latest, or one
        finished or installed since); ``SnapshotRejected`` if it holds none."""
        ...

    def staged(self) -> tuple[SnapshotMeta, int] | None:
        """The snapshot being received and how many of its bytes are durably
        staged, so that a transfer can resume after a restart or a reconnect."""
        ...

    def install(self, meta: SnapshotMeta) -> None:
        """Check that the staged bytes are all of ``meta`` (size, checksum) and
        keep them as a complete snapshot that ``open`` can read; the staging area
        is then empty. Raises ``SnapshotRejected`` (nothing or another snapshot
        is staged, or it is incomplete) or ``CorruptSnapshot`` (size or checksum
        differ); then nothing is installed and the staging area is discarded.
        Like ``finish``, installing does not make the snapshot current: the
        core's following ``Write.snapshot`` does. Installing the snapshot that
        is already complete in the store does nothing."""
        ...
