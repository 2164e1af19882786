"""Single-decree Paxos, rule by rule ("Paxos Made Simple", section 2), then under a
seeded random network."""

from __future__ import annotations

import pytest

from pyconsensus.core.errors import ConfigError
from pyconsensus.paxos.ballot import Ballot
from pyconsensus.paxos.messages import Nack
from pyconsensus.paxos.single import (
    Accept,
    Accepted,
    Acceptor,
    AcceptorState,
    LocalCluster,
    Prepare,
    Promise,
    Proposal,
    Proposer,
    SingleDecreeNode,
    Step,
)

B1, B2, B3 = Ballot(1, 1), Ballot(2, 2), Ballot(3, 3)


# -- the acceptor ------------------------------------------------------------


def test_acceptor_promises_a_higher_ballot_and_persists_the_promise_before_replying() -> None:
    acceptor = Acceptor(9, learners=[9])
    step = acceptor.on_prepare(Prepare(1, 9, B1))
    assert step.write == AcceptorState(promised=B1)
    assert step.messages == (Promise(9, 1, B1, None),)


def test_acceptor_never_accepts_below_its_promise() -> None:
    acceptor = Acceptor(9, learners=[9])
    acceptor.on_prepare(Prepare(2, 9, B2))
    step = acceptor.on_accept(Accept(1, 9, B1, b"old"))
    assert step.write is None
    assert step.messages == (Nack(9, 1, B1, B2),)
    assert acceptor.state == AcceptorState(promised=B2)


def test_acceptor_refuses_to_promise_a_ballot_at_or_below_its_promise() -> None:
    acceptor = Acceptor(9, learners=[9])
    acceptor.on_prepare(Prepare(2, 9, B2))
    for ballot in (B1, B2):
        step = acceptor.on_prepare(Prepare(1, 9, ballot))
        assert step.write is None
        assert step.messages == (Nack(9, 1, ballot, B2),)


def test_promise_reports_the_proposal_accepted_last() -> None:
    acceptor = Acceptor(9, learners=[9])
    acceptor.on_accept(Accept(1, 9, B1, b"a"))
    acceptor.on_accept(Accept(2, 9, B2, b"b"))
    step = acceptor.on_prepare(Prepare(3, 9, B3))
    assert step.messages == (Promise(9, 3, B3, Proposal(B2, b"b")),)


def test_acceptance_is_persisted_before_it_is_announced_to_proposer_and_learners() -> None:
    acceptor = Acceptor(9, learners=[7, 8, 9])
    step = acceptor.on_accept(Accept(1, 9, B1, b"v"))
    assert step.write == AcceptorState(B1, Proposal(B1, b"v"))
    assert {(m.dst, m.value) for m in step.messages if isinstance(m, Accepted)} == {
        (1, b"v"),
        (7, b"v"),
        (8, b"v"),
        (9, b"v"),
    }


# -- the proposer ------------------------------------------------------------


def test_proposer_adopts_the_highest_ballot_value_reported_by_its_promise_quorum() -> None:
    proposer = Proposer(3, acceptors=[1, 2, 3, 4, 5], value=b"mine")
    proposer.prepare(3)
    ballot = proposer.ballot
    proposer.on_promise(Promise(1, 3, ballot, Proposal(B1, b"older")))
    proposer.on_promise(Promise(2, 3, ballot, None))
    step = proposer.on_promise(Promise(4, 3, ballot, Proposal(B2, b"newer")))
    assert {m.value for m in step.messages if isinstance(m, Accept)} == {b"newer"}
    assert proposer.proposal == Proposal(ballot, b"newer")


def test_proposer_proposes_its_own_value_when_no_acceptor_accepted_anything() -> None:
    proposer = Proposer(3, acceptors=[1, 2, 3], value=b"mine")
    proposer.prepare(1)
    proposer.on_promise(Promise(1, 3, proposer.ballot, None))
    step = proposer.on_promise(Promise(2, 3, proposer.ballot, None))
    assert [m.dst for m in step.messages] == [1, 2, 3]
    assert {m.value for m in step.messages if isinstance(m, Accept)} == {b"mine"}


def test_proposer_ignores_promises_for_an_older_ballot() -> None:
    proposer = Proposer(3, acceptors=[1, 2, 3], value=b"mine")
    proposer.prepare(1)
    old = proposer.ballot
    proposer.prepare(2)
    proposer.on_promise(Promise(1, 3, old, None))
    step = proposer.on_promise(Promise(2, 3, old, None))
    assert step.messages == ()
    assert proposer.phase == "preparing"


def test_preempted_proposer_stops_and_retries_above_the_preempting_ballot() -> None:
    proposer = Proposer(1, acceptors=[1, 2, 3], value=b"v")
    proposer.prepare(1)
    proposer.on_nack(Nack(2, 1, proposer.ballot, Ballot(7, 3)))
    assert proposer.phase == "idle"
    assert proposer.highest_round == 7
    with pytest.raises(ValueError, match="not above"):
        proposer.prepare(1)


