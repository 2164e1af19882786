"""Every quorum decision counts with the joint quorum while a joint
configuration is in force (thesis 4.3): commitment, elections (PreVote too),
CheckQuorum and ReadIndex all need a majority of the old *and* of the new
voters.

The cluster here holds the joint configuration {1, 2, 3} -> {3, 4, 5} without
automatic leave (etcd raft allows that: the operator leaves it explicitly), so
it stays in force while the rules are exercised.
"""

from __future__ import annotations

from pyconsensus.core.membership import Membership
from pyconsensus.core.ready import ReadReady, Write
from pyconsensus.core.types import Role
from pyconsensus.raft import RaftNode
from pyconsensus.raft.confchange import SNAPSHOT_MEMBERSHIP_KEY
from pyconsensus.sim.harness import Harness
from tests.raft.support import growable

JOINT = Membership({3, 4, 5}, voters_outgoing={1, 2, 3})


def _joint(**config: object) -> Harness[RaftNode]:
    h = growable(**config)  # type: ignore[arg-type]
    for node in h.members:
        h.storages[node].write(Write(metadata={SNAPSHOT_MEMBERSHIP_KEY: JOINT.encode()}))
        h.crash(node)
        h.restart(node)
    return h


def _run(h: Harness[RaftNode], ticks: int, *nodes: int) -> None:
    for _ in range(ticks):
        for node in nodes or h.members:
            if node not in h.down:
                h.tick(node)
        h.stabilize()


def _led_by_3() -> Harness[RaftNode]:
    h = _joint()
    h.elect(3)
    _run(h, 2, 3)
    return h


def test_every_node_recovers_the_joint_configuration() -> None:
    h = _joint()
    assert all(h.node(n).membership == JOINT for n in h.members)


def test_commitment_needs_a_majority_of_both_halves() -> None:
    h = _led_by_3()
    leader = h.node(3)
    h.isolate(4)
    h.isolate(5)
    h.propose(3, b"x")
    _run(h, 3, 3)
    assert leader.log.last_index > leader.commit  # 1, 2, 3 hold it: the old half alone
    h.heal()
    _run(h, 3, 3)
    assert leader.commit == leader.log.last_index


def test_an_election_needs_a_majority_of_both_halves() -> None:
    """A candidate the old voters elect is no leader without the new ones,
    with PreVote (the default) as with plain votes."""
    for config in ({}, {"pre_vote": False, "check_quorum": False}):
        h = _joint(**config)
        h.isolate(4)
        h.isolate(5)
        _run(h, 200, 1, 2, 3)
        assert all(h.node(n).status().role is not Role.LEADER for n in (1, 2, 3)), config
        h.heal()
        _run(h, 200, 1, 2, 3)
        assert any(h.node(n).status().role is Role.LEADER for n in (1, 2, 3)), config


def test_check_quorum_counts_the_joint_quorum() -> None:
    h = _led_by_3()
    h.isolate(4)
    h.isolate(5)  # the old half still answers
    _run(h, 30, 3)
    assert h.node(3).status().role is not Role.LEADER
    assert h.node(3).counters["leader.lost_quorum"] == 1


def test_read_index_is_confirmed_by_both_halves() -> None:
    h = _led_by_3()
    h.isolate(4)
    h.isolate(5)
    rid = h.read(3)
    _run(h, 2, 3)
    assert not any(isinstance(r, ReadReady) and r.request_id == rid for r in h.replies[3])
    h.heal()
    _run(h, 2, 3)
    assert any(isinstance(r, ReadReady) and r.request_id == rid for r in h.replies[3])
