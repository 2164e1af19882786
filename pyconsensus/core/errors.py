"""Typed errors. Each says what went wrong and, where it helps, what to do next."""

from __future__ import annotations

from pyconsensus.core.types import NodeId


class ConsensusError(Exception):
    """Base class of every error pyconsensus raises or reports.

    Errors compare by type and arguments, so replies holding them can be
    compared in tests and transcripts.
    """

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.args == other.args

    def __hash__(self) -> int:
        return hash((type(self), self.args))


class ConfigError(ConsensusError, ValueError):
    """A configuration value is out of range or inconsistent."""


class NotLeader(ConsensusError):
    """The request reached a node that cannot serve it because it is not the leader.

    ``leader_hint`` names the node this one believes is leader, or is ``None``
    when it knows of none (an election may be running). Retrying against the
    hint is always safe: the request was not applied here.
    """

    def __init__(self, leader_hint: NodeId | None) -> None:
        self.leader_hint = leader_hint
        hint = f"try node {leader_hint}" if leader_hint is not None else "no leader is known"
        super().__init__(f"not the leader; {hint}")

    def __reduce__(self) -> tuple[type[NotLeader], tuple[NodeId | None]]:
        return (type(self), (self.leader_hint,))


class ProposalDropped(ConsensusError):
    """The proposal's entry was replaced by another one at the same index: it was
    definitely not committed and will never be. Retrying is safe."""

    def __init__(self, index: int) -> None:
        self.index = index
        super().__init__(f"proposal at index {index} was overwritten by a newer leader")

    def __reduce__(self) -> tuple[type[ProposalDropped], tuple[int]]:
        return (type(self), (self.index,))


class OutcomeUnknown(ConsensusError):
    """The node can no longer tell whether the proposal committed (its log was
    replaced by a snapshot, say, or a forwarded proposal was never placed).
    Treat the request as indeterminate: retry only with an idempotent command
    or a session that de-duplicates. ``index`` is where the proposal was, if
    known."""

    def __init__(self, index: int | None) -> None:
        self.index = index
        where = f"at index {index} " if index is not None else ""
        super().__init__(f"cannot tell whether the proposal {where}committed")

    def __reduce__(self) -> tuple[type[OutcomeUnknown], tuple[int | None]]:
        return (type(self), (self.index,))


class ProposalTooLarge(ConsensusError):
    """A proposal's payload exceeds the configured limit."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"proposal of {size} bytes exceeds the limit of {limit} bytes")

    def __reduce__(self) -> tuple[type[ProposalTooLarge], tuple[int, int]]:
        return (type(self), (self.size, self.limit))


class StorageError(ConsensusError):
    """Storage failed to load or persist state."""


class StorageCorruption(StorageError):
    """Stored data fails an integrity check; serving it could return wrong data."""


class StorageMismatch(StorageError):
    """Stored data belongs to another cluster, node, or format version."""


class SnapshotRejected(ConsensusError):
    """A received snapshot cannot be installed: it is not (or no longer) the
    one staged, or it is incomplete. Nothing was installed; the transfer starts
    again. ``index`` names the snapshot, ``reason`` says why."""

    def __init__(self, index: int, reason: str) -> None:
        self.index = index
        self.reason = reason
        super().__init__(f"snapshot at index {index} rejected: {reason}")

    def __reduce__(self) -> tuple[type[SnapshotRejected], tuple[int, str]]:
        return (type(self), (self.index, self.reason))


class CorruptSnapshot(SnapshotRejected):
    """The staged bytes of a snapshot do not match its size or checksum."""
