"""Multi-Paxos scenarios, each named after the rule it demonstrates.

The cluster is driven by hand (``Harness``): messages wait until a test
delivers or drops them, so each test plays out exactly the interleaving the
rule is about.
"""

from __future__ import annotations

from collections.abc import Sequence
from random import Random

import pytest

from pyconsensus.core.errors import NotLeader, ProposalDropped
from pyconsensus.core.ready import ProposalCommitted, ReadReady
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import NodeId, Role
from pyconsensus.paxos import (
    PROMISED_KEY,
    Accept,
    Accepted,
    Ballot,
    CatchUp,
    Decision,
    Heartbeat,
    InstallSnapshot,
    MultiPaxosNode,
    Nack,
    PaxosConfig,
    Prepare,
    Promise,
    SnapshotAck,
)
from pyconsensus.sim import (
    Harness,
    NetworkConfig,
    ProposalClient,
    ProtocolSpec,
    SimConfig,
    Simulation,
)
from pyconsensus.sim.checkers.paxos import PaxosSafety
from tests.paxos.support import (
    NO_LEASE,
    accept_for,
    accepted,
    cluster,
    deliver_where,
    error_of,
    start_phase1,
    values,
)

# -- acceptors ---------------------------------------------------------------


def leader_1_proposes_abc(config: PaxosConfig | None = None) -> Harness[MultiPaxosNode]:
    """Three nodes; node 1 leads and proposes a, b and c (slots 1-3), whose
    Accepts are still in flight."""
    h = cluster(config=config)
    h.elect(1)
    for data in (b"a", b"b", b"c"):
        h.propose(1, data)
    return h


def test_acceptor_never_accepts_below_its_promise() -> None:
    h = cluster(config=NO_LEASE)
    h.elect(1)
    old = h.node(1).ballot
    new = start_phase1(h, 2)
    h.deliver(src=2, to=3, types=Prepare)  # node 3 promises the newer ballot
    h.drop(src=2, to=1)
    h.drop(src=3)  # node 2 never hears back, so no new value is proposed

    h.propose(1, b"stale")
    h.deliver(to=3, types=Accept)

    node3 = h.node(3)
    assert node3.promised == new > old
    assert accepted(node3, 1) is None
    assert h.storages[3].entries(1, 2) == []
    assert node3.counters["ignored.below_promise"] == 1
    assert [m for m in h.pending if isinstance(m, Nack)] == [Nack(3, 1, old, new)]


def test_acceptor_persists_its_promise_before_promising() -> None:
    h = cluster()
    ballot = start_phase1(h, 1)
    h.deliver(to=2, types=Prepare)
    (ready,) = [r for r in h.readies[2] if any(isinstance(m, Promise) for m in r.messages)]
    assert ready.write is not None
    assert ready.write.metadata[PROMISED_KEY] == ballot.packed
    assert h.storages[2].metadata()[PROMISED_KEY] == ballot.packed


def test_acceptor_persists_accepted_values_before_acknowledging_them() -> None:
    h = cluster()
    h.elect(1)
    h.propose(1, b"x")
    h.deliver(to=2, types=Accept)
    (ready,) = [r for r in h.readies[2] if any(isinstance(m, Accepted) for m in r.messages)]
    assert ready.write is not None
    assert [(e.index, e.data) for e in ready.write.entries] == [(1, b"x")]
    assert [(e.index, e.data) for e in h.storages[2].entries(1, 2)] == [(1, b"x")]


def test_acceptor_accepts_slots_out_of_order_leaving_holes() -> None:
    h = leader_1_proposes_abc()
    deliver_where(h, accept_for(3, to=2))
    node2 = h.node(2)
    assert accepted(node2, 1) is None
    assert accepted(node2, 2) is None
    assert accepted(node2, 3) == (h.node(1).ballot, b"c")
    assert [e.index for e in h.storages[2].entries(1, 4)] == [3]
    assert node2.learned == 0  # nothing learned past a hole


