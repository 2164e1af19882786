"""The leader's view of one follower (ZooKeeper's ``LearnerHandler``)."""

from __future__ import annotations

import enum

from pyconsensus.core.types import RequestId
from pyconsensus.zab.messages import ZERO_ZXID


class LearnerStage(enum.Enum):
    """Where a follower's current connection is in the leader's handshake."""

    INFO = "info"
    """FOLLOWERINFO received; NEWEPOCH sent once the epoch is chosen."""
    EPOCH_ACKED = "epoch-acked"
    """ACKEPOCH received; NEWLEADER waits until discovery ends."""
    SYNCING = "syncing"
    """NEWLEADER sent; proposals made since then follow it."""
    SYNCED = "synced"
    """NEWLEADER acknowledged; UPTODATE waits until the leader is established."""
    BROADCAST = "broadcast"
    """UPTODATE sent: an ordinary follower of an established leader."""


class Learner:
    """Handshake and replication state of one follower, as its leader tracks it."""

    __slots__ = (
        "acked",
        "active",
        "commit",
        "conn",
        "current_epoch",
        "floor",
        "last_zxid",
        "origins",
        "placed",
        "read_round",
        "sent",
        "sent_commit",
        "session",
        "stage",
        "synced",
    )

    def __init__(self, conn: int, session: int) -> None:
        self.conn = conn
        self.session = session
        self.stage = LearnerStage.INFO
        # From ACKEPOCH: what the follower holds.
        self.current_epoch = 0
        self.last_zxid = ZERO_ZXID
        self.commit = 0
        # Replication. ``acked`` survives reconnections within the epoch: the
        # follower's history only grows while it follows this leader.
        self.synced = False  # acknowledged a NEWLEADER of this epoch
        self.acked = 0
        self.sent = 0  # last index sent (in NEWLEADER or PROPOSAL)
        self.sent_commit = 0
        self.active = False  # heard from during the current sync_ticks window
        self.read_round = 0
        # Forwarded requests of the follower's current session.
        self.origins: dict[int, RequestId] = {}  # index -> request id, until acked
        self.floor: RequestId = 0  # requests below it are settled
        self.placed: set[RequestId] = set()  # placed requests at or above the floor

    def new_session(self, session: int) -> None:
        """The follower restarted: its request ids start again."""
        self.session = session
        self.origins = {}
        self.floor = 0
        self.placed = set()

    def place(self, request_id: RequestId, floor: RequestId) -> bool:
        """Record a forwarded request; False if it was placed before (a duplicate)."""
        if floor > self.floor:
            self.floor = floor
            self.placed = {r for r in self.placed if r >= floor}
        if request_id < self.floor or request_id in self.placed:
            return False
        self.placed.add(request_id)
        return True

    def acknowledge(self, index: int) -> bool:
        """Record that the follower holds the history up to ``index``."""
        if index <= self.acked:
            return False
        self.acked = index
        if self.origins:
            for placed in [i for i in self.origins if i <= index]:
                del self.origins[placed]
        return True

    def origins_between(self, lo: int, hi: int) -> tuple[tuple[int, RequestId], ...]:
        """Forwarded requests placed at ``lo <= index <= hi``, for the follower."""
        if not self.origins:
            return ()
        return tuple(sorted((i, r) for i, r in self.origins.items() if lo <= i <= hi))
