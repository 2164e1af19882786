"""Paxos: single-decree Paxos (``pyconsensus.paxos.single``) and Multi-Paxos
(``MultiPaxosNode``) with a stable leader, under the shared contract."""

from pyconsensus.paxos.ballot import Ballot
from pyconsensus.paxos.config import PaxosConfig
from pyconsensus.paxos.messages import (
    MESSAGE_TYPES,
    Accept,
    Accepted,
    CatchUp,
    Decision,
    Heartbeat,
    HeartbeatReply,
    InstallSnapshot,
    Nack,
    PaxosMessage,
    Prepare,
    Promise,
    SnapshotAck,
)
from pyconsensus.paxos.node import PROMISED_KEY, MultiPaxosNode
from pyconsensus.paxos.slots import SlotLog

__all__ = [
    "MESSAGE_TYPES",
    "PROMISED_KEY",
    "Accept",
    "Accepted",
    "Ballot",
    "CatchUp",
    "Decision",
    "Heartbeat",
    "HeartbeatReply",
    "InstallSnapshot",
    "SnapshotAck",
    "MultiPaxosNode",
    "Nack",
    "PaxosConfig",
    "PaxosMessage",
    "Prepare",
    "Promise",
    "SlotLog",
]