def test_value_is_chosen_once_a_quorum_accepted_it() -> None:
    proposer = Proposer(1, acceptors=[1, 2, 3], value=b"v")
    proposer.prepare(1)
    for acceptor in (1, 2):
        proposer.on_promise(Promise(acceptor, 1, proposer.ballot, None))
    assert proposer.on_accepted(Accepted(1, 1, proposer.ballot, b"v")).chosen is None
    assert proposer.on_accepted(Accepted(2, 1, proposer.ballot, b"v")).chosen == b"v"


# -- whole nodes and the driver ----------------------------------------------


def test_a_later_proposer_chooses_the_value_already_chosen() -> None:
    cluster = LocalCluster([1, 2, 3], seed=1)
    cluster.propose(1, b"first")
    cluster.run()
    assert set(cluster.learned.values()) == {b"first"}
    cluster.propose(3, b"second")
    cluster.run()
    assert cluster.nodes[3].proposer is not None
    assert cluster.nodes[3].proposer.phase == "done"
    assert set(cluster.learned.values()) == {b"first"}


def test_restarted_acceptor_keeps_its_promise_and_its_accepted_value() -> None:
    cluster = LocalCluster([1, 2, 3], seed=2)
    cluster.propose(1, b"v")
    cluster.run()
    before = cluster.nodes[2].acceptor.state
    cluster.crash(2)
    cluster.restart(2)
    assert cluster.nodes[2].acceptor.state == before
    assert before.accepted == Proposal(before.promised, b"v")


def test_restarted_proposer_never_reuses_a_ballot() -> None:
    cluster = LocalCluster([1, 2, 3], seed=3)
    cluster.propose(1, b"v")
    first = cluster.nodes[1].proposer
    assert first is not None
    cluster.crash(1)
    cluster.restart(1)
    cluster.propose(1, b"w")
    second = cluster.nodes[1].proposer
    assert second is not None
    assert second.ballot > first.ballot


class CheckingCluster(LocalCluster):
    """Checks, as each step is carried out, that every promise and acceptance it
    announces is already on the announcing node's disk."""

    def apply(self, node_id: int, step: Step) -> None:
        super().apply(node_id, step)
        disk = self.disk.get(node_id, AcceptorState())
        for message in step.messages:
            if isinstance(message, Promise):
                assert disk.promised >= message.ballot
            elif isinstance(message, Accepted) and message.src == node_id:
                assert disk.accepted == Proposal(message.ballot, message.value)


def test_every_promise_and_acceptance_is_durable_before_it_is_sent() -> None:
    cluster = CheckingCluster([1, 2, 3], seed=4, duplicate=0.2)
    cluster.propose(1, b"v")
    cluster.propose(2, b"w")
    for _ in range(20):
        cluster.run()
        if len(cluster.learned) == 3:
            break
        for node_id in (1, 2):
            if node_id not in cluster.learned:
                cluster.propose(node_id, b"again")
    assert len(cluster.persisted) >= 4
    assert len(set(cluster.learned.values())) == 1


@pytest.mark.parametrize("seed", range(150))
def test_duelling_proposers_under_loss_and_duplication_choose_one_value(seed: int) -> None:
    cluster = LocalCluster([1, 2, 3, 4, 5], seed=seed, loss=0.15, duplicate=0.1)
    proposers = (1, 2, 3)
    for node_id in proposers:
        cluster.propose(node_id, b"v%d" % node_id)
    for attempt in range(50):
        cluster.run()
        if attempt == 3:
            cluster.crash(2)
        if attempt == 6:
            cluster.restart(2)
        if all(n in cluster.learned for n in proposers if n not in cluster.down):
            break
        for node_id in proposers:
            if node_id not in cluster.learned:
                cluster.propose(node_id, b"v%d" % node_id)
    assert len(set(cluster.learned.values())) == 1
    assert set(cluster.learned) >= {1, 3}


# -- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("hello", "unknown_type"),
        (Prepare(1, 5, B1), "wrong_destination"),
        (Prepare(8, 2, B1), "unknown_sender"),
        (Prepare(1, 2, Ballot.ZERO), "bad_ballot"),
        (Prepare(1, 2, (1, 1)), "bad_ballot"),  # type: ignore[arg-type]
        (Accept(1, 2, B1, "text"), "malformed"),  # type: ignore[arg-type]
        (Promise(1, 2, B1, Proposal(B2, b"x")), "malformed"),
        (Promise(1, 2, B1, "junk"), "malformed"),  # type: ignore[arg-type]
        (Nack(1, 2, B2, B1), "bad_ballot"),
        (Prepare(1, 2, None), "bad_ballot"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_is_dropped_and_counted(message: object, reason: str) -> None:
    node = SingleDecreeNode(2, [1, 2, 3])
    before = node.acceptor.state
    step = node.receive(message)
    assert step.write is None and step.messages == ()
    assert node.counters["dropped." + reason] == 1
    assert node.acceptor.state == before


def test_a_node_must_be_a_member() -> None:
    with pytest.raises(ConfigError):
        SingleDecreeNode(4, [1, 2, 3])
