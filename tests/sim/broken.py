"""Deliberately broken variants, each with one classic consensus bug.

The simulator's checkers must catch every one of them within a bounded number
of seeds; a checker that never fails proves nothing.
"""

from __future__ import annotations

from pyconsensus.core.node import ConsensusNode
from pyconsensus.core.ready import ProposalCommitted, ReadReady
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.types import RequestId, Role
from pyconsensus.raft import RaftNode
from pyconsensus.raft.messages import RequestVote
from pyconsensus.raft.node import VOTE_KEY
from pyconsensus.rsm import ReplicatedStateMachine, StateMachine
from pyconsensus.rsm.envelope import SessionCommand
from pyconsensus.rsm.sessions import SessionTable, Verdict
from pyconsensus.sim.workloads import KVWorkload


class DoubleVoter(RaftNode):
    """A follower that grants its vote to every up-to-date candidate of a term,
    not only to the first one that asked (Figure 2: "votedFor is null or
    candidateId" is forgotten). It still stores only its first vote, so the
    storage never shows two votes: only two leaders in one term give it away."""

    def receive(self, message: object) -> None:
        if (
            isinstance(message, RequestVote)
            and not message.pre_vote
            and message.term == self.term
            and self.role is Role.FOLLOWER
            and self.voted_for not in (None, message.src)
        ):
            first = self.voted_for
            self.voted_for = None
            self.leader = None
            super().receive(message)
            self.voted_for = first
            self._outbox.set_metadata(VOTE_KEY, first)
            return
        super().receive(message)


class EagerLeader(RaftNode):
    """A leader that tells the client its command committed as soon as the
    entry is in its own log, before any follower has it."""

    def propose(self, data: bytes) -> RequestId:
        rid = super().propose(data)
        if self.role is Role.LEADER:
            index = self.log.last_index
            self._fates.forget(index)
            self._outbox.reply(ProposalCommitted(rid, index))
        return rid


class LeaselessReader(RaftNode):
    """A leader that serves reads from its own commit index without confirming
    that it still leads (no ReadIndex round, no lease): once deposed, and until
    it notices, it serves stale data."""

    def read(self) -> RequestId:
        if self.role is not Role.LEADER:
            return super().read()
        rid = self._new_request()
        self._outbox.reply(ReadReady(rid, self.commit))
        return rid


class _NoDeduplication(SessionTable):
    def admit(self, command: SessionCommand, index: int) -> tuple[str, bytes | None]:
        verdict, saved = super().admit(command, index)
        return (Verdict.APPLY, None) if verdict == Verdict.DUPLICATE else (verdict, saved)


class ForgetfulSessions(ReplicatedStateMachine):
    """A replication layer that applies every copy of a retried command again,
    as if it kept no session table."""

    def __init__(self, node: ConsensusNode, machine: StateMachine, compact_every: int) -> None:
        super().__init__(node, machine, compact_every=compact_every)
        self.sessions = _NoDeduplication()

    def _restore(self, snapshot: SnapshotMeta, data: bytes) -> None:
        super()._restore(snapshot, data)
        forgetful = _NoDeduplication()
        forgetful.sessions = self.sessions.sessions
        self.sessions = forgetful


class ForgetfulKV(KVWorkload):
    """The key-value workload over ``ForgetfulSessions``."""

    def replicate(self, node: ConsensusNode, compact_every: int) -> ReplicatedStateMachine:
        return ForgetfulSessions(node, self.new_machine(), compact_every)


__all__ = ["DoubleVoter", "EagerLeader", "ForgetfulKV", "LeaselessReader"]
