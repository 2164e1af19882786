"""Phase 1, discovery: the prospective leader learns a quorum's accepted epochs,
proposes a greater one, and gathers a quorum of fresh acknowledgements that
report no history more recent than its own."""

from __future__ import annotations

from pyconsensus.core.types import Entry, Role
from pyconsensus.zab import (
    ACCEPTED_EPOCH_KEY,
    CURRENT_EPOCH_KEY,
    AckEpoch,
    FollowerInfo,
    FollowerStage,
    NewEpoch,
    NewLeader,
    Notification,
    PeerState,
    Zxid,
)
from tests.zab.support import connection, established_leader, preload, sent, settle, zab_cluster


def test_the_new_epoch_is_greater_than_every_epoch_a_quorum_accepted() -> None:
    h = zab_cluster()
    preload(h, 2, accepted=4)
    preload(h, 3, accepted=1)
    h.crash(1)
    leader = settle(h)
    assert leader == 3
    assert h.node(3).accepted_epoch == h.node(3).current_epoch == 5
    infos = sent(h, 2, FollowerInfo)
    assert [m.accepted_epoch for m in infos] == [4]


def test_a_follower_persists_the_accepted_epoch_in_the_write_before_its_ackepoch() -> None:
    h = zab_cluster()
    settle(h)
    for ready in h.readies[1]:
        if any(isinstance(m, AckEpoch) for m in ready.messages):
            assert ready.write is not None
            assert ready.write.metadata[ACCEPTED_EPOCH_KEY] == 1
            assert CURRENT_EPOCH_KEY not in ready.write.metadata  # only at NEWLEADER
            break
    else:
        raise AssertionError("node 1 never acknowledged an epoch")
    assert (h.storages[1].metadata()[ACCEPTED_EPOCH_KEY], h.node(1).current_epoch) == (1, 1)


def test_the_leader_persists_the_epoch_it_proposes_before_sending_newepoch() -> None:
    h = zab_cluster()
    settle(h)
    ready = next(r for r in h.readies[3] if any(isinstance(m, NewEpoch) for m in r.messages))
    assert ready.write is not None
    assert ready.write.metadata[ACCEPTED_EPOCH_KEY] == 1


def test_a_follower_refuses_a_new_epoch_below_the_one_it_accepted() -> None:
    h = zab_cluster()
    preload(h, 1, accepted=7)
    for _ in range(10):
        h.deliver(types=Notification)
        h.tick_all()
    assert h.node(1).stage is FollowerStage.DISCOVERY
    h.drop(types=FollowerInfo)
    node = h.node(1)
    node.receive(NewEpoch(3, 1, 5, connection(node)))
    h.flush(1)
    assert node.counters["follower.epoch_behind"] == 1
    assert node.state is PeerState.LOOKING
    assert not sent(h, 1, AckEpoch)
    assert node.accepted_epoch == h.storages[1].metadata()[ACCEPTED_EPOCH_KEY] == 7


def test_a_follower_that_accepted_a_later_epoch_makes_the_leader_start_a_greater_one() -> None:
    h = zab_cluster()
    h.crash(1)
    h.drop(src=1)
    leader = settle(h, among=[2, 3])
    assert h.node(leader).current_epoch == 1
    # Node 1 accepted epoch 7 from a prospective leader that never got further.
    preload(h, 1, accepted=7)
    leader = settle(h)
    assert h.node(3).counters["leader.follower_epoch_ahead"] == 1
    assert h.node(leader).current_epoch == 8
    assert h.node(1).current_epoch == 8


def test_a_prospective_leader_gives_up_when_a_follower_is_more_recent() -> None:
    h = zab_cluster()
    preload(h, 2, accepted=1, current=1, entries=[Entry(1, 1, b"a")])
    h.isolate(2)
    # Nodes 1 and 3 elect 3 without hearing from node 2...
    for _ in range(10):
        h.deliver(types=Notification)
        h.tick(1)
        h.tick(3)
    assert h.node(3).state is PeerState.LEADING
    assert h.node(1).leader == 3
    h.drop(types=FollowerInfo)  # ...and node 1's FOLLOWERINFO is lost.
    h.heal()
    h.tick(2, 10)
    h.stabilize()
    # Node 2 joined 3, and its ACKEPOCH reported current epoch 1 > 0: node 3 may
    # lack committed transactions, so it abandons the epoch.
    assert h.node(3).counters["leader.follower_ahead"] == 1
    assert not sent(h, 3, NewLeader)
    leader = settle(h)
    assert leader == 2
    assert [e.data for e in h.applied[3]] == [b"a"]


def test_an_epoch_accepted_before_a_restart_does_not_count_towards_discovery() -> None:
    h = zab_cluster()
    while not sent(h, 1, AckEpoch):
        h.deliver()
    # Crash between ACKEPOCH and NEWLEADER: the epoch is accepted, not current.
    h.crash(1)
    h.drop(src=1)
    h.restart(1)
    assert (h.node(1).accepted_epoch, h.node(1).current_epoch) == (1, 0)
    # The restarted server acknowledges epoch 1 again, but not freshly: it may
    # have promised it to someone else before it crashed.
    assert settle(h) == 3
    acks = sent(h, 1, AckEpoch)
    assert isinstance(acks[-1], AckEpoch)
    assert acks[-1].epoch == 1 and acks[-1].fresh is False
    assert h.node(1).current_epoch == 1
    assert h.node(1).status().role is Role.FOLLOWER


def test_a_leader_crash_between_ackepoch_and_newleader_leads_to_a_greater_epoch() -> None:
    h = zab_cluster()
    while not sent(h, 3, NewEpoch):
        h.deliver()
    h.deliver(types=NewEpoch)  # followers accept epoch 1 and acknowledge
    assert [h.node(m).accepted_epoch for m in (1, 2)] == [1, 1]
    h.crash(3)
    h.drop(src=3)
    leader = settle(h, among=[1, 2])
    assert leader == 2
    assert h.node(2).current_epoch == 2
    assert h.node(1).current_epoch == 2
    assert established_leader(h) == 2
    assert h.node(1).history.last_zxid == Zxid(0, 0)
