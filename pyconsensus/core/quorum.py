"""Quorum math, kept apart from any protocol so every core shares one definition.

A quorum system answers three questions: did a set of votes win, what is the
highest index acknowledged by a quorum, and is a set of nodes a quorum. A
``JointQuorum`` (used during membership changes) needs a quorum of both halves.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping
from typing import Protocol

import attrs

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.types import NodeId


def _voter_set(voters: Iterable[NodeId]) -> frozenset[NodeId]:
    return frozenset(voters)


class VoteResult(enum.Enum):
    PENDING = "pending"
    WON = "won"
    LOST = "lost"


class Quorum(Protocol):
    """The operations a quorum system offers."""

    @property
    def voters(self) -> frozenset[NodeId]: ...

    def is_quorum(self, nodes: Collection[NodeId]) -> bool: ...

    def vote_result(self, votes: Mapping[NodeId, bool]) -> VoteResult: ...

    def committed_index(self, acked: Mapping[NodeId, int]) -> int: ...


@attrs.frozen(slots=True)
class MajorityQuorum:
    """A strict majority of ``voters``."""

    voters: frozenset[NodeId] = attrs.field(converter=_voter_set)

    def __attrs_post_init__(self) -> None:
        if not self.voters:
            raise ConfigError("a quorum needs at least one voter")

    @property
    def size(self) -> int:
        """How many voters make a majority."""
        return len(self.voters) // 2 + 1

    def is_quorum(self, nodes: Collection[NodeId]) -> bool:
        """Whether ``nodes`` include a majority of the voters; non-voters and
        repeated ids count nothing (a node is one vote however often it answers)."""
        return len(self.voters.intersection(nodes)) >= self.size

    def vote_result(self, votes: Mapping[NodeId, bool]) -> VoteResult:
        granted = rejected = 0
        for voter in self.voters:
            vote = votes.get(voter)
            if vote is True:
                granted += 1
            elif vote is False:
                rejected += 1
        if granted >= self.size:
            return VoteResult.WON
        if rejected > len(self.voters) - self.size:
            return VoteResult.LOST
        return VoteResult.PENDING

    def committed_index(self, acked: Mapping[NodeId, int]) -> int:
        """The largest index that at least a majority of voters acknowledged.

        Voters missing from ``acked`` count as having acknowledged nothing (0).
        """
        indices = sorted((acked.get(v, 0) for v in self.voters), reverse=True)
        return indices[self.size - 1]


@attrs.frozen(slots=True)
class JointQuorum:
    """Two majorities that must both agree (the old and new configurations)."""

    incoming: MajorityQuorum
    outgoing: MajorityQuorum

    @property
    def voters(self) -> frozenset[NodeId]:
        return self.incoming.voters | self.outgoing.voters

    def is_quorum(self, nodes: Collection[NodeId]) -> bool:
        return self.incoming.is_quorum(nodes) and self.outgoing.is_quorum(nodes)

    def vote_result(self, votes: Mapping[NodeId, bool]) -> VoteResult:
        first = self.incoming.vote_result(votes)
        second = self.outgoing.vote_result(votes)
        if first is VoteResult.LOST or second is VoteResult.LOST:
            return VoteResult.LOST
        if first is VoteResult.WON and second is VoteResult.WON:
            return VoteResult.WON
        return VoteResult.PENDING

    def committed_index(self, acked: Mapping[NodeId, int]) -> int:
        return min(self.incoming.committed_index(acked), self.outgoing.committed_index(acked))


def majority(voters: Iterable[NodeId]) -> MajorityQuorum:
    """Shorthand for ``MajorityQuorum(frozenset(voters))``."""
    return MajorityQuorum(frozenset(voters))
