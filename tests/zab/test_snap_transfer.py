"""SNAP in chunks (issue 15): a follower behind the leader's snapshot fetches
its bytes on its connection before it adopts the NEWLEADER."""

from __future__ import annotations

from pyconsensus.core.snapshots import read_all
from pyconsensus.core.transfer import TransferConfig
from pyconsensus.zab import NewLeader, SnapAck, SnapChunk, ZabConfig
from tests.zab.support import sent, settle, zab_cluster

STATE = bytes(range(200))
CHUNKED = ZabConfig(transfer=TransferConfig(chunk_size=16, window=3))


def test_a_snap_is_adopted_only_after_its_snapshot_arrived_in_chunks_and_was_installed() -> None:
    h = zab_cluster(config=CHUNKED)
    leader = settle(h)
    h.isolate(1)
    for k in range(10):
        h.propose(leader, b"tx-%d" % k)
    h.stabilize()
    for member in (2, 3):
        h.compact(member, h.node(member).applied, STATE)
        h.flush(member)
    h.heal()
    for _ in range(40):
        h.tick_all()
        h.stabilize()
    assert settle(h) == leader
    chunks = [m for m in sent(h, leader, SnapChunk) if m.dst == 1]
    assert len({m.offset for m in chunks}) == -(-len(STATE) // 16)  # every chunk, bounded
    assert max(len(m.data) for m in chunks) <= 16
    assert sent(h, 1, SnapAck)
    (meta,) = {r.restore for r in h.readies[1] if r.restore is not None}
    assert read_all(h.storages[1].snapshots.open(meta)) == STATE
    snap = [m.sync for m in sent(h, leader, NewLeader) if m.dst == 1][-1]
    assert h.node(1).history.base_index == meta.index
    assert h.node(1).status().commit_index == h.node(leader).status().commit_index
    assert h.node(1).counters["sync.snap"] == 1
    assert snap.entries == () or snap.entries[0].index == meta.index + 1
