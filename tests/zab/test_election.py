"""Fast Leader Election: votes order by (current epoch, last zxid, server id), a
quorum must agree, and late servers join the leader that is already there."""

from __future__ import annotations

from pyconsensus.core.types import Role
from pyconsensus.zab import Notification, PeerState, Vote, ZabConfig, Zxid
from tests.zab.support import established_leader, give_up_leadership, settle, zab_cluster


def test_votes_order_by_current_epoch_then_last_zxid_then_server_id() -> None:
    assert Vote(2, Zxid(1, 5), 1) > Vote(1, Zxid(1, 9), 3)  # epoch first
    assert Vote(2, Zxid(2, 3), 1) > Vote(2, Zxid(1, 9), 3)  # then the zxid's epoch
    assert Vote(2, Zxid(2, 4), 1) > Vote(2, Zxid(2, 3), 3)  # then its counter
    assert Vote(2, Zxid(2, 4), 3) > Vote(2, Zxid(2, 4), 1)  # then the server id


def test_with_equal_histories_the_highest_server_id_wins() -> None:
    h = zab_cluster()
    h.stabilize()
    assert established_leader(h) == 3
    assert [h.node(m).status().role for m in (1, 2)] == [Role.FOLLOWER, Role.FOLLOWER]
    assert all(h.node(m).status().leader == 3 for m in (1, 2, 3))


def test_the_server_with_the_most_recent_history_is_elected() -> None:
    h = zab_cluster()
    leader = settle(h)
    h.propose(leader, b"x")
    h.stabilize()
    # Node 1 alone accepts a second proposal; then the leader dies.
    h.propose(leader, b"y")
    h.deliver(types=Notification)
    h.drop(to=2)
    h.deliver(to=1)
    h.drop(to=leader)
    h.crash(leader)
    assert h.node(1).history.last_zxid > h.node(2).history.last_zxid
    assert settle(h) == 1


def test_an_election_needs_a_quorum() -> None:
    h = zab_cluster()
    settle(h)
    h.crash(2)
    h.crash(3)
    h.tick(1, 200)
    h.stabilize()
    assert h.node(1).state is PeerState.LOOKING
    assert h.node(1).status().role is Role.CANDIDATE
    assert h.node(1).counters["elections.rounds"] > 1


def test_a_quorum_decides_after_the_finalize_wait_when_not_everyone_answers() -> None:
    h = zab_cluster(config=ZabConfig(finalize_ticks=3))
    h.crash(3)
    h.drop(src=3)
    h.stabilize()
    # Nodes 1 and 2 agree on 2, but node 3 might still tell of a better vote.
    assert h.node(2).state is PeerState.LOOKING
    h.tick(2, 2)
    h.tick(1, 2)
    assert h.node(2).state is PeerState.LOOKING
    h.tick(2)
    h.tick(1)
    assert h.node(2).state is PeerState.LEADING
    assert h.node(1).state is PeerState.FOLLOWING
    assert settle(h) == 2


def test_a_server_in_an_older_round_is_brought_to_the_current_round() -> None:
    h = zab_cluster()
    h.isolate(2)
    leader = settle(h, among=[1, 3])
    h.crash(leader)
    h.tick(1, 30)  # node 1 stops hearing from its leader and starts round 2
    assert h.node(1).state is PeerState.LOOKING
    assert (h.node(1).election.round, h.node(2).election.round) == (2, 1)
    h.heal()
    h.tick(2, 10)  # node 2 repeats its round-1 vote; node 1 answers with round 2
    assert settle(h, among=[1, 2]) == 1  # its current epoch is the later one
    assert h.node(1).election.round == h.node(2).election.round == 2


def test_a_restarted_server_joins_the_established_leader() -> None:
    h = zab_cluster()
    leader = settle(h)
    epoch = h.node(leader).current_epoch
    h.crash(1)
    before = len(h.readies[leader])
    h.restart(1)
    h.stabilize()
    # The others answer its notifications with the vote that ended their
    # election: it follows the leader that is there, and no new epoch starts.
    assert h.node(1).leader == leader
    assert h.node(1).counters["elections.joined"] == 1
    assert h.node(leader).current_epoch == epoch
    answers = [
        m
        for ready in h.readies[leader][before:]
        for m in ready.messages
        if isinstance(m, Notification) and m.dst == 1
    ]
    assert answers and all(m.state is PeerState.LEADING for m in answers)


def test_followers_go_looking_when_their_leader_gives_up() -> None:
    h = zab_cluster()
    leader = settle(h)
    give_up_leadership(h, leader)
    h.stabilize()
    assert h.node(1).counters["follower.leader_gone"] == 1
    assert settle(h) == leader
    assert h.node(leader).current_epoch == 2
