"""Raft: leader election, log replication, PreVote, CheckQuorum, ReadIndex, snapshots,
membership change and leadership transfer."""

from pyconsensus.raft.config import RaftConfig
from pyconsensus.raft.log import RaftLog
from pyconsensus.raft.messages import (
    MESSAGE_TYPES,
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    RaftMessage,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
    TransferVote,
)
from pyconsensus.raft.node import RaftNode
from pyconsensus.raft.progress import Progress, ProgressState

__all__ = [
    "MESSAGE_TYPES",
    "AppendEntries",
    "AppendEntriesResponse",
    "Heartbeat",
    "HeartbeatResponse",
    "InstallSnapshot",
    "InstallSnapshotResponse",
    "Progress",
    "ProgressState",
    "RaftConfig",
    "RaftLog",
    "RaftMessage",
    "RaftNode",
    "RequestVote",
    "RequestVoteResponse",
    "TimeoutNow",
    "TransferVote",
]