# -- phase 1: recovery by a new leader ----------------------------------------


def test_proposer_adopts_the_highest_ballot_value_from_its_promise_quorum() -> None:
    h = cluster(members=(1, 2, 3, 4, 5), config=NO_LEASE)
    h.elect(1)
    h.propose(1, b"a")  # accepted in ballot (1, 1) by nodes 1 and 2 only
    deliver_where(h, accept_for(1, to=2))
    h.drop()

    start_phase1(h, 3)  # ballot (2, 3), promised by 3, 4 and 5: none saw "a"
    h.deliver(src=3, types=Prepare, to=4)
    h.deliver(src=3, types=Prepare, to=5)
    h.drop(src=3, types=Prepare)
    h.deliver(to=3, types=Promise)
    assert h.node(3).role is Role.LEADER
    h.drop()
    h.propose(3, b"b")  # slot 1 again; accepted in ballot (2, 3) by 3 and 4 only
    deliver_where(h, accept_for(1, to=4))
    h.drop()

    ballot = start_phase1(h, 5)  # promised by 5, 1 (saw "a") and 4 (saw "b")
    assert ballot == Ballot(3, 5)
    h.deliver(src=5, types=Prepare, to=1)
    h.deliver(src=5, types=Prepare, to=4)
    h.drop(src=5, types=Prepare)
    h.deliver(to=5, types=Promise)

    node5 = h.node(5)
    assert node5.role is Role.LEADER
    assert accepted(node5, 1) == (ballot, b"b")
    h.stabilize()
    for member in h.members:
        assert values(h.applied[member]) == [b"b"]


def test_new_leader_fills_holes_with_noops() -> None:
    h = leader_1_proposes_abc(NO_LEASE)
    deliver_where(h, accept_for(1, to=2))
    deliver_where(h, accept_for(3, to=2))  # slot 2 reaches nobody but the leader
    h.crash(1)
    h.drop()

    start_phase1(h, 2)
    h.stabilize()

    assert h.node(2).role is Role.LEADER
    assert h.node(2).recovery_end == 3
    assert values(h.applied[2]) == [b"a", b"<noop>", b"c"]
    assert values(h.applied[3]) == [b"a", b"<noop>", b"c"]


def test_promises_fill_the_new_leaders_own_holes() -> None:
    h = leader_1_proposes_abc(NO_LEASE)
    deliver_where(h, accept_for(1, to=2))
    deliver_where(h, accept_for(3, to=2))
    deliver_where(h, accept_for(2, to=3))  # only node 3 holds slot 2
    h.crash(1)
    h.drop()

    start_phase1(h, 2)
    h.stabilize()

    assert values(h.applied[2]) == [b"a", b"b", b"c"]
    assert values(h.applied[3]) == [b"a", b"b", b"c"]


def test_chosen_values_survive_any_number_of_leader_changes() -> None:
    h = cluster(config=NO_LEASE)
    h.elect(1)
    h.propose(1, b"x")
    h.stabilize()
    for leader in (2, 3, 1, 2):
        start_phase1(h, leader)
        h.stabilize()
        assert h.node(leader).role is Role.LEADER
        h.propose(leader, b"from %d" % leader)
        h.stabilize()
    expected = [b"x", b"from 2", b"from 3", b"from 1", b"from 2"]
    for member in h.members:
        assert [v for v in values(h.applied[member]) if v != b"<noop>"] == expected


# -- preemption and duelling proposers ----------------------------------------


def test_preempted_leader_steps_back() -> None:
    h = cluster(config=NO_LEASE)
    h.elect(1)
    start_phase1(h, 2)
    h.deliver(src=2, to=3, types=Prepare)
    h.drop()
    h.propose(1, b"late")
    h.deliver(to=3, types=Accept)
    h.deliver(to=1, types=Nack)
    node1 = h.node(1)
    assert node1.role is Role.FOLLOWER
    assert node1.counters["proposer.preempted"] == 1
    assert isinstance(error_of(h, 1, h.propose(1, b"now")), NotLeader)


