"""Multi-Paxos messages.

Phase 1 is ``Prepare``/``Promise`` (1a/1b), phase 2 is ``Accept``/``Accepted``
(2a/2b); ``Nack`` tells a proposer it was preempted by a higher ballot.
``Decision`` and ``Heartbeat`` tell learners how far the log is chosen;
``CatchUp`` and ``InstallSnapshot`` bring a lagging learner up to date.

Every message carries its sender, its destination and a ballot. In a
``Prepare``, ``Accept``, ``Decision``, ``Heartbeat`` or ``InstallSnapshot`` it
is the sender's own ballot; in an answer it is the ballot answered.
Entries in an ``Accept`` hold consecutive slots, each with ``term`` equal to
the packed ballot of the message.
"""

from __future__ import annotations

import attrs

from pyconsensus.core.types import Entry, NodeId, Snapshot
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
    replaces them."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    accepted: tuple[Entry, ...]
    snapshot: Snapshot | None = None


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
    """The leader's snapshot, for a learner that needs slots it has compacted."""

    src: NodeId
    dst: NodeId
    ballot: Ballot
    snapshot: Snapshot


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
)
