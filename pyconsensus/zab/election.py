"""Fast Leader Election: the vote bookkeeping of a LOOKING server.

As in ZooKeeper's ``FastLeaderElection``: every LOOKING server starts a round
voting for itself and adopts any better vote it hears of in its round (votes
order by current epoch, then last zxid, then server id), telling everyone when
its vote changes. A higher round restarts the count. The election ends for a
server once a quorum of its round votes as it does (after a short wait for a
better vote, unless every server already agrees), or once a quorum of servers
that already finished report following the same leader and that leader itself
reports LEADING: then the server joins the established leader.

This class only keeps the counts; ``ZabNode`` sends the notifications.
"""

from __future__ import annotations

from pyconsensus.core.quorum import Quorum
from pyconsensus.core.types import NodeId
from pyconsensus.zab.messages import PeerState, Vote


class Election:
    """The state of one server's election rounds."""

    __slots__ = (
        "decided",
        "finalize_left",
        "highest_accepted",
        "me",
        "quorum",
        "received",
        "round",
        "vote",
    )

    def __init__(self, me: NodeId, quorum: Quorum, own: Vote) -> None:
        self.me = me
        self.quorum = quorum
        self.round = 0
        self.vote = own
        self.received: dict[NodeId, Vote] = {}  # votes of this round, ours included
        self.decided: dict[NodeId, tuple[PeerState, Vote]] = {}  # servers out of the election
        self.finalize_left: int | None = None
        self.highest_accepted = 0  # the highest accepted epoch any server reported

    def begin(self, own: Vote) -> None:
        """Start a new round voting for ourselves."""
        self.round += 1
        self._reset(own)

    def _reset(self, vote: Vote) -> None:
        self.vote = vote
        self.received = {self.me: vote}
        self.decided = {}
        self.finalize_left = None

    def heard_of(self, accepted_epoch: int) -> None:
        """A server reported the epoch it last accepted."""
        self.highest_accepted = max(self.highest_accepted, accepted_epoch)

    def on_looking(self, src: NodeId, round_: int, vote: Vote, own: Vote) -> bool:
        """A LOOKING server's vote. True if our vote changed (tell everyone)."""
        changed = False
        self.decided.pop(src, None)  # it is LOOKING again
        if round_ > self.round:
            # A newer round: the earlier one's votes no longer count.
            self.round = round_
            self._reset(max(own, vote))
            changed = True
        elif vote > self.vote:
            self.vote = vote
            self.received[self.me] = vote
            changed = True
        self.received[src] = vote
        return changed

    def on_decided(self, src: NodeId, state: PeerState, round_: int, vote: Vote) -> None:
        """A server that has left the election reports the vote that ended it."""
        self.decided[src] = (state, vote)
        if round_ == self.round:
            self.received[src] = vote

    def agreed(self) -> bool:
        """Whether a quorum of this round votes as we do."""
        vote = self.vote
        return self.quorum.is_quorum([n for n, v in self.received.items() if v == vote])

    def unanimous(self) -> bool:
        """Whether every voter of this round votes as we do."""
        vote = self.vote
        agreeing = [n for n, v in self.received.items() if v == vote]
        return self.quorum.voters <= frozenset(agreeing)

    def established_leader(self) -> NodeId | None:
        """The leader a quorum of finished servers follows (counting us, who would
        join it), provided it reports LEADING itself; ``None`` otherwise."""
        for candidate, (state, _) in self.decided.items():
            if state is not PeerState.LEADING or candidate == self.me:
                continue
            backers = [self.me, candidate]
            backers.extend(
                n
                for n, (s, v) in self.decided.items()
                if s is PeerState.FOLLOWING and v.leader == candidate
            )
            if self.quorum.is_quorum(backers):
                return candidate
        return None
