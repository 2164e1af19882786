"""A deterministic stream of writes for the crash tests.

Write number ``n`` depends only on the seed, ``n`` and the log's shape after
write ``n - 1`` (last index, term, snapshot index), so the child that performs
the writes and the parent that checks the survivor compute the same writes
without talking about them. Every write records ``seq = n + 1`` in the same
transaction, which tells the parent exactly how many writes a storage holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from random import Random

import attrs

from pyconsensus.core.ready import Write
from pyconsensus.core.snapshots import SnapshotMeta, checksum, write_snapshot
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import Entry, EntryKind, MetaValue

SEQ_KEY = "seq"
TERM_KEY = "raft.term"
VOTE_KEY = "raft.vote"


@attrs.frozen
class Shape:
    """What the next write depends on."""

    last: int
    term: int
    floor: int


def entry_data(index: int, term: int) -> bytes:
    """Contents that tie an entry to its (index, term), of varying length."""
    rng = Random(f"{index}:{term}")
    return f"{index}/{term}:".encode() + rng.randbytes(rng.randrange(0, 300))


def snapshot_data(index: int) -> bytes:
    """The state a snapshot at ``index`` holds, of varying length."""
    return f"state@{index}".encode() * (1 + index % 49)


def perform(storage: Storage, write: Write) -> None:
    """``storage.write(write)``, its snapshot's bytes put in the store first."""
    meta = write.snapshot
    if meta is not None:
        assert (
            write_snapshot(storage.snapshots, meta.index, meta.term, snapshot_data(meta.index))
            == meta
        )
    storage.write(write)


def make_write(seed: int, n: int, shape: Shape) -> Write:
    rng = Random(f"{seed}:{n}")
    roll = rng.random()
    metadata: dict[str, int | None] = {SEQ_KEY: n + 1}
    if roll < 0.70 or shape.last <= shape.floor:
        size = rng.choice((1, 1, 2, 4, 8, 16, 64, 256))
        start = shape.last + 1
        entries = [
            Entry(i, shape.term, entry_data(i, shape.term), EntryKind.NORMAL)
            for i in range(start, start + size)
        ]
        metadata[TERM_KEY] = shape.term
        return Write(metadata=metadata, entries=entries)
    if roll < 0.82:
        # A new leader overwrites a suffix of the log (Raft's conflict rule).
        term = shape.term + 1
        cut = max(shape.floor + 1, shape.last - rng.randrange(0, 6))
        entries = [
            Entry(i, term, entry_data(i, term), EntryKind.NOOP if i == cut else EntryKind.NORMAL)
            for i in range(cut, cut + rng.randrange(1, 9))
        ]
        metadata[TERM_KEY] = term
        metadata[VOTE_KEY] = rng.randrange(1, 4)
        return Write(metadata=metadata, truncate_from=cut, entries=entries)
    if roll < 0.94:
        # Compaction keeps the log from growing without bound.
        index = rng.randrange(shape.floor + 1, shape.last + 1)
        data = snapshot_data(index)
        snapshot = SnapshotMeta(index, shape.term, None, len(data), checksum(data))
        return Write(metadata=metadata, snapshot=snapshot)
    metadata[VOTE_KEY] = None
    return Write(metadata=metadata)


def shape_of(
    last_index: int, metadata: Mapping[str, MetaValue], snapshot: SnapshotMeta | None
) -> Shape:
    """The shape of a log, from what a storage (or the model) reports."""
    term = metadata.get(TERM_KEY, 1)
    assert isinstance(term, int)
    return Shape(last_index, term, snapshot.index if snapshot is not None else 0)
