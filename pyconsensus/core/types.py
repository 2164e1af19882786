"""Plain values shared by every protocol: node ids, log entries, snapshots, roles."""

from __future__ import annotations

import enum

import attrs

NodeId = int
"""Nodes are named by small non-negative integers, unique within a cluster."""

RequestId = int
"""Handle returned by ``propose``/``read``; the matching reply carries it back."""

MetaValue = int | str | bytes | None
"""What may be stored under a metadata key (term, vote, epochs, ballots...)."""


class EntryKind(enum.IntEnum):
    """What a log entry is for. Only ``NORMAL`` entries reach the state machine's
    ``apply`` with user data; the others are protocol bookkeeping."""

    NORMAL = 0
    NOOP = 1
    CONFIG = 2


@attrs.frozen(slots=True)
class Entry:
    """One slot of a replicated log.

    ``term`` is the protocol's notion of leadership era at which the entry was
    created: the Raft term, the ZAB epoch, or a Paxos ballot packed into an int.
    """

    index: int
    term: int
    data: bytes = b""
    kind: EntryKind = EntryKind.NORMAL


@attrs.frozen(slots=True)
class Snapshot:
    """The application state as of ``index`` (whose entry had ``term``).

    ``data`` is opaque to the core; it comes from ``StateMachine.snapshot`` and
    goes back to ``StateMachine.restore``.
    """

    index: int
    term: int
    data: bytes


class Role(enum.Enum):
    """A node's role, in vocabulary shared by the protocols.

    ZAB's LOOKING maps to ``CANDIDATE``; a Paxos proposer running phase 1 is a
    ``CANDIDATE`` and one that owns the ballot is ``LEADER``.
    """

    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"
    OBSERVER = "observer"


class MemberRole(enum.Enum):
    """What a member is in a configuration (see ``core.changes.roles``)."""

    VOTER = "voter"
    LEARNER = "learner"
    JOINING_VOTER = "joining-voter"
    """A voter of the incoming half of a joint configuration only."""
    LEAVING_VOTER = "leaving-voter"
    """A voter of the outgoing half only; it leaves with the joint configuration."""
    DEMOTING_VOTER = "demoting-voter"
    """A voter of the outgoing half that becomes a learner when the joint
    configuration is left."""


Roles = tuple[tuple[NodeId, MemberRole], ...]
"""Each member of a configuration with its role, in ascending order of id."""


@attrs.frozen(slots=True)
class Status:
    """A point-in-time summary of one node, for operators and tests."""

    id: NodeId
    role: Role
    term: int
    leader: NodeId | None
    commit_index: int
    applied_index: int
    last_index: int
    configuration: Roles = ()
    """The last committed configuration, each member with its role (empty for
    cores that do not report membership)."""
    pending_configuration: Roles = ()
    """The configuration appended but not yet committed, if a change is in
    flight (empty otherwise)."""
