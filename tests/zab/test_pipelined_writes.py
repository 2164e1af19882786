"""Pipelined writes for ZAB: the established leader writes its history in
parallel with broadcasting it (the idea of Raft thesis section 10.2.1).

With ``ZabConfig(pipelined_writes=True)`` the leader's PROPOSALs leave before
its own write of them is durable, so the leader must not count its own
acknowledgement until the driver reports the write persisted. Otherwise, in a
3-node cluster, a commit can rest on one durable copy (a follower's) and one
that a crash loses (the leader's): the leader and the third server, which both
lack the transaction after the crash, can then establish a new epoch without
it, although a client was told it committed. Followers are unchanged: their
ACK still follows their write.
"""

from __future__ import annotations

from random import Random
from typing import TypeGuard

from pyconsensus.core.node import PipelinedNode, pipelined
from pyconsensus.core.ready import Message, ProposalCommitted
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import NodeId
from pyconsensus.sim.specs import get_spec
from pyconsensus.zab import (
    Ack,
    Commit,
    NewLeader,
    Ping,
    Proposal,
    Trunc,
    ZabConfig,
    ZabNode,
)
from tests.slow_disks import SlowDisks, assert_x_leaves_before_the_leaders_write
from tests.zab.broken import UnsyncedSelfZab
from tests.zab.support import serving, settle, zab_cluster

PIPELINED = ZabConfig(pipelined_writes=True)


def slow_disks(node_class: type[ZabNode] = ZabNode) -> SlowDisks[ZabNode]:
    """Three pipelined ZAB servers; each disk is fast until a test adds it to
    ``slow``."""
    cluster = zab_cluster(config=PIPELINED, node_class=node_class)
    return SlowDisks(cluster.factory, cluster.members, cluster.seed)


def _leader_writes_x_while_one_follower_acknowledges(c: SlowDisks[ZabNode]) -> tuple[NodeId, int]:
    """Leader 3 proposes x; its own write of x is still in flight when follower 2
    has stored x and acknowledged it; the PROPOSAL to follower 1 is lost."""
    assert settle(c) == 3
    c.slow.add(3)
    c.propose(3, b"x")
    index = c.node(3).history.last_index
    assert c.inflight[3], "the leader's write of x is in flight"
    assert c.drop(to=1, types=Proposal)
    assert c.deliver(to=2, types=Proposal), "x left before the leader's write was durable"
    assert c.deliver(to=3, types=Ack)
    return 3, index


def _rejoin(c: SlowDisks[ZabNode], node_id: NodeId, leader: NodeId) -> None:
    """Heal the network and run until ``node_id`` follows ``leader`` in its epoch."""
    c.heal()
    for _ in range(200):
        c.tick_all()
        c.stabilize()
        if c.node(node_id).current_epoch == c.node(leader).current_epoch and serving(
            c, node_id, leader
        ):
            return
    raise AssertionError(f"server {node_id} did not rejoin leader {leader}")


def _new_leader_to(message: Message, node_id: NodeId) -> TypeGuard[NewLeader]:
    return isinstance(message, NewLeader) and message.dst == node_id


def _acknowledged(c: SlowDisks[ZabNode], node_id: NodeId, index: int) -> bool:
    return any(isinstance(r, ProposalCommitted) and r.index == index for r in c.replies[node_id])


def test_the_leader_sends_its_proposals_before_its_own_write_is_durable() -> None:
    c = slow_disks()
    leader = settle(c)
    assert_x_leaves_before_the_leaders_write(c, leader, Proposal)
    # Heartbeats (and the COMMITs that follow) leave early too.
    c.node(leader).tick()
    assert all(isinstance(m, Ping) for m in c.node(leader).ready().early_messages)


def test_a_follower_still_acknowledges_only_after_its_write() -> None:
    c = slow_disks()
    leader = settle(c)
    c.slow.add(2)
    c.propose(leader, b"x")
    c.deliver(to=2, types=Proposal)
    assert not [m for m in c.pending if isinstance(m, Ack) and m.src == 2]
    c.complete(2)
    assert [m for m in c.pending if isinstance(m, Ack) and m.src == 2]


