"""The contract shared by every protocol core: values, output batches, storage, quorums, errors."""

from pyconsensus.core.errors import (
    ConfigError,
    ConsensusError,
    NotLeader,
    OutcomeUnknown,
    ProposalDropped,
    ProposalTooLarge,
    StorageCorruption,
    StorageError,
    StorageMismatch,
)
from pyconsensus.core.node import ConsensusNode, NodeFactory
from pyconsensus.core.outbox import Outbox
from pyconsensus.core.quorum import JointQuorum, MajorityQuorum, Quorum, VoteResult, majority
from pyconsensus.core.ready import (
    Message,
    ProposalCommitted,
    ReadReady,
    Ready,
    Reply,
    RequestFailed,
    Write,
)
from pyconsensus.core.storage import MemoryStorage, Storage
from pyconsensus.core.types import (
    Entry,
    EntryKind,
    MetaValue,
    NodeId,
    RequestId,
    Role,
    Snapshot,
    Status,
)

__all__ = [
    "ConfigError",
    "ConsensusError",
    "ConsensusNode",
    "Entry",
    "EntryKind",
    "JointQuorum",
    "MajorityQuorum",
    "MemoryStorage",
    "Message",
    "MetaValue",
    "NodeFactory",
    "NodeId",
    "NotLeader",
    "Outbox",
    "OutcomeUnknown",
    "ProposalCommitted",
    "ProposalDropped",
    "ProposalTooLarge",
    "Quorum",
    "ReadReady",
    "Ready",
    "Reply",
    "RequestFailed",
    "RequestId",
    "Role",
    "Snapshot",
    "Status",
    "Storage",
    "StorageCorruption",
    "StorageError",
    "StorageMismatch",
    "VoteResult",
    "Write",
    "majority",
]
