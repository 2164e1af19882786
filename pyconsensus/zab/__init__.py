"""ZAB: ZooKeeper Atomic Broadcast - Fast Leader Election, discovery, synchronization
and broadcast, as a pure state machine under the shared contract."""

from pyconsensus.zab.config import ZabConfig
from pyconsensus.zab.election import Election
from pyconsensus.zab.following import FollowerStage
from pyconsensus.zab.forwarding import UNPLACED
from pyconsensus.zab.history import History
from pyconsensus.zab.leading import LeaderPhase
from pyconsensus.zab.learner import Learner, LearnerStage
from pyconsensus.zab.messages import (
    MESSAGE_TYPES,
    Ack,
    AckEpoch,
    AckNewLeader,
    Commit,
    Diff,
    FollowerInfo,
    NewEpoch,
    NewLeader,
    Notification,
    PeerState,
    Ping,
    PingAck,
    Proposal,
    ReadReply,
    ReadRequest,
    Request,
    Snap,
    SnapAck,
    SnapChunk,
    Sync,
    Trunc,
    UpToDate,
    Vote,
    ZabMessage,
    Zxid,
)
from pyconsensus.zab.node import ZabNode
from pyconsensus.zab.recovery import ACCEPTED_EPOCH_KEY, CURRENT_EPOCH_KEY
from pyconsensus.zab.sync import plan_sync, shared_prefix

__all__ = [
    "ACCEPTED_EPOCH_KEY",
    "CURRENT_EPOCH_KEY",
    "MESSAGE_TYPES",
    "UNPLACED",
    "Ack",
    "AckEpoch",
    "AckNewLeader",
    "Commit",
    "Diff",
    "Election",
    "FollowerInfo",
    "FollowerStage",
    "History",
    "LeaderPhase",
    "Learner",
    "LearnerStage",
    "NewEpoch",
    "NewLeader",
    "Notification",
    "PeerState",
    "Ping",
    "PingAck",
    "Proposal",
    "ReadReply",
    "SnapAck",
    "SnapChunk",
    "ReadRequest",
    "Request",
    "Snap",
    "Sync",
    "Trunc",
    "UpToDate",
    "Vote",
    "ZabConfig",
    "ZabMessage",
    "ZabNode",
    "Zxid",
    "plan_sync",
    "shared_prefix",
]
