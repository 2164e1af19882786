"""``RoleHost``: what the role objects of every core use of their node.

A core that splits its node into role objects (ZAB's roles, the Multi-Paxos
proposer) types them against a protocol of the node, never against the node
class, so that the node imports its roles and not the other way round. This is
the part those protocols share.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from pyconsensus.core.outbox import Outbox
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.types import NodeId


class RoleHost(Protocol):
    """The node behind a role object: the parts every core's roles use."""

    counters: Counter[str]
    outbox: Outbox

    @property
    def id(self) -> NodeId: ...

    @property
    def pipelined_writes(self) -> bool: ...

    @property
    def snapshot(self) -> SnapshotMeta | None: ...
