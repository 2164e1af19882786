"""Snapshot metadata apart from its bytes; the bytes read in bounded chunks."""

from __future__ import annotations

import pytest

from pyconsensus.core.membership import Membership
from pyconsensus.core.snapshots import (
    BytesReader,
    Checksum,
    SnapshotChunk,
    checksum,
    chunks,
    describe,
)
from pyconsensus.core.types import Snapshot


def test_metadata_describes_the_bytes_without_holding_them() -> None:
    meta = describe(Snapshot(9, 3, b"state"), Membership({1, 2, 3}))
    assert (meta.index, meta.term, meta.size) == (9, 3, 5)
    assert meta.membership == Membership({1, 2, 3})
    assert meta.checksum == checksum(b"state")
    assert meta.checksum.startswith("sha256:")


def test_a_running_checksum_over_chunks_equals_the_whole_ones() -> None:
    data = bytes(range(256)) * 40
    running = Checksum()
    for chunk in chunks(BytesReader(data), 1000):
        running.update(chunk.data)
    assert running.value() == checksum(data)
    assert checksum(data) != checksum(data[:-1])


def test_chunks_are_bounded_contiguous_and_the_last_is_marked() -> None:
    pieces = list(chunks(BytesReader(b"abcdefghij"), 4))
    assert pieces == [
        SnapshotChunk(0, b"abcd", False),
        SnapshotChunk(4, b"efgh", False),
        SnapshotChunk(8, b"ij", True),
    ]


def test_a_transfer_can_resume_in_the_middle() -> None:
    assert [c.offset for c in chunks(BytesReader(b"abcdefghij"), 3, start=6)] == [6, 9]


def test_an_empty_snapshot_is_one_empty_last_chunk() -> None:
    assert list(chunks(BytesReader(b""), 8)) == [SnapshotChunk(0, b"", True)]


def test_bad_chunking_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        list(chunks(BytesReader(b"abc"), 0))
    with pytest.raises(ValueError):
        list(chunks(BytesReader(b"abc"), 2, start=4))
