"""The wire registry: which one-byte tag names which class. **The one place to edit.**

Each protocol contributes one table (tag -> attrs class) and its line in
``PROTOCOLS``; encoders, decoders, validation and the round-trip and fuzz tests
all derive from it. Tag ranges are reserved per protocol so tables never clash:

============  ===========  ==========================================
range         owner        notes
============  ===========  ==========================================
0x01 - 0x0f   core values  ``Entry``, ``Snapshot``, ``SnapshotMeta``, ``Membership``
0x10 - 0x2f   Raft         ``pyconsensus.raft.messages``
0x30 - 0x4f   ZAB          ``pyconsensus.zab.messages``
0x50 - 0x6f   Multi-Paxos  ``pyconsensus.paxos.messages``
0x70 - 0x8f   broadcast    reserved
0x90 - 0x9f   service      ``pyconsensus.service.messages`` (handshake, client protocol)
0xa0 - 0xff   unassigned
============  ===========  ==========================================

A tag, once released, keeps its meaning: to change a message incompatibly,
give the new shape a new tag (or bump ``FORMAT_VERSION``). Appending a field
changes the array length, which old decoders reject - that is deliberate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pyconsensus.core.membership import Membership
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.types import Entry, Snapshot
from pyconsensus.paxos import messages as paxos
from pyconsensus.raft import messages as raft
from pyconsensus.service import messages as service
from pyconsensus.zab import messages as zab

CORE: Final[Mapping[int, type]] = {
    0x01: Entry,
    0x02: Snapshot,
    0x03: SnapshotMeta,
    0x04: Membership,
}

RAFT: Final[Mapping[int, type]] = {
    0x10: raft.RequestVote,
    0x11: raft.RequestVoteResponse,
    0x12: raft.AppendEntries,
    0x13: raft.AppendEntriesResponse,
    0x14: raft.Heartbeat,
    0x15: raft.HeartbeatResponse,
    0x16: raft.InstallSnapshot,
    0x17: raft.InstallSnapshotResponse,
    0x18: raft.TimeoutNow,
    0x19: raft.TransferVote,
}

ZAB: Final[Mapping[int, type]] = {
    0x30: zab.Notification,
    0x31: zab.FollowerInfo,
    0x32: zab.NewEpoch,
    0x33: zab.AckEpoch,
    0x34: zab.NewLeader,
    0x35: zab.AckNewLeader,
    0x36: zab.UpToDate,
    0x37: zab.Proposal,
    0x38: zab.Ack,
    0x39: zab.Commit,
    0x3A: zab.Ping,
    0x3B: zab.PingAck,
    0x3C: zab.Request,
    0x3D: zab.ReadRequest,
    0x3E: zab.ReadReply,
    0x3F: zab.SnapChunk,
    0x40: zab.SnapAck,
}

PAXOS: Final[Mapping[int, type]] = {
    0x50: paxos.Prepare,
    0x51: paxos.Promise,
    0x52: paxos.Accept,
    0x53: paxos.Accepted,
    0x54: paxos.Nack,
    0x55: paxos.Decision,
    0x56: paxos.Heartbeat,
    0x57: paxos.HeartbeatReply,
    0x58: paxos.CatchUp,
    0x59: paxos.InstallSnapshot,
    0x5A: paxos.SnapshotAck,
}

SERVICE: Final[Mapping[int, type]] = {
    0x90: service.Hello,
    0x91: service.Welcome,
    0x92: service.Refused,
    0x93: service.Submit,
    0x94: service.Query,
    0x95: service.Reply,
    0x96: service.StatusRequest,
    0x97: service.StatusReply,
    0x98: service.AdminRequest,
}

PROTOCOLS: Final[Mapping[str, Mapping[int, type]]] = {
    "core": CORE,
    "raft": RAFT,
    "zab": ZAB,
    "paxos": PAXOS,
    "service": SERVICE,
}
"""Every table, by name. The default codec registers all of them."""


def all_types() -> dict[int, type]:
    """The union of every table (``Codec`` rejects duplicate tags or classes)."""
    merged: dict[int, type] = {}
    for table in PROTOCOLS.values():
        for tag, cls in table.items():
            if tag in merged:
                raise ValueError(f"tag 0x{tag:02x} is used twice ({merged[tag]!r}, {cls!r})")
            merged[tag] = cls
    return merged
