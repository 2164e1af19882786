"""Raft's messages (Ongaro & Ousterhout, Figure 2, plus PreVote, heartbeats and snapshots).

Every message carries its sender, its destination and the sender's term.
Heartbeats are separate from AppendEntries (as in etcd raft) so that they stay
small and can carry the ReadIndex round number.
"""

from __future__ import annotations

import attrs

from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.types import Entry, NodeId


@attrs.frozen(slots=True)
class RequestVote:
    """Ask for a vote (or, with ``pre_vote``, whether a vote *would* be granted
    at ``term`` - the candidate's term has not been raised yet)."""

    src: NodeId
    dst: NodeId
    term: int
    last_index: int
    last_term: int
    pre_vote: bool = False


@attrs.frozen(slots=True)
class RequestVoteResponse:
    src: NodeId
    dst: NodeId
    term: int
    granted: bool
    pre_vote: bool = False


@attrs.frozen(slots=True)
class AppendEntries:
    """Replicate ``entries`` after (``prev_index``, ``prev_term``); ``commit`` is the
    leader's commit index."""

    src: NodeId
    dst: NodeId
    term: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit: int


@attrs.frozen(slots=True)
class AppendEntriesResponse:
    """On success ``index`` is the last index now matching the leader's log.

    On rejection ``index`` is the rejected ``prev_index`` and the hints let the
    leader skip a whole conflicting term at once: ``conflict_term`` is the
    follower's term at ``prev_index`` (0 if it has no entry there) and
    ``conflict_index`` the first index it holds of that term (or its last
    index + 1 when its log is too short).
    """

    src: NodeId
    dst: NodeId
    term: int
    success: bool
    index: int
    conflict_index: int = 0
    conflict_term: int = 0


@attrs.frozen(slots=True)
class Heartbeat:
    """Leader liveness. ``commit`` is at most what this follower is known to
    hold; ``read_round`` identifies the ReadIndex round being confirmed."""

    src: NodeId
    dst: NodeId
    term: int
    commit: int
    read_round: int = 0


@attrs.frozen(slots=True)
class HeartbeatResponse:
    src: NodeId
    dst: NodeId
    term: int
    read_round: int = 0


@attrs.frozen(slots=True)
class InstallSnapshot:
    """One chunk of the leader's snapshot ``meta`` for a lagging follower:
    ``data`` starts at byte ``offset``; ``done`` marks the last chunk. The
    follower installs the snapshot once every byte is staged and verified, and
    then answers with an ``AppendEntriesResponse`` at ``meta.index``."""

    src: NodeId
    dst: NodeId
    term: int
    meta: SnapshotMeta
    offset: int
    data: bytes
    done: bool


@attrs.frozen(slots=True)
class InstallSnapshotResponse:
    """The follower has durably staged ``offset`` bytes of ``meta``: the leader
    sends on from there (0: start again)."""

    src: NodeId
    dst: NodeId
    term: int
    meta: SnapshotMeta
    offset: int


RaftMessage = (
    RequestVote
    | RequestVoteResponse
    | AppendEntries
    | AppendEntriesResponse
    | Heartbeat
    | HeartbeatResponse
    | InstallSnapshot
    | InstallSnapshotResponse
)

MESSAGE_TYPES: tuple[type, ...] = (
    RequestVote,
    RequestVoteResponse,
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
)
