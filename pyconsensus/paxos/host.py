"""``PaxosHost``: what a proposer object of a Multi-Paxos node uses of the node.

``MultiPaxosNode`` holds its proposer (``Candidate``, then ``Leader``) and the
proposer acts on it; typing the proposer against this protocol rather than
against ``MultiPaxosNode`` keeps the imports pointing one way:
node -> proposer -> host.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from pyconsensus.core.host import RoleHost
from pyconsensus.core.quorum import MajorityQuorum
from pyconsensus.core.reads import ReadIndexQueue
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.transfer import SnapshotSender
from pyconsensus.core.types import NodeId, RequestId
from pyconsensus.paxos.ballot import Ballot
from pyconsensus.paxos.config import PaxosConfig
from pyconsensus.paxos.messages import Promise
from pyconsensus.paxos.slots import SlotLog


class PaxosHost(RoleHost, Protocol):
    """The node a proposer belongs to, as the proposer sees it (so it need not import the node)."""

    config: PaxosConfig
    peers: tuple[NodeId, ...]
    log: SlotLog
    learned: int
    durable_promise: int
    reads: ReadIndexQueue[RequestId]
    sender: SnapshotSender

    @property
    def quorum(self) -> MajorityQuorum: ...

    def fetch_snapshot(self, holder: NodeId, meta: SnapshotMeta) -> None: ...

    def become_follower(self, leader: NodeId | None) -> None: ...

    def become_leader(self, ballot: Ballot, promises: Iterable[Promise]) -> None: ...
