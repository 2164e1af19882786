"""Phase 2, synchronization: the leader brings each follower to its history with
DIFF, TRUNC or SNAP; the follower adopts it together with the new current epoch;
a quorum of acknowledgements establishes the leader and commits the history."""

from __future__ import annotations

from collections.abc import Sequence

from pyconsensus.core.snapshots import SnapshotMeta, checksum, read_all
from pyconsensus.core.types import Entry, NodeId, Role
from pyconsensus.sim import Harness
from pyconsensus.zab import (
    CURRENT_EPOCH_KEY,
    AckNewLeader,
    Diff,
    History,
    NewLeader,
    Notification,
    Proposal,
    Snap,
    Trunc,
    UpToDate,
    ZabNode,
    Zxid,
    plan_sync,
    shared_prefix,
)
from tests.zab.support import established_leader, give_up_leadership, sent, settle, zab_cluster


def history_of(epochs: Sequence[int], base: tuple[int, int] = (0, 0)) -> History:
    """A history whose entry ``k`` after the base has epoch ``epochs[k]``."""
    history = History(*base)
    history.append([Entry(base[0] + 1 + k, e, b"%d" % k) for k, e in enumerate(epochs)])
    return history


# -- choosing DIFF, TRUNC or SNAP ---------------------------------------------


def test_a_follower_whose_history_is_a_prefix_gets_a_diff() -> None:
    leader = history_of([1, 1, 2, 2, 3])
    sync = plan_sync(leader, None, Zxid(2, 4), 2)
    assert sync == Diff(tuple(leader.slice(5, 6)))
    assert plan_sync(leader, None, Zxid(3, 5), 5) == Diff(())
    assert plan_sync(leader, None, Zxid(0, 0), 0) == Diff(tuple(leader.entries))


def test_a_follower_ahead_within_the_leaders_last_epoch_is_truncated_to_it() -> None:
    leader = history_of([1, 1, 2])
    # The follower holds (2, 3) like the leader, and (2, 4), (2, 5) beyond it.
    assert shared_prefix(leader, Zxid(2, 5), 2) == 3
    assert plan_sync(leader, None, Zxid(2, 5), 2) == Trunc(3, ())


def test_a_follower_with_proposals_of_an_epoch_the_leader_moved_past_is_truncated() -> None:
    leader = history_of([1, 1, 3, 3])
    # The follower's epoch-1 run goes on past the leader's: (1, 3) never made it.
    assert shared_prefix(leader, Zxid(1, 3), 1) == 2
    assert plan_sync(leader, None, Zxid(1, 3), 1) == Trunc(2, tuple(leader.slice(3, 5)))


def test_a_follower_whose_last_epoch_the_leader_never_saw_falls_back_to_its_commit() -> None:
    leader = history_of([1, 1, 3, 3])
    # Epoch 2 never reached the leader: only the follower's committed prefix is shared.
    assert shared_prefix(leader, Zxid(2, 4), 1) == 1
    assert plan_sync(leader, None, Zxid(2, 4), 1) == Trunc(1, tuple(leader.slice(2, 5)))


def test_a_follower_behind_the_leaders_snapshot_gets_a_snap() -> None:
    leader = history_of([2, 2], base=(10, 1))
    snapshot = SnapshotMeta(10, 1, None, 5, checksum(b"state"))
    assert plan_sync(leader, snapshot, Zxid(1, 4), 4) == Snap(snapshot, tuple(leader.entries))
    # A follower at the snapshot point itself only needs a DIFF.
    assert plan_sync(leader, snapshot, Zxid(1, 10), 10) == Diff(tuple(leader.entries))


# -- the protocol's rules ------------------------------------------------------


def _x_committed_then_y_reaches_follower_1_only_and_the_leader_dies(
    h: Harness[ZabNode], leader: NodeId
) -> None:
    """``leader`` commits x; y reaches follower 1 only, no acknowledgement of it
    reaches the leader, and the leader crashes."""
    h.propose(leader, b"x")
    h.stabilize()
    h.propose(leader, b"y")
    h.deliver(types=Proposal, to=1)
    h.drop(types=Proposal)
    h.drop(to=leader)
    h.crash(leader)