def duel_spec() -> ProtocolSpec:
    """Nodes 1 and 2 time out after 2 ticks while messages take up to 6: their
    phase 1s overlap and preempt each other. Node 3 only accepts."""
    eager = PaxosConfig(election_ticks=2, heartbeat_ticks=1, lease=False)
    passive = PaxosConfig(election_ticks=10_000, lease=False)

    def factory(
        node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random
    ) -> MultiPaxosNode:
        return MultiPaxosNode(node_id, members, storage, rng, passive if node_id == 3 else eager)

    return ProtocolSpec(name="paxos-duel", factory=factory, checkers=lambda: (PaxosSafety(),))


@pytest.mark.parametrize("seed", range(6))
def test_two_duelling_proposers_eventually_make_progress(seed: int) -> None:
    network = NetworkConfig(min_delay_ms=5, max_delay_ms=60, reorder=True)
    sim = Simulation(duel_spec(), seed, SimConfig(nodes=3, tick_ms=10, network=network))
    client = ProposalClient(sim, 1)
    client.start()
    while not client.acked and sim.now < 30_000:
        sim.run_for(10)
    assert client.acked, "no proposal committed in 30 s of duelling"
    nodes = [node for node in sim.nodes.values() if isinstance(node, MultiPaxosNode)]
    assert sum(node.counters["proposer.preempted"] for node in nodes) >= 1
    assert [node.counters["phase1.started"] > 0 for node in nodes] == [True, True, False]


# -- learners and catch-up ----------------------------------------------------


def test_learners_learn_chosen_values_in_slot_order_each_once() -> None:
    h = leader_1_proposes_abc()
    deliver_where(h, accept_for(3, to=2))
    deliver_where(h, accept_for(3, to=3))
    h.deliver(types=Accepted)  # slot 3 is chosen, but 1 and 2 are not yet
    assert h.node(1).learned == 0
    h.stabilize()
    h.tick_all(3)
    h.stabilize()
    for member in h.members:
        assert values(h.applied[member]) == [b"a", b"b", b"c"]


def test_learner_trusts_only_values_accepted_in_the_leaders_ballot() -> None:
    h = cluster(config=NO_LEASE)
    h.elect(1)
    h.propose(1, b"x")
    h.deliver(types=Accept)
    h.deliver(src=2, types=Accepted)
    h.drop()  # node 1 learned slot 1; the Decision for it never reaches anyone
    h.tick(1)
    h.deliver(to=2, types=Heartbeat)  # node 2 learns it too, node 3 does not
    h.drop()
    h.crash(1)

    start_phase1(h, 2)
    h.deliver(types=Prepare)
    h.deliver(types=Promise)  # node 2 leads from slot 2 on
    node3 = h.node(3)
    assert accepted(node3, 1) == (Ballot(1, 1), b"x")
    h.deliver(types=Heartbeat)  # "slot 1 is chosen": but node 3 holds a value of (1, 1)
    assert node3.learned == 0
    h.stabilize()

    assert node3.counters["catchup.requested"] >= 1
    assert h.node(2).counters["catchup.served"] >= 1
    assert values(h.applied[3]) == [b"x"]
    assert accepted(node3, 1) == (h.node(2).ballot, b"x")


def _values_chosen_while_node_3_is_cut_off(
    count: int, config: PaxosConfig | None = None
) -> Harness[MultiPaxosNode]:
    """Leader 1 has values v0.. (``count`` of them) chosen by itself and node 2
    while node 3 is isolated; the network stays cut."""
    h = cluster(config=config)
    h.elect(1)
    h.isolate(3)
    for k in range(count):
        h.propose(1, b"v%d" % k)
    h.stabilize()
    return h


