"""What the three roles of a ZAB server (LOOKING, FOLLOWING, LEADING) share.

A ``ZabNode`` holds exactly one role object at a time; the object holds the
state that means something only in that role, and is dropped when the server
leaves the role - nothing of a past leadership or of a past leader survives it.
The durable state (epochs, history, commit index) stays on the node.
"""

from __future__ import annotations

from typing import ClassVar

from pyconsensus.zab.host import ZabHost
from pyconsensus.zab.messages import PeerState


class ServerRole:
    """One role of ``node``, for as long as the node stays in it."""

    __slots__ = ("config", "counters", "me", "node", "outbox")

    state: ClassVar[PeerState]
    """The state this role reports in election notifications."""

    def __init__(self, node: ZabHost) -> None:
        self.node = node
        # The node's parts every role uses, under short names.
        self.me = node.id
        self.config = node.config
        self.counters = node.counters
        self.outbox = node.outbox

    def tick(self) -> None:
        """One tick of the logical clock in this role."""

    def stop(self) -> None:
        """The node leaves this role: fail what the role still owes clients."""

    def give_up(self, reason: str) -> None:
        """Count ``reason`` and start a new election; this role object ends."""
        self.counters[reason] += 1
        self.node.look()