def test_a_follower_with_an_uncommitted_proposal_of_an_old_epoch_is_truncated() -> None:
    h = zab_cluster(members=(1, 2, 3, 4, 5))
    assert settle(h) == 5
    # The leader of epoch 1 proposes y; only follower 1 accepts it, and the
    # leader never hears back. Then the leader dies and follower 1 is cut off.
    _x_committed_then_y_reaches_follower_1_only_and_the_leader_dies(h, 5)
    h.isolate(1)
    assert h.node(1).history.last_zxid == Zxid(1, 2)
    leader = settle(h, among=[2, 3, 4])
    assert leader == 4
    h.propose(4, b"z")
    h.stabilize()
    # Follower 1 comes back: its (1, 2) conflicts with the new epoch's (2, 2).
    h.heal()
    assert settle(h, among=[1, 2, 3, 4]) == 4
    syncs = [m.sync for m in sent(h, 4, NewLeader) if m.dst == 1]
    assert isinstance(syncs[-1], Trunc) and syncs[-1].index == 1
    assert [e.data for e in h.node(1).history.entries] == [b"x", b"z"]
    assert all(e.data != b"y" for m in (1, 2, 3, 4) for e in h.applied[m])


def test_a_new_leader_commits_the_previous_epochs_proposals_it_holds() -> None:
    h = zab_cluster()
    assert settle(h) == 3
    _x_committed_then_y_reaches_follower_1_only_and_the_leader_dies(h, 3)
    assert [e.data for e in h.applied[1]] == [b"x"]
    leader = settle(h, among=[1, 2])
    assert leader == 1  # it holds (1, 2): the most recent history
    # Establishing epoch 2 commits y, before any transaction of epoch 2.
    assert h.node(1).history.last_zxid == Zxid(1, 2)
    for member in (1, 2):
        assert [(e.term, e.data) for e in h.applied[member]] == [(1, b"x"), (1, b"y")]
    syncs = [m.sync for m in sent(h, 1, NewLeader)]
    assert syncs == [Diff(tuple(h.node(1).history.slice(2, 3)))]


def test_a_follower_behind_the_leaders_snapshot_is_synchronised_by_snap() -> None:
    h = zab_cluster()
    assert settle(h) == 3
    h.isolate(1)
    for k in range(10):
        h.propose(3, b"tx-%d" % k)
    h.stabilize()
    for member in (2, 3):
        applied = h.node(member).applied
        h.compact(member, applied, b"state@%d" % applied)
        h.flush(member)
    h.heal()
    # Follower 1 learns from the leader's pings that it lacks what was sent; it
    # reconnects, and what it lacks is folded into the leader's snapshot now.
    for _ in range(20):
        h.tick_all()
        h.stabilize()
    assert settle(h) == 3
    assert h.node(1).counters["follower.stalled"] == 1
    snaps = [m.sync for m in sent(h, 3, NewLeader) if m.dst == 1]
    assert isinstance(snaps[-1], Snap) and snaps[-1].meta.index == 10
    restored = [r.restore for r in h.readies[1] if r.restore is not None]
    assert restored == [snaps[-1].meta]
    assert read_all(h.storages[1].snapshots.open(snaps[-1].meta)) == b"state@10"
    assert h.node(1).history.base_index == 10
    assert h.node(1).status().commit_index == 10
    assert h.node(1).counters["sync.snap"] == 1


def test_a_follower_adopts_the_history_and_the_current_epoch_in_one_write() -> None:
    h = zab_cluster()
    h.propose(3, b"too early")  # nobody leads yet
    assert settle(h) == 3
    h.propose(3, b"x")
    h.stabilize()
    h.crash(1)
    h.drop(src=1)
    h.isolate(1)
    h.restart(1)
    h.propose(3, b"y")
    h.stabilize()
    give_up_leadership(h, 3)  # a new epoch, whose sync carries y to node 1
    h.heal()
    settle(h)
    ready = next(
        r
        for r in h.readies[1]
        if any(isinstance(m, AckNewLeader) and m.epoch == 2 for m in r.messages)
    )
    assert ready.write is not None
    assert ready.write.metadata[CURRENT_EPOCH_KEY] == 2
    assert [e.data for e in ready.write.entries] == [b"y"]


def test_the_leader_is_established_only_once_a_quorum_acknowledged_newleader() -> None:
    h = zab_cluster(members=(1, 2, 3, 4, 5))
    while not sent(h, 5, NewLeader):
        h.deliver()
    h.drop(types=Notification)
    node = h.node(5)
    assert node.status().role is Role.CANDIDATE and not node.established
    h.deliver(types=NewLeader, to=1)
    h.deliver(types=AckNewLeader)
    assert not node.established  # 2 of 5
    h.deliver(types=NewLeader, to=2)
    h.deliver(types=AckNewLeader)
    assert h.node(5).established  # 3 of 5
    assert node.status().role is Role.LEADER
    assert established_leader(h) == 5
    assert {m.dst for m in sent(h, 5, UpToDate)} == {1, 2}