def test_lagging_replica_catches_up_from_the_leader() -> None:
    h = _values_chosen_while_node_3_is_cut_off(5)
    h.heal()
    h.tick(1)
    h.stabilize()
    assert values(h.applied[3]) == [b"v0", b"v1", b"v2", b"v3", b"v4"]
    assert h.node(3).counters["catchup.requested"] >= 1


def test_lagging_replica_catches_up_through_a_snapshot_of_compacted_slots() -> None:
    h = _values_chosen_while_node_3_is_cut_off(6)
    leader = h.node(1)
    h.compact(1, 4, b"state@4")
    h.flush(1)
    h.heal()
    h.tick(1)
    h.stabilize()

    node3 = h.node(3)
    assert node3.snapshot is not None and node3.snapshot.index == 4
    assert any(r.restore is not None for r in h.readies[3])
    assert values(h.applied[3]) == [b"v4", b"v5"]  # applied after restoring the snapshot
    assert node3.learned == leader.learned == 6
    assert leader.counters["snapshots.sent"] == 1


def test_new_leader_behind_a_compaction_point_recovers_through_a_promised_snapshot() -> None:
    h = _values_chosen_while_node_3_is_cut_off(4, NO_LEASE)
    h.tick(1)
    h.stabilize()
    h.compact(2, 4, b"state@4")
    h.flush(2)
    h.crash(1)
    h.heal()

    start_phase1(h, 3)  # node 3 learned nothing; node 2's promise carries its snapshot
    h.deliver(types=Prepare)
    h.deliver(types=Promise)
    node3 = h.node(3)
    # It leads only once it holds the snapshot: it asks node 2 for its bytes.
    assert node3.status().role is Role.CANDIDATE
    while h.deliver(types=(SnapshotAck, InstallSnapshot)):
        pass
    assert node3.role is Role.LEADER
    assert node3.learned == 4
    h.propose(3, b"after")
    h.stabilize()
    assert values(h.applied[2])[-1:] == [b"after"]
    assert values(h.applied[3]) == [b"after"]


# -- persistence ---------------------------------------------------------------


def test_acceptor_state_survives_a_restart() -> None:
    h = cluster()
    h.elect(1)
    h.propose(1, b"x")
    h.stabilize()
    ballot = h.node(1).ballot
    h.crash(2)
    h.restart(2)
    node2 = h.node(2)
    assert node2.promised == ballot
    assert accepted(node2, 1) == (ballot, b"x")
    assert node2.learned == 0  # learning is not durable: it is learned again
    h.tick(1)
    h.stabilize()
    assert values(h.applied[2]) == [b"x"]


def test_promise_never_goes_backwards_across_a_restart() -> None:
    h = cluster(config=NO_LEASE)
    h.elect(1)
    newer = start_phase1(h, 2)
    h.deliver(src=2, to=3, types=Prepare)
    h.drop()
    h.crash(3)
    h.restart(3)
    assert h.node(3).promised == newer
    h.propose(1, b"stale")
    h.deliver(to=3, types=Accept)
    assert accepted(h.node(3), 1) is None


def test_restarted_leader_never_reuses_its_ballot() -> None:
    h = cluster()
    h.elect(1)
    old = h.node(1).ballot
    h.propose(1, b"x")
    h.stabilize()
    h.crash(1)
    h.restart(1)
    assert start_phase1(h, 1) > old


# -- leases ---------------------------------------------------------------------


def test_acceptor_hearing_from_a_leader_ignores_other_proposers() -> None:
    h = cluster()
    h.elect(1)
    ballot = h.node(1).ballot
    start_phase1(h, 2)
    h.deliver(src=2, to=3, types=Prepare)
    assert h.node(3).promised == ballot
    assert h.node(3).counters["ignored.prepare_in_lease"] == 1


