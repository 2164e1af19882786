"""Proposals a server forwarded to its leader, until the leader places them.

A follower forwards its clients' proposals; the leader answers with the index
where it placed each one (in a PROPOSAL or NEWLEADER), after which the
proposal's fate is tracked like a local one. Until then the request is
*unplaced*: it survives a reconnection to the same leader in the same epoch
(which recognises duplicates), and its outcome becomes unknown once the server
follows or leads another epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final, Protocol

from pyconsensus.core.errors import OutcomeUnknown
from pyconsensus.core.fates import ProposalFates
from pyconsensus.core.host import RoleHost
from pyconsensus.core.ready import ProposalCommitted, RequestFailed
from pyconsensus.core.types import NodeId, RequestId
from pyconsensus.zab.history import History

UNPLACED: Final = None
"""The index in ``OutcomeUnknown`` for a forwarded proposal whose position the
leader never reported before the follower lost it: it may or may not commit."""


class ForwardingHost(RoleHost, Protocol):
    """What ``Forwarded`` uses of its server, so that it need not import ``ZabNode``."""

    ticks: int
    applied: int
    history: History
    fates: ProposalFates


class Forwarded:
    """The unplaced forwarded proposals of ``node``, and where they went."""

    __slots__ = ("node", "to", "unplaced")

    def __init__(self, node: ForwardingHost) -> None:
        self.node = node
        self.unplaced: dict[RequestId, tuple[bytes, int]] = {}  # id -> (data, tick sent)
        self.to: tuple[NodeId, int] | None = None  # the leader and epoch they went to

    def add(self, rid: RequestId, data: bytes, to: tuple[NodeId, int]) -> None:
        self.unplaced[rid] = (data, self.node.ticks)
        self.to = to

    def floor(self, rid: RequestId) -> RequestId:
        """The lowest request id the leader must still recognise as a duplicate."""
        return min(self.unplaced, default=rid)

    def resend_all(self, send: Callable[[RequestId, bytes], None]) -> None:
        now = self.node.ticks
        for rid, (data, _) in self.unplaced.items():
            self.unplaced[rid] = (data, now)
            send(rid, data)

    def due(self, limit: int) -> Iterator[tuple[RequestId, bytes]]:
        """The requests last sent at tick ``limit`` or before, marked as sent now."""
        now = self.node.ticks
        for rid, (data, sent) in list(self.unplaced.items()):
            if sent <= limit:
                self.unplaced[rid] = (data, now)
                yield rid, data

    def abandon(self, leader: NodeId, epoch: int) -> None:
        """We follow or lead ``epoch`` now: forwarded requests the leader of an
        earlier one never placed for us may or may not have committed."""
        if self.unplaced and self.to != (leader, epoch):
            reply = self.node.outbox.reply
            for rid in self.unplaced:
                reply(RequestFailed(rid, OutcomeUnknown(UNPLACED)))
            self.unplaced = {}

    def learn_origins(self, origins: tuple[tuple[int, RequestId], ...]) -> None:
        """The leader placed our forwarded requests at these indices."""
        node = self.node
        reply = node.outbox.reply
        for index, rid in origins:
            if self.unplaced.pop(rid, None) is None:
                continue
            if index <= node.applied:
                # Delivered already (in a SNAP, say). Our history is a prefix of
                # the leader's, so what we delivered there is this request.
                reply(ProposalCommitted(rid, index))
                continue
            epoch = node.history.epoch_at(index)
            if epoch is None:
                reply(RequestFailed(rid, OutcomeUnknown(index)))
            else:
                node.fates.placed(index, epoch, rid)
