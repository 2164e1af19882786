"""Raft thesis section 10.2.1 applied to Multi-Paxos: the leader, which is also
an acceptor, writes its own acceptances in parallel with phase 2.

With ``PaxosConfig(pipelined_writes=True)`` the established leader's ``Accept``s
leave before its own acceptance of their values is durable, so it must not count
that acceptance towards a slot's quorum until the driver reports it persisted.
Otherwise, in a 3-node cluster, a value can be chosen on one durable acceptance
(an acceptor's) and one that a crash loses (the leader's): a later ballot whose
phase 1 hears from the restarted leader and the third acceptor then learns of no
value in the slot and chooses another one there - over a value acknowledged to
its client.
"""

from __future__ import annotations

from random import Random

from pyconsensus.core.node import PipelinedNode, pipelined
from pyconsensus.core.ready import ProposalCommitted
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Role
from pyconsensus.paxos import (
    Accept,
    Accepted,
    Decision,
    Heartbeat,
    MultiPaxosNode,
    PaxosConfig,
    Promise,
)
from tests.paxos.broken import UnsyncedSelfPaxos
from tests.slow_disks import (
    SlowDisks,
    all_disks_slow,
    assert_x_leaves_before_the_leaders_write,
    leader_1_writes_x_while_node_2_answers,
    lone_leader,
)

PIPELINED = PaxosConfig(pipelined_writes=True)
SlowDiskCluster = SlowDisks[MultiPaxosNode]


def slow_disks(node_class: type[MultiPaxosNode] = MultiPaxosNode) -> SlowDiskCluster:
    """Three pipelined Multi-Paxos nodes whose disks are all slow."""
    return all_disks_slow(node_class, PIPELINED)


def _leader_accepts_x_while_one_acceptor_answers(c: SlowDiskCluster) -> int:
    """Leader 1 proposes x; its own acceptance of x is still in flight when
    acceptor 2 has stored x and answered; the Accept to acceptor 3 is lost."""
    leader_1_writes_x_while_node_2_answers(c, Accept, Accepted)
    return c.node(1).log.last_index


def test_the_leader_sends_its_accept_before_its_own_acceptance_is_durable() -> None:
    c = slow_disks()
    c.elect(1)
    assert_x_leaves_before_the_leaders_write(c, 1, Accept)


def test_the_leader_sends_nothing_early_before_its_promise_is_durable() -> None:
    """Phase 1 keeps the ordinary contract: a leader whose own promise of its
    ballot could still be lost might, restarted, lead that ballot again with
    other values; so its first messages wait for the promise's write."""
    c = slow_disks()
    node = c.node(1)
    while node.role is Role.FOLLOWER:
        c.tick(1)
    c.deliver()
    c.complete_all()  # the acceptors' promises are durable and their answers leave
    c.deliver(to=1, types=Promise)
    assert node.role is Role.LEADER
    assert c.storages[1].has_staged(), "the leader's promise of its ballot is in flight"
    assert not any(isinstance(m, (Heartbeat, Accept)) for m in c.pending)
    c.complete(1)
    assert {m.dst for m in c.pending if isinstance(m, Heartbeat)} == {2, 3}
    node.propose(b"x")
    assert all(isinstance(m, Accept) for m in node.ready().early_messages)


def test_an_acceptor_answers_only_after_its_write() -> None:
    c = slow_disks()
    c.elect(1)
    c.node(1).propose(b"x")
    c.flush(1)
    c.node(2).receive(next(m for m in c.pending if isinstance(m, Accept) and m.dst == 2))
    ready = c.node(2).ready()
    assert ready.write is not None and ready.early_messages == []
    assert [type(m) for m in ready.messages] == [Accepted]


def test_the_leader_does_not_count_its_unsynced_acceptance() -> None:
    c = slow_disks()
    slot = _leader_accepts_x_while_one_acceptor_answers(c)
    assert c.node(1).learned < slot, "chosen on one durable acceptance"
    assert not any(isinstance(r, ProposalCommitted) for r in c.all_replies())
    c.complete(1)  # now the leader's own acceptance is durable: two durable ones
    assert c.node(1).learned == slot
    assert any(isinstance(r, ProposalCommitted) and r.index == slot for r in c.all_replies())


def test_a_crash_before_the_leaders_write_loses_nothing_acknowledged() -> None:
    """The scenario of the module docstring, with the correct rule: x was never
    acknowledged, so node 3 choosing y in its slot breaks no promise."""
    c = slow_disks()
    slot = _leader_accepts_x_while_one_acceptor_answers(c)
    c.crash(1)  # before its disk finished writing x
    c.crash(2)  # node 3's phase 1 hears only from node 1
    c.restart(1)
    assert c.node(1).log.get(slot) is None, "the restarted leader lost x"
    c.elect(3)
    c.node(3).propose(b"y")
    c.flush(3)
    c.settle()
    assert [e.data for e in c.applied[3] if e.index == slot] == [b"y"]
    acknowledged = [r.index for r in c.all_replies() if isinstance(r, ProposalCommitted)]
    assert acknowledged == [slot], "only y was acknowledged, and y is chosen there"


def test_counting_the_unsynced_acceptance_lets_a_crash_replace_an_acknowledged_value() -> None:
    """The same scenario with the broken rule: x is acknowledged to its client,
    then lost with the leader's write, and node 3 chooses y in its slot."""
    c = slow_disks(UnsyncedSelfPaxos)
    slot = _leader_accepts_x_while_one_acceptor_answers(c)
    c.flush(1)
    assert any(isinstance(r, ProposalCommitted) and r.index == slot for r in c.all_replies())
    assert c.inflight[1], "the leader's write of x is still in flight"
    c.deliver(to=2, types=Decision)
    assert [e.data for e in c.applied[2] if e.index == slot] == [b"x"]
    c.crash(1)
    c.crash(2)
    c.restart(1)
    c.elect(3)
    c.node(3).propose(b"y")
    c.flush(3)
    c.settle()
    assert [e.data for e in c.applied[3] if e.index == slot] == [b"y"], (
        "x, acknowledged and applied by node 2, was replaced"
    )


def test_a_single_node_learns_only_once_its_write_is_persisted() -> None:
    node = lone_leader(MultiPaxosNode(1, [1], MemoryStorage(), Random(0), PIPELINED))
    promise = node.ready().write
    assert promise is not None
    node.persisted(promise)
    node.propose(b"x")
    first = node.ready()
    assert first.write is not None and not first.committed
    node.persisted(first.write)
    assert [e.data for e in node.ready().committed] == [b"x"]


def test_persisted_ignores_a_write_of_an_earlier_ballot() -> None:
    c = slow_disks()
    c.elect(1)
    c.node(1).propose(b"x")
    c.flush(1)
    write = c.inflight[1][-1][0]
    assert write is not None
    c.crash(2)
    c.crash(3)
    for _ in range(100):  # node 1 loses its quorum and steps down
        c.tick(1)
    assert c.node(1).role is not Role.LEADER
    c.node(1).persisted(write)
    assert c.node(1).learned == 0


def test_without_the_option_nothing_changes() -> None:
    node = MultiPaxosNode(1, [1], MemoryStorage(), Random(0))
    assert not pipelined(node)
    assert isinstance(node, PipelinedNode) and not node.pipelined_writes
    lone_leader(node)
    node.ready()
    node.propose(b"x")
    ready = node.ready()
    assert [e.data for e in ready.committed] == [b"x"]
    assert ready.early_messages == []
