"""Write.top(): the position a durable write vouches for."""

from __future__ import annotations

from pyconsensus.core.ready import Write
from pyconsensus.core.snapshots import SnapshotMeta, checksum
from pyconsensus.core.types import Entry


def test_write_top_is_its_last_entry_else_its_snapshot() -> None:
    snapshot = SnapshotMeta(5, 2, None, 5, checksum(b"state"))
    assert Write(entries=(Entry(6, 2, b"a"), Entry(7, 3, b"b"))).top() == (7, 3)
    assert Write(snapshot=snapshot, entries=(Entry(6, 2, b"a"),)).top() == (6, 2)
    assert Write(snapshot=snapshot).top() == (5, 2)
    assert Write(metadata={"raft.term": 4}).top() is None
