"""Log compaction and InstallSnapshot (paper section 7)."""

from __future__ import annotations

import pytest

from pyconsensus.core.snapshots import SnapshotMeta, checksum, read_all
from pyconsensus.raft import InstallSnapshot
from tests.raft.support import elected


def test_compaction_discards_the_applied_prefix_and_stores_a_snapshot() -> None:
    h = elected(3)
    for i in range(5):
        h.propose(1, b"%d" % i)
    h.stabilize()
    leader = h.node(1)
    meta = h.compact(1, 4, b"state@4")
    h.flush(1)
    assert leader.log.snapshot_index == 4
    assert h.storages[1].snapshot() == meta == SnapshotMeta(4, 1, None, 7, checksum(b"state@4"))
    assert h.storages[1].first_index() == 5
    assert [e.index for e in leader.log.entries] == [5, 6]


def test_compaction_beyond_what_was_applied_is_refused() -> None:
    h = elected(3)
    with pytest.raises(ValueError, match="only 1 has been applied"):
        h.compact(1, 9)


def test_a_follower_behind_the_compaction_point_receives_the_snapshot() -> None:
    """When the leader has discarded the entries a follower needs, it sends its
    snapshot instead; the follower replaces its log and restores the state."""
    h = elected(3)
    h.isolate(3)
    for i in range(10):
        h.propose(1, b"%d" % i)
    h.stabilize()
    h.compact(1, 8, b"state@8")
    h.flush(1)
    h.heal()
    for _ in range(3):
        h.tick(1)
        h.stabilize()
    follower = h.node(3)
    assert any(r.restore is not None for r in h.readies[3])
    meta = h.storages[3].snapshot()
    assert meta is not None and read_all(h.storages[3].snapshots.open(meta)) == b"state@8"
    assert follower.log.snapshot_index == 8
    assert follower.log.last_index == 11
    assert [e.index for e in h.applied[3]] == [9, 10, 11]
    assert h.node(1).counters["snapshots.sent"] == 1


def test_a_restarted_node_restores_its_snapshot_before_applying_entries() -> None:
    h = elected(3)
    for i in range(4):
        h.propose(1, b"%d" % i)
    h.stabilize()
    meta = h.compact(2, 3, b"state@3")
    h.flush(2)
    h.crash(2)
    h.restart(2)
    first = h.readies[2][-1]
    assert first.restore == meta
    assert h.node(2).status().applied_index == 3


def test_a_stale_snapshot_is_acknowledged_without_touching_the_log() -> None:
    h = elected(3)
    h.propose(1, b"x")
    h.stabilize()
    h.tick(1)
    h.stabilize()
    follower = h.node(2)
    entries_before = list(follower.log.entries)
    old = SnapshotMeta(1, 1, None, 3, checksum(b"old"))
    follower.receive(InstallSnapshot(1, 2, 1, old, 0, b"old", True))
    assert follower.log.entries == entries_before
    assert follower.log.snapshot_index == 0
