"""Single-decree Paxos: a set of processes chooses one value ("Paxos Made Simple", Lamport 2001).

The three roles are small classes that take a message and return a ``Step``:

- ``Acceptor`` keeps the only durable state - the highest ballot it promised and
  the proposal it accepted last - and answers ``Prepare`` with a ``Promise``
  (carrying that proposal) and ``Accept`` with ``Accepted``.
- ``Proposer`` runs phase 1 (prepare / promise) and then phase 2 (accept /
  accepted) for one ballot. It proposes the value of the highest-ballot proposal
  its promise quorum reported, and its own value only if none was reported.
- ``Learner`` counts ``Accepted`` messages: a value accepted by a quorum in one
  ballot is chosen.

``SingleDecreeNode`` plays all three roles, as a Paxos process usually does, and
``LocalCluster`` is a tiny deterministic driver for experiments and tests.

A ``Step`` lists what to do, in order: persist ``write`` (the acceptor's new
state) durably, then send ``messages``. A reply is never sent before the
promise or acceptance it reports is on disk.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from random import Random

import attrs

from pyconsensus.core.membership import cluster_membership
from pyconsensus.core.quorum import MajorityQuorum
from pyconsensus.core.types import NodeId
from pyconsensus.paxos.ballot import MAX_NODE_ID, Ballot
from pyconsensus.paxos.messages import Nack  # the same refusal as in Multi-Paxos


@attrs.frozen(slots=True)
class Proposal:
    """A value proposed (or accepted) in a ballot."""

    ballot: Ballot
    value: bytes


@attrs.frozen(slots=True)
class Prepare:
    """Phase 1a: promise to accept nothing below ``ballot``."""

    src: NodeId
    dst: NodeId
    ballot: Ballot


@attrs.frozen(slots=True)
class Promise:
    """Phase 1b: the promise, with the last proposal the acceptor accepted."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    accepted: Proposal | None


@attrs.frozen(slots=True)
class Accept:
    """Phase 2a: accept ``value`` in ``ballot``."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    value: bytes


@attrs.frozen(slots=True)
class Accepted:
    """Phase 2b: the acceptor accepted ``value`` in ``ballot`` (sent to the
    proposer and to every learner)."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    value: bytes


Message = Prepare | Promise | Accept | Accepted | Nack
MESSAGE_TYPES: tuple[type, ...] = (Prepare, Promise, Accept, Accepted, Nack)


@attrs.frozen(slots=True)
class AcceptorState:
    """Everything an acceptor must not forget."""

    promised: Ballot = Ballot.ZERO
    accepted: Proposal | None = None


@attrs.frozen(slots=True)
class Step:
    """What to do after an event: persist ``write``, then send ``messages``.
    ``chosen`` is the value this step learned was chosen, if any."""

    write: AcceptorState | None = None
    messages: tuple[Message, ...] = ()
    chosen: bytes | None = None

    def then(self, other: Step) -> Step:
        """This step followed by ``other``, as one step (the later write wins:
        each write is the acceptor's whole state)."""
        return Step(
            other.write if other.write is not None else self.write,
            self.messages + other.messages,
            self.chosen if self.chosen is not None else other.chosen,
        )


NOTHING = Step()


class Acceptor:
    """The acceptor of "Paxos Made Simple", section 2.2."""

    def __init__(
        self, node_id: NodeId, learners: Sequence[NodeId], state: AcceptorState | None = None
    ) -> None:
        self.id = node_id
        self.learners = tuple(learners)
        self.state = state if state is not None else AcceptorState()

    def on_prepare(self, msg: Prepare) -> Step:
        """P1b: promise a ballot above every ballot promised so far."""
        state = self.state
        if msg.ballot <= state.promised:
            return Step(messages=(Nack(self.id, msg.src, msg.ballot, state.promised),))
        self.state = attrs.evolve(state, promised=msg.ballot)
        return Step(self.state, (Promise(self.id, msg.src, msg.ballot, state.accepted),))

    def on_accept(self, msg: Accept) -> Step:
        """P2b: accept unless a higher ballot was promised."""
        state = self.state
        if msg.ballot < state.promised:
            return Step(messages=(Nack(self.id, msg.src, msg.ballot, state.promised),))
        self.state = AcceptorState(msg.ballot, Proposal(msg.ballot, msg.value))
        told = {msg.src, *self.learners}
        replies = tuple(Accepted(self.id, to, msg.ballot, msg.value) for to in sorted(told))
        return Step(self.state, replies)


