"""The proposer's roles: a ``Candidate`` running phase 1, then a ``Leader``.

A ``MultiPaxosNode`` is always an acceptor and a learner; while it tries to
lead it also holds one proposer object, for one ballot: a ``Candidate`` until a
quorum promised the ballot, then a ``Leader`` (``pyconsensus.paxos.leader``).
Preemption drops the object, and with it everything that ballot had.
"""

from __future__ import annotations

from pyconsensus.core.types import NodeId
from pyconsensus.paxos.ballot import Ballot
from pyconsensus.paxos.host import PaxosHost
from pyconsensus.paxos.messages import Prepare, Promise


class Proposer:
    """What a candidate and a leader share: the node and the ballot they run."""

    __slots__ = ("ballot", "config", "counters", "me", "node", "outbox")

    def __init__(self, node: PaxosHost, ballot: Ballot) -> None:
        self.node = node
        self.ballot = ballot
        # The node's parts every proposer uses, under short names.
        self.me = node.id
        self.config = node.config
        self.counters = node.counters
        self.outbox = node.outbox


class Candidate(Proposer):
    """Phase 1 (the scout): ``Prepare`` to every acceptor, collecting promises."""

    __slots__ = ("promises",)

    def __init__(self, node: PaxosHost, ballot: Ballot) -> None:
        super().__init__(node, ballot)
        self.promises: dict[NodeId, Promise] = {}

    def start(self) -> None:
        # Our own promise is counted last (when we become leader): a proposer
        # that hears from no one never raises its promise, so a node cut off
        # from the others does not outbid the leader it comes back to.
        node = self.node
        for peer in node.peers:
            self.outbox.send(Prepare(self.me, peer, self.ballot, node.learned + 1))

    def on_promise(self, msg: Promise) -> None:
        if msg.ballot != self.ballot:
            self.counters["ignored.stale_promise"] += 1
            return
        node = self.node
        if msg.snapshot is not None and msg.snapshot.index > node.learned:
            # The acceptor compacted slots we never learned: they are chosen,
            # and its snapshot is the only record of them left. We lead only
            # once we hold it (``maybe_lead`` again when it is installed).
            node.fetch_snapshot(msg.src, msg.snapshot)
        self.promises[msg.src] = msg
        self.maybe_lead()

    def maybe_lead(self) -> None:
        """Lead once a quorum promised and we hold every snapshot they named."""
        node = self.node
        if len(self.promises) + 1 < node.quorum.size:
            return
        needed = max(
            (p.snapshot.index for p in self.promises.values() if p.snapshot is not None),
            default=0,
        )
        if node.learned < needed:
            self.counters["proposer.waiting_for_snapshot"] += 1
            return
        node.become_leader(self.ballot, self.promises.values())
