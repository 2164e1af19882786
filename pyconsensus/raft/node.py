"""``RaftNode``: Raft as a pure state machine (events in, one ``Ready`` batch out).

Section numbers refer to the Raft paper (Ongaro & Ousterhout, 2014) and to
Ongaro's thesis (2014) for PreVote and CheckQuorum (section 9.6) and ReadIndex
(section 6.4).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from random import Random
from typing import Any, Final

from pyconsensus.core.changes import (
    AddVoter,
    MembershipChange,
    PromoteLearner,
    roles,
    target,
    transition,
)
from pyconsensus.core.errors import (
    ConfigError,
    MembershipChangeRefused,
    NotLeader,
    ProposalTooLarge,
    StorageCorruption,
)
from pyconsensus.core.fates import ProposalFates
from pyconsensus.core.membership import Membership, cluster_membership
from pyconsensus.core.outbox import Outbox
from pyconsensus.core.quorum import VoteResult
from pyconsensus.core.reads import ReadIndexQueue
from pyconsensus.core.ready import ReadReady, Ready, RequestFailed, Write
from pyconsensus.core.screening import screen
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.storage import Storage
from pyconsensus.core.transfer import SnapshotReceiver, SnapshotSender
from pyconsensus.core.types import (
    Entry,
    EntryKind,
    NodeId,
    RequestId,
    Role,
    Roles,
    Status,
)
from pyconsensus.core.validation import (
    chunk_problem,
    entries_problem,
    is_index,
    snapshot_problem,
)
from pyconsensus.raft.confchange import (
    MEMBERSHIP_KEY,
    SNAPSHOT_MEMBERSHIP_KEY,
    Configurations,
    config_entry,
    config_problem,
)
from pyconsensus.raft.config import RaftConfig
from pyconsensus.raft.log import RaftLog
from pyconsensus.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    RaftMessage,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
    TransferVote,
)
from pyconsensus.raft.progress import Progress, ProgressState

TERM_KEY: Final = "raft.term"
VOTE_KEY: Final = "raft.vote"

_FROM_LEADER = (AppendEntries, Heartbeat, InstallSnapshot, TimeoutNow)
_STALL_LIMIT: Final = 3  # heartbeat answers without an append answer before re-probing


class RaftNode:
    """One Raft participant.

    ``members`` lists the voters the cluster was created with, this node
    included - unless ``join`` is set: then this node is not (yet) a member and
    waits for a leader to add it (a new node, started empty). Once the
    membership has changed, the configuration in the node's log or snapshot
    applies instead (see ``raft.confchange``). ``storage`` is read once, here,
    to recover the durable state; afterwards every change to it comes out of
    ``ready()`` as a ``Write`` for the driver to persist.
    """

    def __init__(
        self,
        node_id: NodeId,
        members: Sequence[NodeId],
        storage: Storage,
        rng: Random,
        config: RaftConfig | None = None,
        *,
        join: bool = False,
    ) -> None:
        self._id = node_id
        self.config = config if config is not None else RaftConfig()
        if self.config.voters:
            # A cluster that starts smaller than its members: the rest are spares.
            cluster_membership(node_id, members)  # the usual checks of the members
            members = [int(v) for v in self.config.voters.split(",")]
            join = node_id not in members
        configured = Membership(members) if join else cluster_membership(node_id, members)
        self._rng = rng
        self.counters: Counter[str] = Counter()
        self._outbox = Outbox()

        # Durable state, recovered from storage.
        self.term, self.voted_for = _load_hard_state(storage)
        self._snapshot = storage.snapshot()
        self.log = _load_log(storage, self._snapshot)
        self.commit = self.applied = self.log.snapshot_index
        # How far our log is known to be durable (pipelined writes: the leader
        # counts itself towards a quorum only up to here).
        self.durable = self.log.last_index
        self._pipelined = self.config.pipelined_writes
        self._broadcast_commit = self.config.broadcast_commit
        self._send_leader = self._outbox.send_early if self._pipelined else self._outbox.send
        if self._snapshot is not None:
            self._outbox.restore(self._snapshot)
        # Snapshot transfer (core/transfer.py): chunks out as a leader, staged
        # chunks in as a follower (resuming what the store staged before).
        self._sender = SnapshotSender(storage.snapshots, self.config.transfer, self.counters)
        self._receiver = SnapshotReceiver(storage.snapshots, self.counters)

        # Volatile state.
        self.role = Role.FOLLOWER
        self.leader: NodeId | None = None
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._timeout = self._random_timeout()
        self._votes: dict[NodeId, bool] = {}
        self.progress: dict[NodeId, Progress] = {}
        self._broadcast = False  # leader: new entries or a new commit index to send
        self._next_request = 1
        self._fates = ProposalFates()  # proposals made here, until they are answered
        # ReadIndex: reads deferred until an entry of this term commits, then
        # waiting for a quorum to confirm a heartbeat round.
        self._reads: ReadIndexQueue[RequestId] = ReadIndexQueue()
        # Leadership transfer (thesis 3.10): the voter we hand over to, and for how long.
        self._transfer_target: NodeId | None = None
        self._transfer_elapsed = 0
        self._roles_cache: tuple[Membership, Roles] | None = None
        self._configs = Configurations(configured, storage, self.log)
        self._use_membership(self._configs.current)

    # ------------------------------------------------------------------
    # The contract

    @property
    def id(self) -> NodeId:
        return self._id

    def tick(self) -> None:
        if self.role is Role.LEADER:
            self._tick_leader()
        else:
            self._tick_election()

    def receive(self, message: object) -> None:
        handler = screen(message, _HANDLERS, self._validate, self.counters)
        if handler is None:
            return
        msg: RaftMessage = message  # type: ignore[assignment]
        if msg.src not in self._peer_set and not self._hear_stranger(msg):
            # Not a member of our configuration (removed, or never added): its
            # vote requests and answers may not disturb us, whatever its term.
            self._drop("unknown_sender")
            return
        if self._admit_term(msg):
            handler(self, msg)

    def propose(self, data: bytes) -> RequestId:
        if not isinstance(data, bytes):
            raise TypeError(f"a proposal must be bytes, not {type(data).__name__}")
        rid = self._new_request()
        if self.role is not Role.LEADER:
            self._outbox.reply(RequestFailed(rid, NotLeader(self.leader)))
            return rid
        if len(data) > self.config.max_entry_bytes:
            error = ProposalTooLarge(len(data), self.config.max_entry_bytes)
            self._outbox.reply(RequestFailed(rid, error))
            return rid
        if self._transfer_target is not None:
            # Thesis 3.10: proposals stop while leadership is handed over. No
            # hint: the target is no leader yet and would send the client back.
            self._outbox.reply(RequestFailed(rid, NotLeader(None)))
            return rid
        index = self._append_own(Entry(self.log.last_index + 1, self.term, data))
        self._fates.placed(index, self.term, rid)
        return rid

    def change_membership(self, change: MembershipChange) -> RequestId:
        """Propose a membership change. Its fate arrives as a reply like a
        proposal's: ``ProposalCommitted`` once the configuration entry committed
        (for a change through a joint configuration: once the joint one did;
        it is then left automatically), ``RequestFailed(MembershipChangeRefused)``
        at once if the change cannot be made now, ``NotLeader`` off the leader."""
        rid = self._new_request()
        if self.role is not Role.LEADER:
            self._outbox.reply(RequestFailed(rid, NotLeader(self.leader)))
            return rid
        try:
            membership = self._plan_change(change)
        except MembershipChangeRefused as error:
            self.counters["membership.refused"] += 1
            self._outbox.reply(RequestFailed(rid, error))
            return rid
        index = self._append_config(membership)
        self._fates.placed(index, self.term, rid)
        return rid

    def transfer_leadership(self, target: NodeId) -> None:
        """Hand leadership to the voter ``target`` (thesis 3.10): stop taking
        proposals, bring ``target``'s log up to date, then tell it to campaign at
        once (``TimeoutNow``). After ``transfer_timeout_ticks`` without a new
        leader the transfer is abandoned and proposals are taken again. Raises
        ``NotLeader`` off the leader and ``ConfigError`` if ``target`` is no voter."""
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader)
        if target not in self.quorum.voters:
            raise ConfigError(f"node {target} is not a voter and cannot lead")
        if target == self._id:
            return
        self._transfer_target = target
        self._transfer_elapsed = 0
        self.counters["transfer.started"] += 1
        self._maybe_send_timeout_now()

    def read(self) -> RequestId:
        rid = self._new_request()
        if self.role is not Role.LEADER:
            self._outbox.reply(RequestFailed(rid, NotLeader(self.leader)))
        elif self.log.term_at(self.commit) != self.term:
            # Section 6.4: the commit index is only known to be current once an
            # entry of this term (the no-op) has committed.
            self._reads.defer(rid)
        else:
            self._start_read(rid)
        return rid

    def compact(self, index: int, meta: SnapshotMeta) -> None:
        membership = self._configs.at(min(index, self.log.last_index), self.log)
        if not self.log.snapshot_to(index, self.applied, meta):
            return
        self._snapshot = meta
        self._outbox.snapshot(meta, discard_log=False, restore=False)
        self._configs.snapshotted(membership, index, reset=False)
        self._persist_snapshot_membership()
        self.counters["snapshots.taken"] += 1

    def snapshot_installed(self, meta: SnapshotMeta) -> None:
        """The driver installed the received snapshot ``meta`` and restored the
        state machine from it (``SnapshotEvents``)."""
        if not self._receiver.finished(meta):
            return
        membership = meta.membership or self._configs.configured
        if self.log.term_at(meta.index) == meta.term:
            # Our log holds the snapshot's last entry: keep what follows (7).
            self._fates.unknown_through(meta.index, self._outbox.reply)
            self.log.compact_to(meta.index, meta.term)
            self._outbox.snapshot(meta, discard_log=False, restore=False)
            self._configs.snapshotted(membership, meta.index, reset=False)
        else:
            self._configs.snapshotted(membership, meta.index, reset=True)
            self._discard_pending_through(meta.index)
            self.log.reset(meta.index, meta.term)
            self.durable = min(self.durable, meta.index)
            self._outbox.snapshot(meta, discard_log=True, restore=False)
        self.commit = max(self.commit, meta.index)
        self.applied = meta.index
        self._snapshot = meta
        self._persist_snapshot_membership()
        if self._configs.current != self.membership:
            self._set_membership(self._configs.current)
        self.counters["snapshots.installed"] += 1
        if self.leader is not None and self.role is Role.FOLLOWER:
            self._respond_append(self.leader, True, self.log.last_index)

    def snapshot_rejected(self, meta: SnapshotMeta, reason: str) -> None:
        """The driver could not install ``meta`` (``SnapshotEvents``): nothing was
        installed; the leader is asked to send it again from the start."""
        if not self._receiver.finished(meta):
            return
        self.counters["snapshots.rejected"] += 1
        if self.leader is not None and self.role is Role.FOLLOWER:
            self._outbox.send(InstallSnapshotResponse(self._id, self.leader, self.term, meta, 0))

    @property
    def pipelined_writes(self) -> bool:
        """``RaftConfig.pipelined_writes`` (see ``PipelinedNode``)."""
        return self._pipelined

    def persisted(self, write: Write) -> None:
        """The driver reports ``write`` durable (``PipelinedNode``): everything
        up to its last entry (or its snapshot) is, if that is still our log."""
        top = write.top()
        if top is None:
            return
        index, term = top
        # (index, term) names one entry and, by Log Matching, its whole prefix:
        # if our log still holds it, all of that prefix reached the disk.
        if index > self.durable and self.log.term_at(index) == term:
            self.durable = index
            if self.role is Role.LEADER:
                self._maybe_commit()

    def has_ready(self) -> bool:
        return (
            self._outbox.has_output()
            or (self.commit > self.applied and self._receiver.installing is None)
            or (
                self.role is Role.LEADER
                and (self._broadcast or self._reads.broadcast_due or self._sender.has_chunks())
            )
        )

    def ready(self) -> Ready:
        if self.role is Role.LEADER:
            self._maybe_commit()
            if self._broadcast:
                self._broadcast = False
                for peer, progress in self.progress.items():
                    self._replicate(peer, progress)
            if self._reads.take_broadcast():
                self._broadcast_heartbeat()
            for chunk in self._sender.chunks():
                self._send_leader(chunk.message(InstallSnapshot, self._id, self.term))
            if self._removed_by_committed_change():
                self.counters["leader.removed"] += 1
                self._become_follower(self.term, None)
        committed: Sequence[Entry] = ()
        # While a received snapshot is being installed, nothing below it may be applied.
        if self.commit > self.applied and self._receiver.installing is None:
            committed = self.log.slice(self.applied + 1, self.commit + 1)
            self.applied = self.commit
            if self._fates:
                self._fates.resolve(committed, self.commit, self.log.term_at, self._outbox.reply)
        return self._outbox.take(committed)

    def status(self) -> Status:
        committed = self._configs.at(self.commit, self.log)
        pending = self.membership if self._configs.index > self.commit else None
        return Status(
            id=self._id,
            role=self.role,
            term=self.term,
            leader=self.leader,
            commit_index=self.commit,
            applied_index=self.applied,
            last_index=self.log.last_index,
            configuration=self._roles(committed),
            pending_configuration=self._roles(pending) if pending is not None else (),
        )

    def replication(self) -> dict[NodeId, int]:
        """Each peer's match index while leading (``ReportsReplication``)."""
        if self.role is not Role.LEADER:
            return {}
        return {peer: progress.match for peer, progress in self.progress.items()}

    def membership_at(self, index: int) -> Membership | None:
        """The configuration in force at ``index`` (for the snapshot taken
        there), or ``None`` while the membership never changed."""
        return self._configs.at(index, self.log) if self._configs.changed else None

    @property
    def snapshot_membership(self) -> Membership:
        """The configuration in force at the snapshot's index (the configured
        members without a snapshot, or while the membership never changed)."""
        return self._configs.snapshot

    @property
    def snapshot(self) -> SnapshotMeta | None:
        """The latest snapshot this node holds."""
        return self._snapshot

    # ------------------------------------------------------------------
    # Time (section 5.2)

    def _random_timeout(self) -> int:
        election = self.config.election_ticks
        return election + self._rng.randrange(election)

    def _reset_timers(self) -> None:
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._timeout = self._random_timeout()

    def _tick_election(self) -> None:
        self._election_elapsed += 1
        if self._election_elapsed >= self._timeout:
            self._campaign(pre_vote=self.config.pre_vote)

    def _tick_leader(self) -> None:
        self._sender.tick()
        if self._transfer_target is not None:
            self._transfer_elapsed += 1
            if self._transfer_elapsed >= self.config.transfer_timeout_ticks:
                self.counters["transfer.timed_out"] += 1
                self._transfer_target = None
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        if self._election_elapsed >= self.config.election_ticks:
            self._election_elapsed = 0
            if self.config.check_quorum and not self._quorum_active():
                self.counters["leader.lost_quorum"] += 1
                self._become_follower(self.term, None)
                return
        if self._heartbeat_elapsed >= self.config.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            self._broadcast_heartbeat()

    def _quorum_active(self) -> bool:
        """CheckQuorum: did a quorum respond during the last election timeout?"""
        active = [self._id]
        for peer, progress in self.progress.items():
            if progress.recent_active:
                active.append(peer)
            progress.recent_active = False
        return self.quorum.is_quorum(active)

    def _in_lease(self, pre_vote: bool) -> bool:
        """Whether a current leader was heard from within the election timeout;
        such a node ignores requests to start a new term (thesis 4.2.3, 9.6)."""
        if self.leader is None or not (self.config.check_quorum or pre_vote):
            return False
        return self._election_elapsed < self.config.election_ticks

    # ------------------------------------------------------------------
    # Role changes

    def _become_follower(self, term: int, leader: NodeId | None) -> None:
        if term != self.term:
            self.term = term
            self.voted_for = None
            self._persist_hard_state()
        if self.role is Role.LEADER:
            self._fail_reads(NotLeader(leader))
        self.role = Role.FOLLOWER
        self.leader = leader
        self._reset_timers()
        self._votes = {}
        self.progress = {}
        self._sender.abandon_all()
        self._broadcast = False
        self._transfer_target = None

    def _campaign(self, *, pre_vote: bool, transfer: bool = False) -> None:
        if self._id not in self.quorum.voters:
            return
        if pre_vote:
            self.role = Role.PRE_CANDIDATE
            vote_term = self.term + 1
            self.counters["elections.pre_vote"] += 1
        else:
            self.role = Role.CANDIDATE
            self.term += 1
            self.voted_for = self._id
            self._persist_hard_state()
            vote_term = self.term
            self.counters["elections.started"] += 1
        self.leader = None
        self._reset_timers()
        self._votes = {self._id: True}
        if self.quorum.vote_result(self._votes) is VoteResult.WON:
            self._won_vote(pre_vote)
            return
        last_index, last_term = self.log.last_index, self.log.last_term
        request = TransferVote if transfer else RequestVote
        for peer in self.peers:
            self._outbox.send(request(self._id, peer, vote_term, last_index, last_term, pre_vote))

    def _won_vote(self, pre_vote: bool) -> None:
        if pre_vote:
            self._campaign(pre_vote=False)
        else:
            self._become_leader()

    def _become_leader(self) -> None:
        self.role = Role.LEADER
        self.leader = self._id
        self._reset_timers()
        self._votes = {}
        next_index = self.log.last_index + 1
        self.progress = {peer: Progress(next_index) for peer in self.peers}
        # Section 8: a no-op of the new term lets the leader learn which entries
        # are committed (older-term entries commit only indirectly, 5.4.2).
        self._append_own(Entry(next_index, self.term, b"", EntryKind.NOOP))
        self.counters["elections.won"] += 1

    # ------------------------------------------------------------------
    # Incoming messages

    def _drop(self, reason: str) -> None:
        self.counters["dropped." + reason] += 1

    def _validate(self, msg: RaftMessage) -> str | None:
        """Reject what no correct peer sends; the reason names a counter."""
        if msg.dst != self._id:
            return "wrong_destination"
        if msg.src == self._id or not is_index(msg.src):
            return "unknown_sender"
        if not is_index(msg.term):
            return "bad_term"
        if isinstance(msg, AppendEntries):
            return _validate_append(msg)
        if isinstance(msg, RequestVote):
            return _validate_vote(msg)
        if isinstance(msg, AppendEntriesResponse):
            if not (
                is_index(msg.index) and is_index(msg.conflict_index) and is_index(msg.conflict_term)
            ):
                return "bad_index"
        elif isinstance(msg, Heartbeat):
            if not (is_index(msg.commit) and is_index(msg.read_round)):
                return "bad_index"
        elif isinstance(msg, HeartbeatResponse):
            if not is_index(msg.read_round):
                return "bad_index"
        elif isinstance(msg, (InstallSnapshot, InstallSnapshotResponse)):
            return _validate_snapshot_message(msg)
        return None

    def _hear_stranger(self, msg: RaftMessage) -> bool:
        """Whether a message from outside our configuration is from a leader we
        must hear: one that may have added us (or a voter we have not learnt
        of yet) - of a newer term, or of ours while we know no other leader."""
        if not isinstance(msg, _FROM_LEADER):
            return False
        return msg.term > self.term or (msg.term == self.term and self.leader in (None, msg.src))

    def _admit_term(self, msg: RaftMessage) -> bool:
        """Apply the term rules common to every message (Figure 2, "All Servers");
        False when the message must go no further."""
        if msg.term > self.term:
            if isinstance(msg, RequestVote):
                if self._in_lease(msg.pre_vote) and not isinstance(msg, TransferVote):
                    self.counters["ignored.vote_in_lease"] += 1
                    return False
                if msg.pre_vote:
                    return True  # a PreVote never changes anyone's term
            elif isinstance(msg, RequestVoteResponse) and msg.pre_vote and msg.granted:
                return True  # the term we asked about, not one anyone holds yet
            leader = msg.src if isinstance(msg, _FROM_LEADER) else None
            self._become_follower(msg.term, leader)
            return True
        if msg.term < self.term:
            self.counters["ignored.stale_term"] += 1
            if isinstance(msg, (AppendEntries, Heartbeat)):
                # A deposed leader: our term in the reply makes it step down.
                # Without this, a node whose term ran ahead (and which PreVote
                # keeps from winning) could be ignored forever.
                self._outbox.send(AppendEntriesResponse(self._id, msg.src, self.term, False, 0))
            elif isinstance(msg, RequestVote) and msg.pre_vote:
                self._outbox.send(RequestVoteResponse(self._id, msg.src, self.term, False, True))
            return False
        return True

    def _on_request_vote(self, msg: RequestVote) -> None:
        can_vote = (
            self.voted_for == msg.src
            or (self.voted_for is None and self.leader is None)
            or (msg.pre_vote and msg.term > self.term)
        )
        # Section 5.4.1, the election restriction: only a candidate whose log is
        # at least as up-to-date as ours may get our vote.
        last_term = self.log.last_term
        up_to_date = msg.last_term > last_term or (
            msg.last_term == last_term and msg.last_index >= self.log.last_index
        )
        if can_vote and up_to_date:
            self._outbox.send(RequestVoteResponse(self._id, msg.src, msg.term, True, msg.pre_vote))
            if not msg.pre_vote:
                self.voted_for = msg.src
                self._persist_hard_state()
                self._election_elapsed = 0
        else:
            self._outbox.send(
                RequestVoteResponse(self._id, msg.src, self.term, False, msg.pre_vote)
            )

    def _on_vote_response(self, msg: RequestVoteResponse) -> None:
        expected = Role.PRE_CANDIDATE if msg.pre_vote else Role.CANDIDATE
        if self.role is not expected:
            self.counters["ignored.vote_response"] += 1
            return
        if msg.pre_vote and msg.granted and msg.term != self.term + 1:
            self.counters["ignored.vote_response"] += 1
            return
        self._votes[msg.src] = msg.granted
        result = self.quorum.vote_result(self._votes)
        if result is VoteResult.WON:
            self._won_vote(msg.pre_vote)
        elif result is VoteResult.LOST:
            self._become_follower(self.term, None)

    def _follow(self, leader: NodeId) -> None:
        """Accept ``leader`` as the leader of the current term."""
        if self.role is not Role.FOLLOWER:
            self._become_follower(self.term, leader)
        self.leader = leader
        self._election_elapsed = 0

    def _on_append_entries(self, msg: AppendEntries) -> None:
        if self.role is Role.LEADER:
            self._drop("second_leader_in_term")
            return
        self._follow(msg.src)
        if msg.prev_index < self.commit:
            # Everything up to our commit index already matches the leader.
            self._respond_append(msg.src, True, self.commit)
            return
        local_prev_term = self.log.term_at(msg.prev_index)
        if local_prev_term != msg.prev_term:
            # Section 5.3, the consistency check failed. Hint where our log
            # diverges so the leader can skip a whole term at once.
            if local_prev_term is None:
                hint_index, hint_term = self.log.last_index + 1, 0
            else:
                hint_term = local_prev_term
                hint_index = self.log.first_index_of_term(hint_term, msg.prev_index)
            self.counters["append.rejected"] += 1
            self._outbox.send(
                AppendEntriesResponse(
                    self._id, msg.src, self.term, False, msg.prev_index, hint_index, hint_term
                )
            )
            return
        entries = msg.entries
        if entries:
            skip = self._matching_prefix(entries)
            if skip < len(entries):
                first = entries[skip].index
                if first <= self.log.last_index:
                    # A conflicting suffix: delete it and all that follows (5.3).
                    self._truncate(first)
                new = entries[skip:]
                self.log.append(new)
                self._outbox.put(new)
                membership = self._configs.appended(new)
                if membership is not None:
                    self._set_membership(membership)
        last_new = msg.prev_index + len(entries)
        if msg.commit > self.commit:
            self.commit = min(msg.commit, last_new)
        self._respond_append(msg.src, True, last_new)

    def _matching_prefix(self, entries: Sequence[Entry]) -> int:
        """How many leading ``entries`` our log already holds."""
        last = self.log.last_index
        if entries[0].index > last:
            return 0
        term_at = self.log.term_at
        for k, entry in enumerate(entries):
            if entry.index > last or term_at(entry.index) != entry.term:
                return k
        return len(entries)

    def _respond_append(self, to: NodeId, success: bool, index: int) -> None:
        self._outbox.send(AppendEntriesResponse(self._id, to, self.term, success, index))

    def _on_append_response(self, msg: AppendEntriesResponse) -> None:
        progress = self._leader_progress(msg.src)
        if progress is None:
            return
        progress.recent_active = True
        if not msg.success:
            self._on_append_rejected(progress, msg)
            return
        if progress.maybe_update(msg.index):
            if progress.state is not ProgressState.SNAPSHOT:
                self._sender.finish(msg.src)
            self._maybe_commit()
            self._broadcast = True
            if msg.src == self._transfer_target:
                self._maybe_send_timeout_now()
        elif progress.state is ProgressState.PROBE:
            self._broadcast = True  # the probe may go again

    def _on_append_rejected(self, progress: Progress, msg: AppendEntriesResponse) -> None:
        rejected = msg.index
        # The follower's hint, refined by our log: past our last entry of its
        # conflicting term if we have that term, so a whole term is skipped.
        hint = msg.conflict_index
        if msg.conflict_term > 0:
            candidate = self.log.last_index_of_term_at_most(msg.conflict_term, rejected)
            if self.log.term_at(candidate) == msg.conflict_term:
                hint = candidate + 1
        if progress.maybe_decr_to(rejected, hint):
            self._broadcast = True

    def _on_heartbeat(self, msg: Heartbeat) -> None:
        if self.role is Role.LEADER:
            self._drop("second_leader_in_term")
            return
        self._follow(msg.src)
        if msg.commit > self.commit:
            if msg.commit > self.log.last_index:
                self.counters["heartbeat.commit_beyond_log"] += 1
            self.commit = max(self.commit, min(msg.commit, self.log.last_index))
        self._outbox.send(HeartbeatResponse(self._id, msg.src, self.term, msg.read_round))

    def _on_heartbeat_response(self, msg: HeartbeatResponse) -> None:
        progress = self._leader_progress(msg.src)
        if progress is None:
            return
        progress.recent_active = True
        # A follower that answers heartbeats but not appends lost one: the
        # stream falls back to probing from its match index.
        if progress.heartbeat_answered(_STALL_LIMIT, self.config.snapshot_retry_ticks):
            self.counters["append.stalled"] += 1
        if progress.match < self.log.last_index or (
            self._broadcast_commit and progress.sent_commit < self.commit
        ):
            self._broadcast = True
        if msg.read_round > progress.read_round:
            progress.read_round = msg.read_round
            self._release_reads()

    def _on_install_snapshot(self, msg: InstallSnapshot) -> None:
        if self.role is Role.LEADER:
            self._drop("second_leader_in_term")
            return
        self._follow(msg.src)
        meta = msg.meta
        if self._receiver.installing is None:
            if meta.index <= self.commit:
                self._respond_append(msg.src, True, self.commit)
                return
            if self.log.term_at(meta.index) == meta.term:
                # We already hold the snapshot's entries; they are now known committed.
                self.commit = meta.index
                self._respond_append(msg.src, True, meta.index)
                return
        ack = self._receiver.take(meta, msg.offset, msg.data, self._outbox)
        # Sent after this batch's write: the staged bytes are durable by then.
        self._outbox.send(InstallSnapshotResponse(self._id, msg.src, self.term, meta, ack))

    def _on_install_snapshot_response(self, msg: InstallSnapshotResponse) -> None:
        progress = self._leader_progress(msg.src)
        if progress is None:
            return
        progress.recent_active = True
        self._sender.acknowledge(msg.src, msg.meta, msg.offset)

    def _leader_progress(self, peer: NodeId) -> Progress | None:
        progress = self.progress.get(peer) if self.role is Role.LEADER else None
        if progress is None:
            self.counters["ignored.not_leader"] += 1
        return progress

    # ------------------------------------------------------------------
    # Replication (leader)

    def _replicate(self, peer: NodeId, progress: Progress) -> None:
        """Send ``peer`` what it lacks, as far as flow control allows."""
        log = self.log
        last = log.last_index
        max_inflight = self.config.max_inflight
        while progress.can_send(max_inflight):
            prev = progress.next - 1
            prev_term = log.term_at(prev)
            if prev_term is None:
                self._send_snapshot(peer, progress)
                return
            if progress.next > last:
                if progress.match_unknown() or (
                    self._broadcast_commit and progress.sent_commit < self.commit
                ):
                    # Nothing new to send, but an empty append still finds out
                    # where the follower's log matches, or tells it the commit.
                    self._send_append(peer, progress, prev, prev_term, ())
                    progress.sent_append(prev)
                return
            hi = min(last + 1, progress.next + self.config.max_entries_per_message)
            entries = tuple(log.slice(progress.next, hi))
            self._send_append(peer, progress, prev, prev_term, entries)
            progress.sent_append(hi - 1)  # a probe pauses here, a stream goes on

    def _send_append(
        self,
        peer: NodeId,
        progress: Progress,
        prev: int,
        prev_term: int,
        entries: tuple[Entry, ...],
    ) -> None:
        self._send_leader(
            AppendEntries(self._id, peer, self.term, prev, prev_term, entries, self.commit)
        )
        progress.sent_commit = self.commit

    def _send_snapshot(self, peer: NodeId, progress: Progress) -> None:
        snapshot = self._snapshot
        if snapshot is None:  # a compacted log always has a snapshot
            raise AssertionError("log is compacted but no snapshot is held")
        if not self._sender.start(peer, snapshot):
            return  # too many transfers already: the next answer from the peer retries
        progress.become_snapshot(snapshot.index)
        self.counters["snapshots.sent"] += 1

    def _maybe_commit(self) -> None:
        acked = {peer: progress.match for peer, progress in self.progress.items()}
        # Pipelined writes: our own copy counts only once it is durable, or a
        # commit could rest on one durable copy plus one a crash would lose.
        acked[self._id] = self.durable if self._pipelined else self.log.last_index
        index = self.quorum.committed_index(acked)
        # Section 5.4.2: only entries of the current term commit by counting
        # replicas; earlier ones commit indirectly, with them.
        if index > self.commit and self.log.term_at(index) == self.term:
            self.commit = index
            self._broadcast = True
            for rid in self._reads.take_deferred():
                self._start_read(rid)
            self._maybe_leave_joint()

    def _broadcast_heartbeat(self) -> None:
        for peer, progress in self.progress.items():
            commit = min(progress.match, self.commit)
            self._send_leader(Heartbeat(self._id, peer, self.term, commit, self._reads.round))

    # ------------------------------------------------------------------
    # Reads (thesis section 6.4, ReadIndex)

    def _start_read(self, rid: RequestId) -> None:
        if self.quorum.is_quorum((self._id,)):
            self._outbox.reply(ReadReady(rid, self.commit))
            return
        self._reads.start(rid, self.commit)

    def _release_reads(self) -> None:
        confirmed = {peer: progress.read_round for peer, progress in self.progress.items()}
        confirmed[self._id] = self._reads.round
        for rid, index in self._reads.release(self.quorum, confirmed):
            self._outbox.reply(ReadReady(rid, index))

    def _fail_reads(self, error: NotLeader) -> None:
        for rid in self._reads.drain():
            self._outbox.reply(RequestFailed(rid, error))

    # ------------------------------------------------------------------
    # Membership (thesis chapter 4; see raft.confchange)

    def _use_membership(self, membership: Membership) -> None:
        self.membership = membership
        self.members = membership.ordered()
        self.peers = membership.peers_of(self._id)
        self._peer_set = frozenset(self.peers)
        self.quorum = membership.quorum()
        if self.role is Role.LEADER:
            next_index = self.log.last_index + 1
            progress = self.progress
            self.progress = {p: progress.get(p) or Progress(next_index) for p in self.peers}

    def _roles(self, membership: Membership) -> Roles:
        # status() runs after every simulator step: remember the last answer.
        cached = self._roles_cache
        if cached is None or cached[0] is not membership:
            cached = self._roles_cache = (membership, roles(membership))
        return cached[1]

    def _set_membership(self, membership: Membership) -> None:
        """``membership`` is in force from now on (appended, rolled back or
        installed): recorded durably with the write that brought it."""
        self._use_membership(membership)
        self.counters["membership.changed"] += 1
        if self._configs.changed:
            self._outbox.set_metadata(MEMBERSHIP_KEY, membership.encode())

    def _persist_snapshot_membership(self) -> None:
        if self._configs.changed:
            self._outbox.set_metadata(SNAPSHOT_MEMBERSHIP_KEY, self._configs.snapshot.encode())

    def _append_own(self, entry: Entry) -> int:
        """Append a leader's new ``entry``; returns its index."""
        self.log.entries.append(entry)
        self._outbox.put_one(entry)
        self._broadcast = True
        return entry.index

    def _append_config(self, membership: Membership) -> int:
        entry = config_entry(self.log.last_index + 1, self.term, membership)
        self._append_own(entry)
        self._configs.appended((entry,))
        self._set_membership(membership)
        return entry.index

    def _plan_change(self, change: MembershipChange) -> Membership:
        """The configuration to append for ``change``, or ``MembershipChangeRefused``."""
        if self._transfer_target is not None:
            raise MembershipChangeRefused("a leadership transfer is in progress")
        if self.log.term_at(self.commit) != self.term:
            # The single-server change bug (raft-dev, 2015): a change appended
            # before an entry of this term committed can overlap one that an
            # earlier leader appended, and two disjoint majorities follow.
            raise MembershipChangeRefused("the leader has not committed an entry of its term yet")
        if self.commit < self._configs.index:
            raise MembershipChangeRefused("the previous configuration change is not committed yet")
        wanted = target(self.membership, change)
        if (
            isinstance(change, (PromoteLearner, AddVoter))
            and change.node in self.membership.learners
        ):
            self._check_caught_up(change.node)
        return transition(self.membership, wanted)

    def _check_caught_up(self, learner: NodeId) -> None:
        progress = self.progress.get(learner)
        lag = self.log.last_index - (progress.match if progress is not None else 0)
        if lag > self.config.max_promotion_lag:
            raise MembershipChangeRefused(
                f"learner {learner} is {lag} entries behind "
                f"(at most {self.config.max_promotion_lag} to be promoted)"
            )

    def _maybe_leave_joint(self) -> None:
        """Leader: once a joint configuration committed, leave it (also a leader
        elected while the joint configuration was in force, 4.3)."""
        membership = self.membership
        if membership.is_joint and membership.auto_leave and self.commit >= self._configs.index:
            self.counters["membership.auto_leave"] += 1
            self._append_config(membership.left_joint())

    def _removed_by_committed_change(self) -> bool:
        """Leader: a committed configuration no longer counts us as a voter (4.2.2)."""
        return self._id not in self.quorum.voters and self.commit >= self._configs.index

    def _maybe_send_timeout_now(self) -> None:
        target_id = self._transfer_target
        progress = self.progress.get(target_id) if target_id is not None else None
        if target_id is None or progress is None:
            return
        if progress.match >= self.log.last_index:
            self._outbox.send(TimeoutNow(self._id, target_id, self.term))
            self.counters["transfer.timeout_now"] += 1
        else:
            self._broadcast = True  # catch the target up first

    def _on_timeout_now(self, msg: TimeoutNow) -> None:
        if self._id not in self.quorum.voters or self.role is Role.LEADER:
            self.counters["ignored.timeout_now"] += 1
            return
        self.counters["transfer.campaigns"] += 1
        self._campaign(pre_vote=False, transfer=True)

    # ------------------------------------------------------------------
    # Proposals' fate

    def _new_request(self) -> RequestId:
        rid = self._next_request
        self._next_request += 1
        return rid

    def _truncate(self, from_index: int) -> None:
        self._fates.displace_from(from_index)
        self.log.truncate_from(from_index)
        self._outbox.truncate(from_index)
        self.durable = min(self.durable, from_index - 1)
        membership = self._configs.truncated(self.log)
        if membership is not None:
            # The configuration entry in force went with the suffix: the one
            # before it applies again (a configuration takes effect when appended).
            self.counters["membership.rolled_back"] += 1
            self._set_membership(membership)

    def _discard_pending_through(self, index: int) -> None:
        """Our log is about to be replaced by a snapshot at ``index``."""
        self._truncate(self.log.snapshot_index + 1)
        self._fates.unknown_through(index, self._outbox.reply)

    def _persist_hard_state(self) -> None:
        self._outbox.set_metadata(TERM_KEY, self.term)
        self._outbox.set_metadata(VOTE_KEY, self.voted_for)