class Proposer:
    """The proposer of "Paxos Made Simple", section 2.2, for one value."""

    def __init__(self, node_id: NodeId, acceptors: Sequence[NodeId], value: bytes) -> None:
        self.id = node_id
        self.quorum = MajorityQuorum(frozenset(acceptors))
        self.value = value
        self.ballot = Ballot.ZERO
        self.phase = "idle"  # idle -> preparing -> accepting -> done
        self.proposal: Proposal | None = None  # what phase 2 proposes
        self.highest_round = 0  # highest round seen in any ballot
        self._promises: dict[NodeId, Proposal | None] = {}
        self._accepted: set[NodeId] = set()

    def prepare(self, round_: int) -> Step:
        """P1a: start over with ballot ``(round_, id)`` and ask every acceptor to
        promise it. ``round_`` must exceed every round this proposer used."""
        if round_ <= self.ballot.round:
            raise ValueError(f"round {round_} is not above the last round {self.ballot.round}")
        self.ballot = Ballot(round_, self.id)
        self.highest_round = max(self.highest_round, round_)
        self.phase = "preparing"
        self.proposal = None
        self._promises = {}
        self._accepted = set()
        return Step(
            messages=tuple(Prepare(self.id, a, self.ballot) for a in sorted(self.quorum.voters))
        )

    def on_promise(self, msg: Promise) -> Step:
        """P2a: with promises from a quorum, propose the value of the highest-ballot
        proposal they reported - or our own value if they reported none."""
        if self.phase != "preparing" or msg.ballot != self.ballot:
            return NOTHING
        self._promises[msg.src] = msg.accepted
        if not self.quorum.is_quorum(self._promises):
            return NOTHING
        reported = [p for p in self._promises.values() if p is not None]
        value = max(reported, key=lambda p: p.ballot).value if reported else self.value
        self.proposal = Proposal(self.ballot, value)
        self.phase = "accepting"
        return Step(
            messages=tuple(
                Accept(self.id, a, self.ballot, value) for a in sorted(self.quorum.voters)
            )
        )

    def on_accepted(self, msg: Accepted) -> Step:
        """The proposal is chosen once a quorum accepted it."""
        if self.phase != "accepting" or msg.ballot != self.ballot:
            return NOTHING
        self._accepted.add(msg.src)
        if not self.quorum.is_quorum(self._accepted):
            return NOTHING
        self.phase = "done"
        assert self.proposal is not None
        return Step(chosen=self.proposal.value)

    def on_nack(self, msg: Nack) -> Step:
        """A higher ballot preempted ours: stop; ``prepare`` again above it."""
        self.highest_round = max(self.highest_round, msg.promised.round)
        if msg.ballot == self.ballot and self.phase in ("preparing", "accepting"):
            self.phase = "idle"
        return NOTHING


class Learner:
    """Learns the chosen value from acceptors' ``Accepted`` messages."""

    def __init__(self, acceptors: Sequence[NodeId]) -> None:
        self.quorum = MajorityQuorum(frozenset(acceptors))
        self.chosen: bytes | None = None
        self._votes: dict[Ballot, set[NodeId]] = {}

    def on_accepted(self, msg: Accepted) -> Step:
        if self.chosen is not None:
            return NOTHING
        votes = self._votes.setdefault(msg.ballot, set())
        votes.add(msg.src)
        if not self.quorum.is_quorum(votes):
            return NOTHING
        self.chosen = msg.value
        return Step(chosen=msg.value)


