"""The leader's view of one follower's replication (etcd raft's ``Progress``)."""

from __future__ import annotations

import enum
from collections import deque


class ProgressState(enum.Enum):
    PROBE = "probe"
    """Where the follower's log matches is unknown: one AppendEntries at a time."""
    REPLICATE = "replicate"
    """The follower is in sync: stream entries optimistically, up to the in-flight limit."""
    SNAPSHOT = "snapshot"
    """A snapshot is on its way; send nothing else until it is acknowledged."""


class Progress:
    """Replication state of one follower, as the leader tracks it."""

    __slots__ = (
        "inflight",
        "match",
        "next",
        "paused",
        "read_round",
        "recent_active",
        "sent_commit",
        "snapshot_index",
        "snapshot_wait",
        "stalled",
        "state",
    )

    def __init__(self, next_index: int) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.paused = False
        self.inflight: deque[int] = deque()  # last index of each unacknowledged message
        self.recent_active = False
        self.sent_commit = 0
        self.read_round = 0
        self.snapshot_index = 0
        self.snapshot_wait = 0
        self.stalled = 0  # heartbeat answers seen while appends went unanswered

    def become_probe(self) -> None:
        if self.state is ProgressState.SNAPSHOT:
            self.next = max(self.match + 1, self.snapshot_index + 1)
        else:
            self.next = self.match + 1
        self.state = ProgressState.PROBE
        self.paused = False
        self.stalled = 0
        self.inflight.clear()

    def become_replicate(self) -> None:
        self.state = ProgressState.REPLICATE
        self.next = self.match + 1
        self.paused = False
        self.inflight.clear()

    def become_snapshot(self, index: int) -> None:
        self.state = ProgressState.SNAPSHOT
        self.snapshot_index = index
        self.snapshot_wait = 0
        self.inflight.clear()

    def acknowledge(self, index: int) -> bool:
        """Record that the follower matches up to ``index``; True if that is news."""
        if index <= self.match:
            return False
        self.match = index
        self.stalled = 0
        if self.next <= index:
            self.next = index + 1
        inflight = self.inflight
        while inflight and inflight[0] <= index:
            inflight.popleft()
        return True

    def can_send(self, max_inflight: int) -> bool:
        if self.state is ProgressState.PROBE:
            return not self.paused
        if self.state is ProgressState.REPLICATE:
            return len(self.inflight) < max_inflight
        return False
