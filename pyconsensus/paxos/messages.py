"""Multi-Paxos messages.

Phase 1 is ``Prepare``/``Promise`` (1a/1b), phase 2 is ``Accept``/``Accepted``
(2a/2b); ``Nack`` tells a proposer it was preempted by a higher ballot.
``Decision`` and ``Heartbeat`` tell learners how far the log is chosen;
``CatchUp`` and ``InstallSnapshot`` (chunks of a snapshot, acknowledged by
``SnapshotAck``) bring a lagging learner up to date.

Every message carries its sender, its destination and a ballot. In a
``Prepare``, ``Accept``, ``Decision`` or ``Heartbeat`` it is the sender's own
ballot; in an answer it is the ballot answered; in a snapshot transfer it is
only the ballot the sender knows of.
Entries in an ``Accept`` hold consecutive slots, each with ``term`` equal to
the packed ballot of the message.
"""

from __future__ import annotations

import attrs

from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.types import Entry, NodeId
from pyconsensus.paxos.ballot import Ballot


@attrs.frozen(slots=True)
class Prepare:
    """Phase 1a: "promise to ignore ballots below ``ballot``, and tell me what you
    accepted in slots ``first_slot`` and above"."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    first_slot: int


@attrs.frozen(slots=True)
class Promise:
    """Phase 1b: the acceptor promised ``ballot``. ``accepted`` holds its accepted
    values in the asked-for slots (each entry's term is the ballot it was
    accepted in). If it compacted slots the proposer asked about, ``snapshot``
    names the snapshot that replaces them (the proposer fetches its bytes with
    ``SnapshotAck`` before it leads)."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    accepted: tuple[Entry, ...]
    snapshot: SnapshotMeta | None = None


@attrs.frozen(slots=True)
class Accept:
    """Phase 2a: "accept these values for their slots in ``ballot``". ``commit``
    is the leader's chosen prefix: every slot up to it is chosen."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    entries: tuple[Entry, ...]
    commit: int


@attrs.frozen(slots=True)
class Accepted:
    """Phase 2b: the acceptor accepted slots ``first..last`` in ``ballot``
    (and made that durable)."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    first: int
    last: int


@attrs.frozen(slots=True)
class Nack:
    """The acceptor refused ``ballot``: it has promised ``promised``, a higher one."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    promised: Ballot


@attrs.frozen(slots=True)
class Decision:
    """Every slot up to ``commit`` is chosen; a learner holding a value accepted
    in ``ballot`` for such a slot holds the chosen value."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    commit: int


@attrs.frozen(slots=True)
class Heartbeat:
    """Leader liveness, the chosen prefix, and the read round being confirmed."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    commit: int
    read_round: int = 0


@attrs.frozen(slots=True)
class HeartbeatReply:
    """The acceptor still follows ``ballot`` (and confirms ``read_round``)."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    read_round: int = 0


@attrs.frozen(slots=True)
class CatchUp:
    """A learner asks the leader for the chosen values from ``first_slot`` on."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    first_slot: int


@attrs.frozen(slots=True)
class InstallSnapshot:
    """One chunk of the snapshot ``meta``, for a learner that needs slots the
    sender compacted (a leader answering ``CatchUp``, or an acceptor answering
    a proposer's ``SnapshotAck``): ``data`` starts at byte ``offset``; ``done``
    marks the last chunk."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    meta: SnapshotMeta
    offset: int
    data: bytes
    done: bool


@attrs.frozen(slots=True)
class SnapshotAck:
    """The receiver has durably staged ``offset`` bytes of ``meta``: send on
    from there (0: from the start; also how a proposer asks an acceptor for
    its snapshot). ``installed``: it holds the snapshot now; stop sending."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    meta: SnapshotMeta
    offset: int
    installed: bool = False


PaxosMessage = (
    Prepare
    | Promise
    | Accept
    | Accepted
    | Nack
    | Decision
    | Heartbeat
    | HeartbeatReply
    | CatchUp
    | InstallSnapshot
    | SnapshotAck
)

MESSAGE_TYPES: tuple[type, ...] = (
    Prepare,
    Promise,
    Accept,
    Accepted,
    Nack,
    Decision,
    Heartbeat,
    HeartbeatReply,
    CatchUp,
    InstallSnapshot,
    SnapshotAck,
)