class SingleDecreeNode:
    """A process playing all three roles; every member is an acceptor and a learner.

    ``state`` is what an earlier incarnation persisted. Messages the node sends
    to itself are handled at once, inside the same step.
    """

    def __init__(
        self, node_id: NodeId, members: Sequence[NodeId], state: AcceptorState | None = None
    ) -> None:
        self.id = node_id
        self.members = cluster_membership(node_id, members, max_id=MAX_NODE_ID).ordered()
        self.acceptor = Acceptor(node_id, self.members, state)
        self.learner = Learner(self.members)
        self.proposer: Proposer | None = None
        self.counters: Counter[str] = Counter()

    @property
    def chosen(self) -> bytes | None:
        """The chosen value, once this node learned it."""
        return self.learner.chosen

    def propose(self, value: bytes) -> Step:
        """Propose ``value`` (or retry after a preemption) with a fresh ballot.

        The round is above the acceptor's own promise, which is durable, so a
        restarted node never reuses a ballot it may have proposed in before.
        """
        if self.proposer is None or self.proposer.value != value:
            self.proposer = Proposer(self.id, self.members, value)
        proposer = self.proposer
        round_ = max(proposer.highest_round, self.acceptor.state.promised.round) + 1
        return self._route(proposer.prepare(round_))

    def receive(self, message: object) -> Step:
        """Handle a message from another node; bad input is dropped and counted."""
        if type(message) not in MESSAGE_TYPES:
            self.counters["dropped.unknown_type"] += 1
            return NOTHING
        msg: Message = message  # type: ignore[assignment]
        try:
            problem = self._validate(msg)
        except (TypeError, AttributeError, ValueError):
            problem = "malformed"
        if problem is not None:
            self.counters["dropped." + problem] += 1
            return NOTHING
        return self._route(self._dispatch(msg))

    def _validate(self, msg: Message) -> str | None:
        if msg.dst != self.id:
            return "wrong_destination"
        if msg.src not in self.members:
            return "unknown_sender"
        ballot: object = msg.ballot
        if type(ballot) is not Ballot or msg.ballot.round < 1:
            return "bad_ballot"
        if isinstance(msg, (Accept, Accepted)):
            value: object = msg.value
            if type(value) is not bytes:
                return "malformed"
        elif isinstance(msg, Promise):
            accepted: object = msg.accepted
            if accepted is not None and (
                type(accepted) is not Proposal
                or type(accepted.value) is not bytes
                or accepted.ballot >= msg.ballot
            ):
                return "malformed"
        elif isinstance(msg, Nack):
            promised: object = msg.promised
            if type(promised) is not Ballot or msg.promised < msg.ballot:
                return "bad_ballot"
        return None

    def _dispatch(self, msg: Message) -> Step:
        if isinstance(msg, Prepare):
            return self.acceptor.on_prepare(msg)
        if isinstance(msg, Accept):
            return self.acceptor.on_accept(msg)
        if isinstance(msg, Accepted):
            step = self.learner.on_accepted(msg)
            if self.proposer is not None:
                step = step.then(self.proposer.on_accepted(msg))
            return step
        if self.proposer is None:
            return NOTHING
        if isinstance(msg, Promise):
            return self.proposer.on_promise(msg)
        return self.proposer.on_nack(msg)

    def _route(self, step: Step) -> Step:
        """Handle the messages ``step`` addresses to this node; return the rest."""
        result = Step(step.write, (), step.chosen)
        queue = list(step.messages)
        while queue:
            msg = queue.pop(0)
            if msg.dst != self.id:
                result = result.then(Step(messages=(msg,)))
                continue
            inner = self._dispatch(msg)
            result = result.then(Step(inner.write, (), inner.chosen))
            queue.extend(inner.messages)
        return result


class LocalCluster:
    """A deterministic driver: delivers messages in a seeded random order, may
    lose or duplicate them, persists every write before sending, and restarts
    nodes from what they persisted."""

    def __init__(
        self,
        members: Iterable[NodeId],
        seed: int = 0,
        loss: float = 0.0,
        duplicate: float = 0.0,
    ) -> None:
        self.members = tuple(sorted(members))
        self.rng = Random(seed)
        self.loss = loss
        self.duplicate = duplicate
        self.disk: dict[NodeId, AcceptorState] = {}
        self.nodes = {m: SingleDecreeNode(m, self.members) for m in self.members}
        self.down: set[NodeId] = set()
        self.pending: list[Message] = []
        self.learned: dict[NodeId, bytes] = {}
        self.persisted: list[tuple[NodeId, AcceptorState]] = []  # every write, in order

    def apply(self, node_id: NodeId, step: Step) -> None:
        """Carry out ``step``: durable write first, then the messages."""
        if step.write is not None:
            self.disk[node_id] = step.write
            self.persisted.append((node_id, step.write))
        if step.chosen is not None:
            self.learned.setdefault(node_id, step.chosen)
        self.pending.extend(step.messages)

    def propose(self, node_id: NodeId, value: bytes) -> None:
        if node_id not in self.down:
            self.apply(node_id, self.nodes[node_id].propose(value))

    def deliver_one(self) -> bool:
        """Deliver one pending message chosen at random; False if none is pending."""
        if not self.pending:
            return False
        msg = self.pending.pop(self.rng.randrange(len(self.pending)))
        if self.rng.random() < self.loss or msg.dst in self.down:
            return True
        if self.rng.random() < self.duplicate:
            self.pending.append(msg)
        self.apply(msg.dst, self.nodes[msg.dst].receive(msg))
        return True

    def crash(self, node_id: NodeId) -> None:
        self.down.add(node_id)

    def restart(self, node_id: NodeId) -> None:
        """Bring ``node_id`` back with only what it persisted."""
        self.down.discard(node_id)
        self.nodes[node_id] = SingleDecreeNode(node_id, self.members, self.disk.get(node_id))
        self.learned.pop(node_id, None)

    def run(self, max_steps: int = 100_000) -> None:
        """Deliver until nothing is pending (or ``max_steps`` deliveries)."""
        for _ in range(max_steps):
            if not self.deliver_one():
                return
