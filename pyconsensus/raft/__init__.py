"""Raft: leader election, log replication, PreVote, CheckQuorum, ReadIndex and snapshots."""

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
]