def test_node_cut_off_from_everyone_never_raises_its_promise() -> None:
    h = cluster()
    h.elect(1)
    ballot = h.node(1).ballot
    h.isolate(3)
    h.tick(3, 200)  # many phase 1 attempts, each heard by no one
    node3 = h.node(3)
    assert node3.counters["phase1.started"] >= 3
    assert node3.promised == ballot
    h.heal()
    h.tick(1)
    h.stabilize()
    assert h.node(1).role is Role.LEADER
    assert node3.role is Role.FOLLOWER
    assert node3.leader == 1


def test_candidate_never_nacks_with_a_ballot_it_has_not_promised() -> None:
    # Node 3 starts late: node 1 wins phase 1 with node 2's promise while its
    # Prepare to node 3 is still in flight. Node 3 times out before hearing
    # from the leader and campaigns in a ballot above node 1's; then node 1's
    # old Prepare arrives. Node 3 promised nothing above it, so it must not
    # answer Nack(its own ballot): that would depose a leader whose phase 1 is
    # already won. It stays silent, and follows the leader at its next heartbeat.
    h = cluster()
    ballot = start_phase1(h, 1)
    h.deliver(src=1, to=2, types=Prepare)
    h.deliver(to=1, types=Promise)
    node1, node3 = h.node(1), h.node(3)
    assert node1.role is Role.LEADER
    h.deliver(src=1, to=2)  # node 2 hears from its leader
    late = h.drop(src=1, to=3)  # the Prepare and heartbeat still in flight to node 3
    assert start_phase1(h, 3) > ballot
    h.deliver(src=3, types=Prepare)  # both are in the leader's lease
    assert node1.counters["ignored.prepare_in_lease"] == 1
    assert h.node(2).counters["ignored.prepare_in_lease"] == 1
    prepare = next(m for m in late if isinstance(m, Prepare))
    node3.receive(prepare)
    h.flush(3)
    assert node3.counters["ignored.prepare_below_own_ballot"] == 1
    assert not [m for m in h.pending if isinstance(m, Nack)]
    assert node1.role is Role.LEADER
    h.tick(1)  # a heartbeat in the leader's ballot
    h.stabilize()
    assert node3.role is Role.FOLLOWER and node3.leader == 1
    assert node3.promised == ballot
    assert node1.role is Role.LEADER and node1.counters["proposer.preempted"] == 0
    rid = h.propose(1, b"x")
    h.stabilize()
    assert ProposalCommitted(rid, 1) in h.replies[1]
    assert [n.learned for n in h.nodes.values()] == [1, 1, 1]


def test_leader_nacked_by_acceptors_that_promised_a_higher_ballot_steps_down() -> None:
    # A Nack that reports a real promise still preempts a leader under lease.
    h = cluster()
    h.elect(1)
    h.isolate(1)
    while all(h.node(n).role is not Role.LEADER for n in (2, 3)):
        h.tick(2)
        h.tick(3)
        h.stabilize()
    leader = next(n for n in (2, 3) if h.node(n).role is Role.LEADER)
    h.heal()
    node1 = h.node(1)
    h.tick(1)  # a heartbeat in the old ballot, nacked by both acceptors
    h.deliver(src=1)
    h.deliver(to=1, types=Nack)
    assert node1.role is Role.FOLLOWER
    assert node1.counters["proposer.preempted"] == 1
    h.tick(leader)
    h.stabilize()
    assert node1.leader == leader
    assert node1.promised == h.node(leader).ballot


def test_leader_without_a_quorum_steps_down() -> None:
    h = cluster()
    h.elect(1)
    h.isolate(1)
    h.tick(1, 25)
    assert h.node(1).role is Role.FOLLOWER
    assert h.node(1).counters["leader.lost_quorum"] == 1


# -- phase 2 ---------------------------------------------------------------------


def test_leader_retries_unanswered_accepts() -> None:
    h = cluster()
    h.elect(1)
    h.propose(1, b"x")
    h.drop(types=Accept)
    h.tick(1, 3)
    h.drop(types=Heartbeat)
    assert h.node(1).counters["accept.retried"] == 1
    h.stabilize()
    assert values(h.applied[1]) == [b"x"]


