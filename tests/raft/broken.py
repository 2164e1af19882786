"""Deliberately broken Raft variants: the simulator's checkers must catch them."""

from __future__ import annotations

from pyconsensus.core.changes import MembershipChange, target, transition
from pyconsensus.core.errors import MembershipChangeRefused
from pyconsensus.core.membership import Membership
from pyconsensus.core.quorum import MajorityQuorum
from pyconsensus.core.types import Role
from pyconsensus.raft import RaftNode
from pyconsensus.raft.progress import Progress


class Figure8Raft(RaftNode):
    """Commits any entry stored on a majority, whatever its term, and skips the
    election no-op - the leader of the paper's Figure 8."""

    def _maybe_commit(self) -> None:
        acked = {peer: progress.match for peer, progress in self.progress.items()}
        acked[self.id] = self.log.last_index
        index = self.quorum.committed_index(acked)
        if index > self.commit:
            self.commit = index
            self._broadcast = True

    def _become_leader(self) -> None:
        self.role = Role.LEADER
        self.leader = self.id
        self._reset_timers()
        self._votes = {}
        self.progress = {peer: Progress(self.log.last_index + 1) for peer in self.peers}
        self._broadcast = True


class UnsyncedSelfRaft(RaftNode):
    """With pipelined writes, counts its own log towards the commit quorum before
    the driver reported it durable - the mistake thesis section 10.2.1 warns of:
    a commit may then rest on one durable copy and one that a crash loses."""

    def _maybe_commit(self) -> None:
        durable = self.durable
        self.durable = self.log.last_index
        try:
            super()._maybe_commit()
        finally:
            self.durable = durable


class NoRollbackRaft(RaftNode):
    """Keeps a configuration whose entry was truncated from its log, instead of
    falling back to the previous one."""

    def _truncate(self, from_index: int) -> None:
        kept = self.membership
        super()._truncate(from_index)
        self._use_membership(kept)


class EarlyChangeRaft(RaftNode):
    """Appends a configuration change before an entry of its own term has
    committed - the single-server change bug of 2015."""

    def _plan_change(self, change: MembershipChange) -> Membership:
        if self.commit < self._configs.index:
            raise MembershipChangeRefused("the previous change is not committed yet")
        return transition(self.membership, target(self.membership, change))


class NewMajorityOnlyRaft(RaftNode):
    """During a joint configuration counts only the incoming voters' majority."""

    def _use_membership(self, membership: Membership) -> None:
        super()._use_membership(membership)
        self.quorum = MajorityQuorum(membership.voters)


class TwoAtOnceRaft(RaftNode):
    """Changes two voters at once (a replacement) without a joint configuration."""

    def _plan_change(self, change: MembershipChange) -> Membership:
        membership = super()._plan_change(change)
        return membership.left_joint() if membership.is_joint else membership