def test_the_leader_does_not_count_its_unsynced_copy_towards_the_quorum() -> None:
    c = slow_disks()
    leader, index = _leader_writes_x_while_one_follower_acknowledges(c)
    assert c.node(leader).commit < index, "committed on one durable copy"
    assert not _acknowledged(c, leader, index)
    c.complete(leader)  # now the leader's own copy is durable: two durable copies
    assert c.node(leader).commit == index
    assert _acknowledged(c, leader, index)
    assert c.deliver(to=2, types=Commit)
    assert [e.data for e in c.applied[2] if e.index == index] == [b"x"]


def test_a_crash_before_the_leaders_write_loses_x_but_nothing_acknowledged() -> None:
    """The scenario of the module docstring, with the correct rule: x was never
    acknowledged, so a new epoch without it breaks no promise."""
    c = slow_disks()
    leader, index = _leader_writes_x_while_one_follower_acknowledges(c)
    c.crash(leader)  # before its disk finished writing x
    assert not _acknowledged(c, leader, index), "x's client was never told it committed"
    c.slow.clear()
    c.isolate(2)  # the only server holding x
    c.restart(leader)
    assert c.node(leader).history.last_index == index - 1, "the restarted leader lost x"
    new_leader = settle(c, among=[1, 3])
    c.propose(new_leader, b"y")
    c.stabilize()
    assert [e.data for e in c.applied[new_leader] if e.index == index] == [b"y"]
    # Server 2 comes back and is truncated: x is gone for good, as nobody was told
    # it committed.
    _rejoin(c, 2, new_leader)
    syncs = [m.sync for r in c.readies[new_leader] for m in r.messages if _new_leader_to(m, 2)]
    assert any(isinstance(sync, Trunc) for sync in syncs)
    assert [e.data for e in c.node(2).history.slice(index, index + 1)] == [b"y"]
    assert all(e.data != b"x" for m in c.members for e in c.applied[m])


def test_counting_the_unsynced_copy_acknowledges_x_on_one_durable_copy() -> None:
    c = slow_disks(UnsyncedSelfZab)
    leader, index = _leader_writes_x_while_one_follower_acknowledges(c)
    assert _acknowledged(c, leader, index), "x acknowledged to the client..."
    c.crash(leader)
    assert c.storages[leader].last_index() == index - 1, "...although a crash loses it"


def test_persisted_ignores_a_write_whose_transactions_were_replaced_since() -> None:
    """Server 1's disk wrote y, but the driver reports it late: by then a new
    epoch's TRUNC has replaced y by z, and the report must not vouch for z."""
    c = slow_disks()
    old = settle(c)
    c.propose(old, b"x")
    c.stabilize()
    c.unreported.add(1)  # from now on server 1 hears of its writes only when we say
    c.slow.add(old)
    c.propose(old, b"y")
    index = c.node(old).history.last_index
    c.drop(to=2, types=Proposal)
    c.deliver(to=1, types=Proposal)
    c.crash(old)  # the old leader never wrote y
    c.slow.clear()
    c.isolate(1)
    c.restart(old)
    new = settle(c, among=[2, 3])
    c.propose(new, b"z")
    c.stabilize()
    _rejoin(c, 1, new)
    follower = c.node(1)
    assert [e.data for e in follower.history.slice(index, index + 1)] == [b"z"]
    late, *later = c.held_reports[1]
    assert [e.data for e in late.entries] == [b"y"]
    assert follower.durable == index - 1
    follower.persisted(late)
    assert follower.durable == index - 1, "y is no longer in the history"
    for write in later:
        follower.persisted(write)
    assert follower.durable == follower.history.last_index


def test_without_the_option_nothing_changes() -> None:
    c = zab_cluster()
    leader = settle(c)
    node = c.node(leader)
    assert not pipelined(node)
    assert isinstance(node, PipelinedNode) and not node.pipelined_writes
    node.propose(b"x")
    ready = node.ready()
    assert ready.early_messages == []
    assert {type(m) for m in ready.messages} == {Proposal}


def test_the_option_reaches_zab_through_the_registry() -> None:
    spec = get_spec("zab").with_options({"pipelined_writes": "true"})
    node = spec.factory(1, (1, 2, 3), MemoryStorage(), Random(0))
    assert isinstance(node, ZabNode) and pipelined(node)