_HANDLERS: dict[type, Callable[[RaftNode, Any], None]] = {
    RequestVote: RaftNode._on_request_vote,
    RequestVoteResponse: RaftNode._on_vote_response,
    AppendEntries: RaftNode._on_append_entries,
    AppendEntriesResponse: RaftNode._on_append_response,
    Heartbeat: RaftNode._on_heartbeat,
    HeartbeatResponse: RaftNode._on_heartbeat_response,
    InstallSnapshot: RaftNode._on_install_snapshot,
    InstallSnapshotResponse: RaftNode._on_install_snapshot_response,
    TimeoutNow: RaftNode._on_timeout_now,
    TransferVote: RaftNode._on_request_vote,
}


def _validate_append(msg: AppendEntries) -> str | None:
    if not (is_index(msg.prev_index) and is_index(msg.prev_term) and is_index(msg.commit)):
        return "bad_index"
    if msg.prev_term > msg.term:
        return "bad_term"
    problem = entries_problem(
        msg.entries, msg.prev_index + 1, min_term=msg.prev_term, max_term=msg.term
    )
    return problem if problem is not None else config_problem(msg.entries)


def _validate_vote(msg: RequestVote) -> str | None:
    if isinstance(msg, TransferVote) and msg.pre_vote:
        return "bad_transfer"
    if not (is_index(msg.last_index) and is_index(msg.last_term)):
        return "bad_index"
    if msg.last_term > msg.term:
        return "bad_term"
    return None


