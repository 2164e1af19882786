"""LOOKING: a server in Fast Leader Election, telling its peers its vote.

``Election`` keeps the counts; this role sends the notifications (again every
``notify_ticks`` plus a random share of them, while no decision is reached)
and turns a decision into FOLLOWING or LEADING.
"""

from __future__ import annotations

from pyconsensus.zab.host import ZabHost
from pyconsensus.zab.messages import Notification, PeerState
from pyconsensus.zab.role import ServerRole


class Looking(ServerRole):
    """A server looking for a leader, in its current election round."""

    __slots__ = ("notify_elapsed", "notify_timeout")

    state = PeerState.LOOKING

    def __init__(self, node: ZabHost) -> None:
        super().__init__(node)
        self.notify_elapsed = 0
        self.notify_timeout = 0

    def notify_peers(self) -> None:
        node = self.node
        for peer in node.peers:
            self.outbox.send(node.notification(peer))
        self.notify_elapsed = 0
        notify = self.config.notify_ticks
        self.notify_timeout = notify + node.rng.randrange(notify)

    def tick(self) -> None:
        election = self.node.election
        if election.finalize_left is not None:
            election.finalize_left -= 1
            if election.finalize_left <= 0:
                election.finalize_left = None
                if election.agreed():
                    self._decide()
                    return
        self.notify_elapsed += 1
        if self.notify_elapsed >= self.notify_timeout:
            self.notify_peers()

    def on_notification(self, msg: Notification) -> None:
        node = self.node
        election = node.election
        if msg.state is PeerState.LOOKING:
            if msg.round < election.round:
                self.outbox.send(node.notification(msg.src))  # bring it to our round
                return
            if election.on_looking(msg.src, msg.round, msg.vote, node.own_vote()):
                self.notify_peers()
        else:
            election.on_decided(msg.src, msg.state, msg.round, msg.vote)
            leader = election.established_leader()
            if leader is not None:
                election.round = max(election.round, msg.round)
                election.vote = election.decided[leader][1]
                self.counters["elections.joined"] += 1
                node.follow(leader)
                return
        self.check_election()

    def check_election(self) -> None:
        election = self.node.election
        if not election.agreed():
            election.finalize_left = None
        elif election.unanimous() or self.config.finalize_ticks == 0:
            self._decide()
        elif election.finalize_left is None:
            election.finalize_left = self.config.finalize_ticks

    def _decide(self) -> None:
        node = self.node
        leader = node.election.vote.leader
        node.election.finalize_left = None
        if leader == self.me:
            node.lead()
        else:
            node.follow(leader)
