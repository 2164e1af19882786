"""Deliberately broken Raft variants: the simulator's checkers must catch them."""

from __future__ import annotations

from pyconsensus.core.types import Role
from pyconsensus.raft import RaftNode
from pyconsensus.raft.progress import Progress
from tests.slow_disks import durable_up_to


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
        with durable_up_to(self, self.log.last_index):
            super()._maybe_commit()