def test_proposals_made_together_travel_in_one_accept() -> None:
    h = cluster()
    h.elect(1)
    node = h.node(1)
    for k in range(10):
        node.propose(b"v%d" % k)
    h.flush(1)
    accepts = [m for m in h.pending if isinstance(m, Accept)]
    assert [len(m.entries) for m in accepts] == [10, 10]
    h.stabilize()
    assert len(h.applied[3]) == 10


# -- clients ---------------------------------------------------------------------


def test_non_leader_answers_not_leader_with_a_hint() -> None:
    h = cluster()
    h.elect(1)
    for error in (error_of(h, 2, h.propose(2, b"x")), error_of(h, 3, h.read(3))):
        assert isinstance(error, NotLeader)
        assert error.leader_hint == 1


def test_committed_proposal_is_acknowledged_with_its_slot() -> None:
    h = cluster()
    h.elect(1)
    rid = h.propose(1, b"x")
    h.stabilize()
    assert ProposalCommitted(rid, 1) in h.replies[1]


def test_proposal_displaced_by_a_newer_leaders_value_is_reported_dropped() -> None:
    h = cluster(config=NO_LEASE)
    h.elect(1)
    rid = h.propose(1, b"lost")
    h.drop()
    start_phase1(h, 2)
    h.deliver(src=2, to=3)
    h.drop(to=1)
    h.deliver(to=2)  # node 2 leads; slot 1 was never accepted by 2 or 3
    h.propose(2, b"new")
    h.stabilize()
    h.tick(2)
    h.stabilize()
    assert values(h.applied[1]) == [b"new"]
    error = error_of(h, 1, rid)
    assert isinstance(error, ProposalDropped) and error.index == 1


def test_read_is_ready_once_a_quorum_confirms_the_leader() -> None:
    h = cluster()
    h.elect(1)
    h.propose(1, b"x")
    h.stabilize()
    rid = h.read(1)
    assert not any(isinstance(r, ReadReady) for r in h.replies[1])
    h.deliver(to=2, types=Heartbeat)
    h.deliver(types=Decision)
    h.deliver(to=1)
    assert ReadReady(rid, 1) in h.replies[1]


def test_read_waits_until_the_recovered_slots_are_chosen_again() -> None:
    h = cluster(config=NO_LEASE)
    h.elect(1)
    h.propose(1, b"x")
    h.deliver(types=Accept)
    h.drop()  # chosen (three acceptors have it), but learned by no one
    h.crash(1)
    start_phase1(h, 2)
    h.deliver(types=Prepare)
    h.deliver(types=Promise)
    node2 = h.node(2)
    assert node2.role is Role.LEADER and node2.recovery_end == 1
    rid = h.read(2)
    assert h.replies[2] == []
    h.stabilize()
    assert ReadReady(rid, 1) in h.replies[2]


def test_deposed_leaders_pending_reads_fail() -> None:
    h = cluster(config=NO_LEASE)
    h.elect(1)
    rid = h.read(1)
    h.drop()
    start_phase1(h, 2)
    h.deliver(src=2, to=1, types=Prepare)
    assert h.node(1).role is Role.FOLLOWER
    assert isinstance(error_of(h, 1, rid), NotLeader)


def test_single_node_cluster_decides_alone() -> None:
    h = cluster(members=(7,))
    h.elect(7)
    rid = h.propose(7, b"x")
    read = h.read(7)
    assert ProposalCommitted(rid, 1) in h.replies[7]
    assert ReadReady(read, 1) in h.replies[7]
    assert values(h.applied[7]) == [b"x"]


def test_catchup_requests_from_followers_of_another_ballot_are_ignored() -> None:
    h = cluster()
    h.elect(1)
    h.node(1).receive(CatchUp(2, 1, Ballot(9, 1), 1))
    assert h.node(1).counters["ignored.not_leader"] == 1
    assert not any(isinstance(m, (Accept, InstallSnapshot)) for m in h.pending)
