"""``ZabHost``: what a role object of a ZAB server uses of the server.

``ZabNode`` holds its roles (``Looking``, ``Following``, ``Leading``) and the
roles act on it; typing them against this protocol rather than against
``ZabNode`` keeps the imports pointing one way: node -> roles -> host.
"""

from __future__ import annotations

from random import Random
from typing import Protocol

from pyconsensus.core.quorum import Quorum
from pyconsensus.core.reads import ReadIndexQueue
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.transfer import SnapshotReceiver, SnapshotSender
from pyconsensus.core.types import NodeId, RequestId
from pyconsensus.zab.config import ZabConfig
from pyconsensus.zab.election import Election
from pyconsensus.zab.forwarding import Forwarded, ForwardingHost
from pyconsensus.zab.messages import Notification, Vote


class ZabHost(ForwardingHost, Protocol):
    """The server a role belongs to, as the roles see it (so they need not import ``ZabNode``)."""

    config: ZabConfig
    rng: Random
    peers: tuple[NodeId, ...]
    election: Election
    forwarded: Forwarded
    session: int

    # Durable state, and how far it is committed and known durable.
    accepted_epoch: int
    current_epoch: int
    commit: int
    durable: int

    # What outlives a role (see ``ZabNode.__init__``).
    acked_epoch_to: tuple[NodeId, int] | None
    reads: ReadIndexQueue[tuple[NodeId | None, RequestId]]
    stalled: int
    stalled_at: int
    # Snapshot transfer (SNAP): chunks out as a leader, in as a follower.
    sender: SnapshotSender
    receiver: SnapshotReceiver

    @property
    def quorum(self) -> Quorum: ...

    def own_vote(self) -> Vote: ...

    def notification(self, to: NodeId) -> Notification: ...

    def look(self) -> object:
        """Leave the current role and start an election round (the new role is returned)."""
        ...

    def follow(self, leader: NodeId) -> None: ...

    def lead(self) -> None: ...

    def truncate_after(self, index: int) -> None: ...

    def install_snapshot(self, snapshot: SnapshotMeta) -> None: ...

    def holds_snapshot(self, meta: SnapshotMeta) -> bool: ...