def _validate_snapshot_message(msg: InstallSnapshot | InstallSnapshotResponse) -> str | None:
    problem = snapshot_problem(msg.meta, max_term=msg.term)
    if problem is not None:
        return problem
    if isinstance(msg, InstallSnapshot):
        return chunk_problem(msg.meta, msg.offset, msg.data, msg.done)
    if not is_index(msg.offset) or msg.offset > msg.meta.size:
        return "bad_index"
    return None


def _load_hard_state(storage: Storage) -> tuple[int, NodeId | None]:
    meta = storage.metadata()
    term = meta.get(TERM_KEY, 0)
    vote = meta.get(VOTE_KEY)
    if not is_index(term):
        raise StorageCorruption(f"stored term is {term!r}, not a non-negative integer")
    if vote is not None and not is_index(vote):
        raise StorageCorruption(f"stored vote is {vote!r}, not a node id")
    assert isinstance(term, int) and (vote is None or isinstance(vote, int))
    return term, vote


def _load_log(storage: Storage, snapshot: SnapshotMeta | None) -> RaftLog:
    log = RaftLog(snapshot.index, snapshot.term) if snapshot else RaftLog()
    entries = storage.entries(log.snapshot_index + 1, storage.last_index() + 1)
    expected, previous_term = log.snapshot_index + 1, log.snapshot_term
    for entry in entries:
        if entry.index != expected:
            raise StorageCorruption(
                f"log has a hole: expected index {expected}, found {entry.index}"
            )
        if entry.term < previous_term:
            raise StorageCorruption(f"log term goes backwards at index {entry.index}")
        expected, previous_term = expected + 1, entry.term
    if storage.last_index() != log.snapshot_index + len(entries):
        raise StorageCorruption("stored entries do not continue the snapshot")
    log.append(entries)
    return log
