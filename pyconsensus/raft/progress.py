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

    def maybe_update(self, index: int) -> bool:
        """The follower accepted entries up to ``index``. True if that is news
        (``match`` advanced); then a probe that found its place, or a snapshot
        the follower now holds, turns into streaming (``REPLICATE``). An answer
        that is not news still unpauses a probe: the next one may go."""
        if not self.acknowledge(index):
            if self.state is ProgressState.PROBE:
                self.paused = False
            return False
        if self.state is ProgressState.PROBE or (
            self.state is ProgressState.SNAPSHOT and self.match >= self.snapshot_index
        ):
            self.become_replicate()
        return True

    def maybe_decr_to(self, rejected: int, hint: int) -> bool:
        """The follower rejected the append whose previous index was ``rejected``;
        ``hint`` is where the leader thinks the logs may match (the follower's
        conflict hint, refined by the leader's log). False if the rejection is
        stale (it answers an earlier message, or a snapshot is on its way);
        otherwise probe again from below the rejection and return True."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.become_probe()
        elif self.state is ProgressState.PROBE:
            if rejected != self.next - 1:
                return False
        else:
            return False
        self.next = max(self.match + 1, min(hint, rejected))
        self.paused = False
        return True

    def heartbeat_answered(self, stall_limit: int, snapshot_retry: int) -> bool:
        """The follower answered a heartbeat. A paused probe may go again; a
        stream whose appends went unanswered for ``stall_limit`` heartbeat
        answers (one was lost) starts probing again from ``match``; so does a
        snapshot unanswered for ``snapshot_retry`` answers. True when a stalled
        stream fell back to probing."""
        if self.state is ProgressState.PROBE:
            self.paused = False
        elif self.state is ProgressState.REPLICATE and self.inflight:
            self.stalled += 1
            if self.stalled >= stall_limit:
                self.become_probe()
                return True
        elif self.state is ProgressState.SNAPSHOT:
            self.snapshot_wait += 1
            if self.snapshot_wait >= snapshot_retry:
                self.become_probe()
        return False

    def match_unknown(self) -> bool:
        """Whether a probe has yet to find where the follower's log matches ours
        (an empty append at ``next - 1`` would find out)."""
        return self.state is ProgressState.PROBE and self.match < self.next - 1

    def sent_append(self, last: int) -> None:
        """An append went out whose entries end at ``last`` (``next - 1`` when it
        carries none). Streaming moves ``next`` past them and counts the message
        in flight; a probe with entries waits for its answer, and an empty one
        waits only if it probes for the match."""
        if last < self.next:
            self.paused = self.match_unknown()
        elif self.state is ProgressState.REPLICATE:
            self.next = last + 1
            self.inflight.append(last)
        else:
            self.paused = True

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
