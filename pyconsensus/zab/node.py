"""``ZabNode``: ZooKeeper Atomic Broadcast as a pure state machine.

The protocol (Junqueira, Reed, Serafini, "Zab: High-performance broadcast for
primary-backup systems", DSN 2011) as Apache ZooKeeper runs it:

- **Election** (Fast Leader Election): LOOKING servers exchange votes ordered by
  (current epoch, last zxid, server id) until a quorum agrees.
- **Phase 1, discovery**: followers send FOLLOWERINFO with their accepted epoch;
  the prospective leader proposes NEWEPOCH above all of a quorum's; followers
  persist it as their accepted epoch and answer ACKEPOCH with their current
  epoch and last zxid. A leader that learns of a more recent follower gives up.
- **Phase 2, synchronization**: the leader sends each follower NEWLEADER with
  DIFF, TRUNC or SNAP; the follower adopts the history and the new current
  epoch in one durable write and acknowledges. A quorum of acknowledgements
  establishes the leader and commits its whole initial history.
- **Phase 3, broadcast**: PROPOSAL / ACK / COMMIT, pipelined and batched,
  committing in zxid order once a quorum acknowledged.

Everything durable (accepted and current epoch, the history) reaches storage
through the ``write`` of a ``Ready`` batch, before any message that depends on it.
"""

from __future__ import annotations

import enum
from collections import Counter, deque
from collections.abc import Callable, Sequence
from random import Random
from typing import Any, Final

from pyconsensus.core.errors import (
    ConfigError,
    NotLeader,
    OutcomeUnknown,
    ProposalTooLarge,
)
from pyconsensus.core.fates import ProposalFates
from pyconsensus.core.outbox import Outbox
from pyconsensus.core.quorum import MajorityQuorum
from pyconsensus.core.ready import (
    Message,
    ProposalCommitted,
    ReadReady,
    Ready,
    RequestFailed,
    Write,
)
from pyconsensus.core.screening import screen
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import Entry, NodeId, RequestId, Role, Snapshot, Status
from pyconsensus.zab.config import ZabConfig
from pyconsensus.zab.election import Election
from pyconsensus.zab.learner import Learner, LearnerStage
from pyconsensus.zab.messages import (
    Ack,
    AckEpoch,
    AckNewLeader,
    Commit,
    Diff,
    FollowerInfo,
    NewEpoch,
    NewLeader,
    Notification,
    PeerState,
    Ping,
    PingAck,
    Proposal,
    ReadReply,
    ReadRequest,
    Request,
    Sync,
    Trunc,
    UpToDate,
    Vote,
    ZabMessage,
)
from pyconsensus.zab.recovery import (
    ACCEPTED_EPOCH_KEY,
    CURRENT_EPOCH_KEY,
    load_epochs,
    load_history,
)
from pyconsensus.zab.sync import plan_sync
from pyconsensus.zab.validation import CHECKS, is_count

UNPLACED: Final = None
"""The index in ``OutcomeUnknown`` for a forwarded proposal whose position the
leader never reported before the follower lost it: it may or may not commit."""


class FollowerStage(enum.Enum):
    """Where a FOLLOWING server is in its handshake with the leader."""

    DISCOVERY = "discovery"
    """FOLLOWERINFO sent; waiting for NEWEPOCH."""
    SYNC = "sync"
    """ACKEPOCH sent; waiting for NEWLEADER."""
    SYNCED = "synced"
    """NEWLEADER adopted and acknowledged; waiting for UPTODATE."""
    BROADCAST = "broadcast"
    """UPTODATE received: following an established leader, serving clients."""


class LeaderPhase(enum.Enum):
    """Where a LEADING server is."""

    DISCOVERY = "discovery"
    SYNC = "sync"
    BROADCAST = "broadcast"
    """Established: a quorum acknowledged NEWLEADER."""


_SYNCED_STAGES = (FollowerStage.SYNCED, FollowerStage.BROADCAST)
_STALL_LIMIT: Final = 3  # PINGs in a row that show a follower missing what was sent
_REMEMBERED_CONNS: Final = 16  # per follower, for recognising duplicated FOLLOWERINFOs
_REPLICATED_STAGES = (LearnerStage.SYNCING, LearnerStage.BROADCAST)


class ZabNode:
    """One ZAB server.

    ``members`` lists every voter, this node included. ``storage`` is read once,
    here, to recover the durable state; afterwards every change to it comes out
    of ``ready()`` as a ``Write`` for the driver to persist.

    Proposals and reads may be submitted to any server: a follower of an
    established leader forwards them and answers its own client when the
    leader's answer comes back; a server without one answers ``NotLeader``.
    """

    def __init__(
        self,
        node_id: NodeId,
        members: Sequence[NodeId],
        storage: Storage,
        rng: Random,
        config: ZabConfig | None = None,
    ) -> None:
        voters = frozenset(members)
        if any(not is_count(m) for m in voters):
            raise ConfigError(f"member ids must be non-negative integers, got {sorted(voters)}")
        if node_id not in voters:
            raise ConfigError(f"node {node_id} is not among the members {sorted(voters)}")
        self._id = node_id
        self.members: tuple[NodeId, ...] = tuple(sorted(voters))
        self.peers: tuple[NodeId, ...] = tuple(m for m in self.members if m != node_id)
        self._peer_set = frozenset(self.peers)
        self.quorum = MajorityQuorum(voters)
        self.config = config if config is not None else ZabConfig()
        self._rng = rng
        self.counters: Counter[str] = Counter()
        self._outbox = Outbox()

        # Durable state, recovered from storage.
        self.accepted_epoch, self.current_epoch = load_epochs(storage)
        self._snapshot = storage.snapshot()
        self.history = load_history(storage, self._snapshot, self.current_epoch)
        self.commit = self.applied = self.history.base_index
        if self._snapshot is not None:
            self._outbox.restore(self._snapshot)
        # How far our history is known to be durable (pipelined writes: the
        # established leader counts its own acknowledgement only up to here).
        self.durable = self.history.last_index
        self._pipelined = self.config.pipelined_writes
        # The established leader's PROPOSAL, COMMIT and PING (never a handshake
        # message) may leave before its write with pipelined writes.
        self._send_leader: Callable[[Message], None] = (
            self._outbox.send_early if self._pipelined else self._outbox.send
        )

        # Names this incarnation in forwarded requests (their ids restart with it).
        self.session = rng.getrandbits(62)
        self._next_request = 1
        # Proposals made or forwarded here whose place in the history is known
        # (index -> (request id, epoch)), and those whose entry left our history.
        self._fates = ProposalFates()

        self.state = PeerState.LOOKING
        self.leader: NodeId | None = None
        self.election = Election(node_id, self.quorum, self._own_vote())
        self._ticks = 0
        self._notify_elapsed = 0
        self._notify_timeout = 0

        # FOLLOWING.
        self.stage: FollowerStage | None = None
        self.conn = 0
        self._stage_elapsed = 0
        self._handshake_elapsed = 0
        self._silent = 0
        self._stalled = 0  # PINGs in a row saying we lack what was sent
        self._stalled_at = 0
        self._acked_epoch_to: tuple[NodeId, int] | None = None
        self._handshake_message: ZabMessage | None = None  # re-sent while no progress
        # Forwarded requests whose place the leader has not told yet, and to
        # which leader and epoch they went: they survive a reconnection to that
        # leader (which recognises them), and become unknown once we move on.
        self._unplaced: dict[RequestId, tuple[bytes, int]] = {}
        self._unplaced_to: tuple[NodeId, int] | None = None
        self._forwarded_reads: dict[RequestId, int] = {}  # request id -> tick sent

        # LEADING.
        self.phase: LeaderPhase | None = None
        self.learners: dict[NodeId, Learner] = {}
        # Recent connection numbers per follower, to recognise late duplicates.
        self._past_conns: dict[NodeId, deque[int]] = {}
        self._infos: dict[NodeId, int] = {}
        self._epoch_chosen = False
        self._epoch_acks: set[NodeId] = set()
        self._newleader_acks: set[NodeId] = set()
        self.initial_last = 0  # last index of the initial history (set at NEWLEADER)
        self._phase_elapsed = 0
        self._heartbeat_elapsed = 0
        self._quorum_elapsed = 0
        self._broadcast = False  # new transactions or a new commit index to send
        self._read_round = 0
        self._reads: deque[tuple[int, NodeId | None, RequestId, int]] = deque()
        self._read_broadcast = False

        self._look()

    # ------------------------------------------------------------------
    # The contract

    @property
    def id(self) -> NodeId:
        return self._id

    @property
    def established(self) -> bool:
        """Whether this server leads and a quorum acknowledged its NEWLEADER."""
        return self.phase is LeaderPhase.BROADCAST

    def tick(self) -> None:
        self._ticks += 1
        if self.state is PeerState.LOOKING:
            self._tick_looking()
        elif self.state is PeerState.FOLLOWING:
            self._tick_following()
        else:
            self._tick_leading()

    def receive(self, message: object) -> None:
        handler = screen(message, _HANDLERS, self._check, self.counters)
        if handler is not None:
            handler(self, message)

    def propose(self, data: bytes) -> RequestId:
        if not isinstance(data, bytes):
            raise TypeError(f"a proposal must be bytes, not {type(data).__name__}")
        rid = self._next_request
        self._next_request = rid + 1
        if len(data) > self.config.max_entry_bytes:
            error = ProposalTooLarge(len(data), self.config.max_entry_bytes)
            self._outbox.reply(RequestFailed(rid, error))
        elif self.phase is LeaderPhase.BROADCAST:  # established: the hot path
            self._fates.placed(self._append(data), self.current_epoch, rid)
        elif self.stage is FollowerStage.BROADCAST:
            assert self.leader is not None
            self._unplaced[rid] = (data, self._ticks)
            self._unplaced_to = (self.leader, self.current_epoch)
            self._forward(rid, data)
        else:
            self._outbox.reply(RequestFailed(rid, NotLeader(self._leader_hint())))
        return rid

    def read(self) -> RequestId:
        """A linearizable read point. The leader confirms with a quorum round that
        it still leads (like Raft's ReadIndex); a follower forwards the request to
        its leader and passes the answer on; other servers answer ``NotLeader``."""
        rid = self._new_request()
        if self.established:
            self._start_read(rid, None)
        elif self.stage is FollowerStage.BROADCAST:
            assert self.leader is not None
            self._forwarded_reads[rid] = self._ticks
            self._outbox.send(ReadRequest(self._id, self.leader, self.current_epoch, rid))
        else:
            self._outbox.reply(RequestFailed(rid, NotLeader(self._leader_hint())))
        return rid

    def compact(self, index: int, data: bytes) -> None:
        if index <= self.history.base_index:
            return
        if index > self.applied:
            raise ValueError(
                f"cannot compact to index {index}: only {self.applied} has been applied"
            )
        epoch = self.history.epoch_at(index)
        assert epoch is not None  # base_index < index <= applied <= last_index
        snapshot = Snapshot(index, epoch, data)
        self.history.compact_to(index, epoch)
        self._snapshot = snapshot
        self._outbox.snapshot(snapshot, discard_log=False, restore=False)
        self.counters["snapshots.taken"] += 1

    @property
    def pipelined_writes(self) -> bool:
        """``ZabConfig.pipelined_writes`` (see ``PipelinedNode``)."""
        return self._pipelined

    def persisted(self, write: Write) -> None:
        """The driver reports ``write`` durable (``PipelinedNode``): our history
        is, up to its last transaction (or its snapshot), if we still hold that."""
        top = write.top()
        if top is None:
            return
        index, epoch = top
        # A zxid names one transaction and, as two histories holding it agree on
        # everything before it, its whole prefix: if we still hold it, all of
        # that prefix reached the disk (writes are made durable in order).
        if index > self.durable and self.history.epoch_at(index) == epoch:
            self.durable = index
            if self.established:
                self._maybe_commit()

    def has_ready(self) -> bool:
        return (
            self._outbox.has_output()
            or self.commit > self.applied
            or (self.established and (self._broadcast or self._read_broadcast))
        )

    def ready(self) -> Ready:
        if self.established:
            if self._broadcast:
                # Our own write counts (it precedes everything), unless it is
                # pipelined: then only once ``persisted`` says it is durable.
                self._maybe_commit()
                self._broadcast = False
                self._replicate()
            if self._read_broadcast:
                self._read_broadcast = False
                self._ping_all()
        committed: Sequence[Entry] = ()
        if self.commit > self.applied:
            committed = self.history.slice(self.applied + 1, self.commit + 1)
            self.applied = self.commit
            if self._fates:
                self._fates.resolve(
                    committed, self.commit, self.history.epoch_at, self._outbox.reply
                )
        return self._outbox.take(committed)

    def status(self) -> Status:
        if self.state is PeerState.FOLLOWING:
            role = Role.FOLLOWER
        elif self.established:
            role = Role.LEADER
        else:
            role = Role.CANDIDATE
        return Status(
            id=self._id,
            role=role,
            term=self.current_epoch,
            leader=self.leader,
            commit_index=self.commit,
            applied_index=self.applied,
            last_index=self.history.last_index,
        )

    @property
    def snapshot(self) -> Snapshot | None:
        """The latest snapshot this node holds."""
        return self._snapshot

    # ------------------------------------------------------------------
    # Election (ZooKeeper's FastLeaderElection)

    def _own_vote(self) -> Vote:
        return Vote(self.current_epoch, self.history.last_zxid, self._id)

    def _look(self) -> None:
        """Become LOOKING and start a new election round."""
        if self.state is PeerState.LEADING:
            self._stop_leading()
        elif self.state is PeerState.FOLLOWING:
            self._stop_following()
        self.state = PeerState.LOOKING
        self.leader = None
        self.election.begin(self._own_vote())
        self.counters["elections.rounds"] += 1
        self._notify_peers()
        self._check_election()

    def _notification(self, to: NodeId) -> Notification:
        election = self.election
        return Notification(
            self._id, to, election.round, self.state, election.vote, self.accepted_epoch
        )

    def _notify_peers(self) -> None:
        for peer in self.peers:
            self._outbox.send(self._notification(peer))
        self._notify_elapsed = 0
        notify = self.config.notify_ticks
        self._notify_timeout = notify + self._rng.randrange(notify)

    def _tick_looking(self) -> None:
        election = self.election
        if election.finalize_left is not None:
            election.finalize_left -= 1
            if election.finalize_left <= 0:
                election.finalize_left = None
                if election.agreed():
                    self._decide()
                    return
        self._notify_elapsed += 1
        if self._notify_elapsed >= self._notify_timeout:
            self._notify_peers()

    def _check_election(self) -> None:
        election = self.election
        if not election.agreed():
            election.finalize_left = None
        elif election.unanimous() or self.config.finalize_ticks == 0:
            self._decide()
        elif election.finalize_left is None:
            election.finalize_left = self.config.finalize_ticks

    def _decide(self) -> None:
        leader = self.election.vote.leader
        self.election.finalize_left = None
        if leader == self._id:
            self._lead()
        else:
            self._follow(leader)

    def _on_notification(self, msg: Notification) -> None:
        self.election.heard_of(msg.accepted_epoch)
        if self.state is PeerState.LOOKING:
            self._election_notification(msg)
            return
        if (
            self.state is PeerState.FOLLOWING
            and msg.src == self.leader
            and msg.state is not PeerState.LEADING
        ):
            # Our leader gave up (ZooKeeper learns it from the closed connection).
            self.counters["follower.leader_gone"] += 1
            self._look()
            self._election_notification(msg)
            return
        if msg.state is PeerState.LOOKING:
            # Tell a LOOKING server whom we follow or that we lead, so it can join.
            self._outbox.send(self._notification(msg.src))

    def _election_notification(self, msg: Notification) -> None:
        election = self.election
        if msg.state is PeerState.LOOKING:
            if msg.round < election.round:
                self._outbox.send(self._notification(msg.src))  # bring it to our round
                return
            if election.on_looking(msg.src, msg.round, msg.vote, self._own_vote()):
                self._notify_peers()
        else:
            election.on_decided(msg.src, msg.state, msg.round, msg.vote)
            leader = election.established_leader()
            if leader is not None:
                election.round = max(election.round, msg.round)
                election.vote = election.decided[leader][1]
                self.counters["elections.joined"] += 1
                self._follow(leader)
                return
        self._check_election()

    # ------------------------------------------------------------------
    # FOLLOWING: the follower's side of the three phases

    def _follow(self, leader: NodeId) -> None:
        self.state = PeerState.FOLLOWING
        self.leader = leader
        self._silent = 0
        self._connect()

    def _connect(self) -> None:
        """Open a new connection to the leader: start the handshake (phase 1)."""
        assert self.leader is not None
        self.conn = self._rng.getrandbits(62)
        self._handshake_elapsed = 0
        self._enter_stage(FollowerStage.DISCOVERY)
        self._handshake_send(
            FollowerInfo(self._id, self.leader, self.accepted_epoch, self.conn, self.session)
        )

    def _enter_stage(self, stage: FollowerStage) -> None:
        self.stage = stage
        self._stage_elapsed = 0

    def _handshake_send(self, message: ZabMessage) -> None:
        self._handshake_message = message
        self._outbox.send(message)

    def _abandon_unplaced(self, leader: NodeId, epoch: int) -> None:
        """We follow or lead ``epoch`` now: forwarded requests the leader of an
        earlier one never placed for us may or may not have committed."""
        if self._unplaced and self._unplaced_to != (leader, epoch):
            for rid in self._unplaced:
                self._outbox.reply(RequestFailed(rid, OutcomeUnknown(UNPLACED)))
            self._unplaced = {}

    def _stop_following(self) -> None:
        for rid in self._forwarded_reads:
            self._outbox.reply(RequestFailed(rid, NotLeader(None)))
        self._forwarded_reads = {}
        self.stage = None
        self._handshake_message = None

    def _tick_following(self) -> None:
        self._silent += 1
        if self.stage is FollowerStage.BROADCAST:
            if self._silent >= self.config.sync_ticks:
                self.counters["follower.leader_silent"] += 1
                self._look()
                return
            self._retry_forwarded()
            return
        self._handshake_elapsed += 1
        self._stage_elapsed += 1
        if self._handshake_elapsed >= self.config.init_ticks:
            self.counters["follower.sync_timeout"] += 1
            self._look()
        elif self._stage_elapsed >= self.config.handshake_retry_ticks:
            self._stage_elapsed = 0
            if self._handshake_message is not None:
                self.counters["handshake.retries"] += 1
                self._outbox.send(self._handshake_message)

    def _from_leader(self, msg: ZabMessage) -> bool:
        if self.state is not PeerState.FOLLOWING or msg.src != self.leader:
            self.counters["ignored.not_from_leader"] += 1
            return False
        return True

    def _on_new_epoch(self, msg: NewEpoch) -> None:
        if not self._from_leader(msg):
            return
        if msg.conn != self.conn or self.stage is not FollowerStage.DISCOVERY:
            self.counters["ignored.stale_handshake"] += 1
            return
        if msg.epoch < self.accepted_epoch:
            # A leader of an older epoch than one we promised (ZooKeeper gives up too).
            self.counters["follower.epoch_behind"] += 1
            self._look()
            return
        if msg.epoch > self.accepted_epoch:
            self.accepted_epoch = msg.epoch
            self._outbox.set_metadata(ACCEPTED_EPOCH_KEY, msg.epoch)
            self._acked_epoch_to = (msg.src, msg.epoch)
        fresh = self._acked_epoch_to == (msg.src, msg.epoch)
        self._enter_stage(FollowerStage.SYNC)
        self._handshake_send(
            AckEpoch(
                self._id,
                msg.src,
                msg.epoch,
                self.conn,
                self.current_epoch,
                self.history.last_zxid,
                self.commit,
                fresh,
            )
        )

    def _on_new_leader(self, msg: NewLeader) -> None:
        if not self._from_leader(msg):
            return
        if (
            msg.conn != self.conn
            or self.stage is not FollowerStage.SYNC
            or msg.epoch != self.accepted_epoch
        ):
            self.counters["ignored.stale_handshake"] += 1
            return
        problem = self._adopt(msg.sync)
        if problem is not None:
            self._drop(problem)
            self._connect()
            return
        # Phase 2: the new history and the new current epoch, in one durable write.
        self.current_epoch = msg.epoch
        self._outbox.set_metadata(CURRENT_EPOCH_KEY, msg.epoch)
        self._learn_origins(msg.origins)
        self._abandon_unplaced(msg.src, msg.epoch)
        self._learn_commit(msg.commit)
        self._silent = 0
        self._enter_stage(FollowerStage.SYNCED)
        self._handshake_send(
            AckNewLeader(self._id, msg.src, msg.epoch, self.conn, self.history.last_index)
        )

    def _adopt(self, sync: Sync) -> str | None:
        """Apply the leader's DIFF, TRUNC or SNAP; the reason it is refused, if it is.
        Nothing changes unless the sync is accepted."""
        history = self.history
        entries = sync.entries
        if isinstance(sync, Diff):
            keep, keep_epoch = history.last_index, history.last_epoch
        elif isinstance(sync, Trunc):
            keep = sync.index
            # Committed transactions are never undone: such a sync is not for us.
            if not self.commit <= keep <= history.last_index:
                return "bad_sync"
            keep_epoch = history.epoch_at(keep) or 0
        else:
            keep, keep_epoch = sync.snapshot.index, sync.snapshot.term
            if keep < self.commit:
                return "bad_sync"
        if entries and (entries[0].index != keep + 1 or entries[0].term < keep_epoch):
            return "bad_sync"
        if isinstance(sync, Diff):
            self.counters["sync.diff"] += 1
        elif isinstance(sync, Trunc):
            if keep < history.last_index:
                self._truncate_after(keep)
            self.counters["sync.trunc"] += 1
        else:
            self._install_snapshot(sync.snapshot)
            self.counters["sync.snap"] += 1
        if entries:
            history.append(entries)
            self._outbox.put(entries)
        return None

    def _on_up_to_date(self, msg: UpToDate) -> None:
        if not self._from_leader(msg):
            return
        if (
            msg.conn != self.conn
            or self.stage is not FollowerStage.SYNCED
            or msg.epoch != self.current_epoch
        ):
            self.counters["ignored.stale_handshake"] += 1
            return
        self._silent = 0
        self._handshake_message = None
        self._enter_stage(FollowerStage.BROADCAST)
        self._learn_commit(msg.commit)
        self.counters["follower.up_to_date"] += 1
        for rid, (data, _) in self._unplaced.items():
            self._unplaced[rid] = (data, self._ticks)
            self._forward(rid, data)  # the leader may have missed them while we were away

    def _synced_with(self, msg: Proposal | Commit | Ping | ReadReply) -> bool:
        """Whether ``msg`` comes from our leader and we adopted its history."""
        if not self._from_leader(msg):
            return False
        if msg.epoch != self.current_epoch or self.stage not in _SYNCED_STAGES:
            self.counters["ignored.not_synced"] += 1
            return False
        self._silent = 0
        return True

    def _on_proposal(self, msg: Proposal) -> None:
        if not self._synced_with(msg):
            return
        history = self.history
        entries = msg.entries
        first = entries[0].index
        last = history.last_index
        if first > last + 1:
            # A proposal went missing: ZooKeeper's TCP stream would have broken.
            # Reconnect and let the leader send a DIFF.
            self.counters["follower.gap"] += 1
            self._connect()
            return
        if first <= last:
            overlap_end = min(entries[-1].index, last)
            if history.epoch_at(overlap_end) != msg.epoch:
                self._drop("proposal_conflict")
                self._connect()
                return
            entries = entries[last + 1 - first :]
        if entries:
            history.append(entries)
            self._outbox.put(entries)
        if msg.origins:
            self._learn_origins(msg.origins)
        self._learn_commit(msg.commit)
        self._outbox.send(Ack(self._id, msg.src, msg.epoch, history.last_index))

    def _on_commit(self, msg: Commit) -> None:
        if self._synced_with(msg):
            self._learn_commit(msg.index)

    def _on_ping(self, msg: Ping) -> None:
        if not self._from_leader(msg):
            return
        if msg.epoch != self.current_epoch or self.stage not in _SYNCED_STAGES:
            return  # the handshake has its own timers
        self._silent = 0
        self._learn_commit(msg.commit)
        self._outbox.send(PingAck(self._id, msg.src, msg.epoch, msg.read_round))
        last = self.history.last_index
        if msg.sent > last and self.stage is FollowerStage.BROADCAST:
            # Proposals the leader sent never reached us (lost, or ignored when
            # they overtook the NEWLEADER). ZooKeeper's TCP stream would have
            # broken: reconnect, and the leader sends a DIFF (or a SNAP).
            self._stalled = self._stalled + 1 if last == self._stalled_at else 1
            self._stalled_at = last
            if self._stalled >= _STALL_LIMIT:
                self.counters["follower.stalled"] += 1
                self._connect()
        else:
            self._stalled = 0

    def _on_read_reply(self, msg: ReadReply) -> None:
        if not self._synced_with(msg):
            return
        if self._forwarded_reads.pop(msg.request_id, None) is not None:
            self._outbox.reply(ReadReady(msg.request_id, msg.index))

    def _learn_commit(self, commit: int) -> None:
        # Our history up to its end is a prefix of the leader's.
        if commit > self.commit:
            self.commit = max(self.commit, min(commit, self.history.last_index))

    def _learn_origins(self, origins: tuple[tuple[int, RequestId], ...]) -> None:
        """The leader placed our forwarded requests at these indices."""
        for index, rid in origins:
            if self._unplaced.pop(rid, None) is None:
                continue
            if index <= self.applied:
                # Delivered already (in a SNAP, say). Our history is a prefix of
                # the leader's, so what we delivered there is this request.
                self._outbox.reply(ProposalCommitted(rid, index))
                continue
            epoch = self.history.epoch_at(index)
            if epoch is None:
                self._outbox.reply(RequestFailed(rid, OutcomeUnknown(index)))
            else:
                self._fates.placed(index, epoch, rid)

    def _forward(self, rid: RequestId, data: bytes) -> None:
        assert self.leader is not None
        floor = min(self._unplaced, default=rid)
        self._outbox.send(
            Request(self._id, self.leader, self.current_epoch, self.session, rid, data, floor)
        )

    def _retry_forwarded(self) -> None:
        """Re-send forwarded requests the leader has not answered (it may have
        lost them); the leader recognises duplicates."""
        limit = self._ticks - self.config.forward_retry_ticks
        for rid, (data, sent) in list(self._unplaced.items()):
            if sent <= limit:
                self._unplaced[rid] = (data, self._ticks)
                self.counters["forward.retries"] += 1
                self._forward(rid, data)
        for rid, sent in list(self._forwarded_reads.items()):
            if sent <= limit:
                assert self.leader is not None
                self._forwarded_reads[rid] = self._ticks
                self.counters["forward.retries"] += 1
                self._outbox.send(ReadRequest(self._id, self.leader, self.current_epoch, rid))

    # ------------------------------------------------------------------
    # LEADING: the leader's side of the three phases

    def _lead(self) -> None:
        self.state = PeerState.LEADING
        self.leader = None  # until established
        self.phase = LeaderPhase.DISCOVERY
        self.learners = {}
        self._past_conns = {}
        self._infos = {self._id: self.accepted_epoch}
        self._epoch_chosen = False
        self._epoch_acks = set()
        self._newleader_acks = set()
        self._phase_elapsed = 0
        self._heartbeat_elapsed = 0
        self._quorum_elapsed = 0
        self.counters["elections.leading"] += 1
        self._advance_discovery()

    def _stop_leading(self) -> None:
        for _, origin, rid, _ in self._reads:
            if origin is None:
                self._outbox.reply(RequestFailed(rid, NotLeader(None)))
        self._reads.clear()
        self._read_broadcast = False
        self._broadcast = False
        self.phase = None
        self.learners = {}
        self._past_conns = {}

    def _tick_leading(self) -> None:
        if not self.established:
            # Followers drive the handshake and retry it; we only bound its length.
            self._phase_elapsed += 1
            if self._phase_elapsed >= self.config.init_ticks:
                self.counters["leader.not_established"] += 1
                self._look()
            return
        self._heartbeat_elapsed += 1
        if self._heartbeat_elapsed >= self.config.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            self._ping_all()
        self._quorum_elapsed += 1
        if self._quorum_elapsed >= self.config.sync_ticks:
            self._quorum_elapsed = 0
            if not self._quorum_active():
                self.counters["leader.lost_quorum"] += 1
                self._look()

    def _quorum_active(self) -> bool:
        """Did a quorum of synced followers answer during the last ``sync_ticks``?"""
        active = [self._id]
        for peer, learner in self.learners.items():
            if learner.active and learner.synced:
                active.append(peer)
            learner.active = False
        return self.quorum.is_quorum(active)

    def _learner(self, msg: AckEpoch | AckNewLeader) -> Learner | None:
        """The learner behind a handshake message on its current connection."""
        learner = self.learners.get(msg.src) if self.state is PeerState.LEADING else None
        if learner is None or learner.conn != msg.conn:
            self.counters["ignored.stale_handshake"] += 1
            return None
        learner.active = True
        return learner

    def _on_follower_info(self, msg: FollowerInfo) -> None:
        if self.state is not PeerState.LEADING:
            # Whoever thinks we lead learns our state and looks elsewhere.
            self.counters["ignored.not_leading"] += 1
            self._outbox.send(self._notification(msg.src))
            return
        if self._epoch_chosen and msg.accepted_epoch > self.accepted_epoch:
            # The follower promised a later epoch (to a leader that failed) and
            # would refuse ours. ZooKeeper leaves it out until the leader changes;
            # we start a new election, whose leader proposes an epoch above it.
            self.counters["leader.follower_epoch_ahead"] += 1
            self.election.heard_of(msg.accepted_epoch)
            self._look()
            return
        past = self._past_conns.setdefault(msg.src, deque(maxlen=_REMEMBERED_CONNS))
        learner = self.learners.get(msg.src)
        if msg.conn in past:
            # A duplicate: answer again only if the handshake is still at its start.
            if learner is not None and learner.conn == msg.conn:
                learner.active = True
                if learner.stage is LearnerStage.INFO and self._epoch_chosen:
                    self._send_new_epoch(msg.src, learner)
            return
        past.append(msg.conn)
        if learner is None:
            learner = Learner(msg.conn, msg.session)
            self.learners[msg.src] = learner
        else:
            if learner.session != msg.session:
                learner.new_session(msg.session)
            learner.conn = msg.conn
            learner.stage = LearnerStage.INFO
        learner.active = True
        if self._epoch_chosen:
            self._send_new_epoch(msg.src, learner)
        else:
            self._infos[msg.src] = msg.accepted_epoch
            self._advance_discovery()

    def _send_new_epoch(self, peer: NodeId, learner: Learner) -> None:
        self._outbox.send(NewEpoch(self._id, peer, self.accepted_epoch, learner.conn))

    def _advance_discovery(self) -> None:
        if not self._epoch_chosen:
            if not self.quorum.is_quorum(self._infos):
                return
            # Phase 1: an epoch above every epoch a quorum has accepted.
            epoch = max(*self._infos.values(), self.election.highest_accepted) + 1
            self._epoch_chosen = True
            self.accepted_epoch = epoch
            self._outbox.set_metadata(ACCEPTED_EPOCH_KEY, epoch)
            self._epoch_acks = {self._id}
            for peer, learner in self.learners.items():
                if learner.stage is LearnerStage.INFO:
                    self._send_new_epoch(peer, learner)
        if self.phase is LeaderPhase.DISCOVERY and self.quorum.is_quorum(self._epoch_acks):
            self._start_sync()

    def _on_ack_epoch(self, msg: AckEpoch) -> None:
        learner = self._learner(msg)
        if learner is None:
            return
        if not self._epoch_chosen or msg.epoch != self.accepted_epoch:
            self.counters["ignored.stale_epoch"] += 1
            return
        if learner.stage is LearnerStage.SYNCING:
            self._send_new_leader(msg.src, learner)  # the NEWLEADER may have been lost
            return
        if learner.stage is not LearnerStage.INFO:
            return
        learner.current_epoch = msg.current_epoch
        learner.last_zxid = msg.last_zxid
        learner.commit = msg.commit
        learner.stage = LearnerStage.EPOCH_ACKED
        if self.phase is not LeaderPhase.DISCOVERY:
            self._send_new_leader(msg.src, learner)
            return
        if not msg.fresh:
            return  # promised to us earlier, or to another leader: does not count
        if (msg.current_epoch, msg.last_zxid) > (self.current_epoch, self.history.last_zxid):
            # A follower is more recent than we are: it may hold committed
            # transactions we lack. Give up; the next election favours it.
            self.counters["leader.follower_ahead"] += 1
            self._look()
            return
        self._epoch_acks.add(msg.src)
        self._advance_discovery()

    def _start_sync(self) -> None:
        """Phase 2: our history becomes the initial history of the new epoch."""
        self.phase = LeaderPhase.SYNC
        self.current_epoch = self.accepted_epoch
        self._outbox.set_metadata(CURRENT_EPOCH_KEY, self.current_epoch)
        self._abandon_unplaced(self._id, self.current_epoch)
        self.initial_last = self.history.last_index
        self._newleader_acks = {self._id}
        for peer, learner in self.learners.items():
            if learner.stage is LearnerStage.EPOCH_ACKED:
                self._send_new_leader(peer, learner)
        self._check_established()

    def _send_new_leader(self, peer: NodeId, learner: Learner) -> None:
        history = self.history
        sync = self._plan_sync(learner)
        last = history.last_index
        origins = learner.origins_between(0, last)  # snapshotted ones included
        self._outbox.send(
            NewLeader(self._id, peer, self.current_epoch, learner.conn, sync, self.commit, origins)
        )
        learner.stage = LearnerStage.SYNCING
        learner.sent = last
        learner.sent_commit = self.commit

    def _plan_sync(self, learner: Learner) -> Sync:
        """How to bring ``learner`` to our history (a hook for broken variants in tests)."""
        return plan_sync(self.history, self._snapshot, learner.last_zxid, learner.commit)

    def _on_ack_new_leader(self, msg: AckNewLeader) -> None:
        learner = self._learner(msg)
        if learner is None:
            return
        if msg.epoch != self.current_epoch or self.phase is LeaderPhase.DISCOVERY:
            self.counters["ignored.stale_epoch"] += 1
            return
        if learner.stage is LearnerStage.BROADCAST:
            self._send_up_to_date(msg.src, learner)  # the UPTODATE may have been lost
            return
        if learner.stage is not LearnerStage.SYNCING:
            return
        if msg.index > learner.sent:
            self._drop("bad_index")
            return
        learner.synced = True
        learner.acknowledge(msg.index)
        learner.stage = LearnerStage.SYNCED
        if self.established:
            self._send_up_to_date(msg.src, learner)
            self._maybe_commit()
        else:
            self._newleader_acks.add(msg.src)
            self._check_established()

    def _check_established(self) -> None:
        if self.phase is LeaderPhase.SYNC and self.quorum.is_quorum(self._newleader_acks):
            self._establish()

    def _establish(self) -> None:
        self.phase = LeaderPhase.BROADCAST
        self.leader = self._id
        self._quorum_elapsed = 0
        self.counters["leader.established"] += 1
        # A quorum holds the initial history: commit it, previous epochs' included.
        self._maybe_commit()
        for peer, learner in self.learners.items():
            if learner.stage is LearnerStage.SYNCED:
                self._send_up_to_date(peer, learner)
        self._broadcast = True

    def _send_up_to_date(self, peer: NodeId, learner: Learner) -> None:
        learner.stage = LearnerStage.BROADCAST
        learner.sent_commit = self.commit
        self._outbox.send(UpToDate(self._id, peer, self.current_epoch, learner.conn, self.commit))

    def _synced_learner(self, msg: Ack | PingAck | Request | ReadRequest) -> Learner | None:
        """The learner behind a phase-3 message of our epoch, if any."""
        learner = self.learners.get(msg.src) if self.established else None
        if learner is None or not learner.synced or msg.epoch != self.current_epoch:
            self.counters["ignored.not_leading"] += 1
            return None
        learner.active = True
        return learner

    def _on_ack(self, msg: Ack) -> None:
        learner = self._synced_learner(msg)
        if learner is None:
            return
        if msg.index > self.history.last_index:
            self._drop("bad_index")
            return
        if learner.acknowledge(msg.index):
            self._maybe_commit()

    def _on_ping_ack(self, msg: PingAck) -> None:
        learner = self._synced_learner(msg)
        if learner is None:
            return
        if msg.read_round > learner.read_round:
            learner.read_round = msg.read_round
            self._release_reads()

    def _on_request(self, msg: Request) -> None:
        learner = self._synced_learner(msg)
        if learner is None:
            return
        if learner.session != msg.session:
            self.counters["ignored.stale_session"] += 1
            return
        if len(msg.data) > self.config.max_entry_bytes:
            self._drop("too_large")
            return
        if not learner.place(msg.request_id, msg.floor):
            self.counters["forward.duplicates"] += 1
            return
        index = self._append(msg.data)
        learner.origins[index] = msg.request_id

    def _on_read_request(self, msg: ReadRequest) -> None:
        if self._synced_learner(msg) is not None:
            self._start_read(msg.request_id, msg.src)

    def _append(self, data: bytes) -> int:
        """Phase 3: a new transaction of our epoch at the end of the history."""
        entries = self.history.entries
        index = self.history.base_index + len(entries) + 1
        entry = Entry(index, self.current_epoch, data)
        entries.append(entry)
        self._outbox.put_one(entry)
        self._broadcast = True
        return index

    def _replicate(self) -> None:
        """Send every follower the proposals it has not seen, and the commit index."""
        history = self.history
        last = history.last_index
        commit = self.commit
        epoch = self.current_epoch
        step = self.config.max_entries_per_message
        send = self._send_leader
        for peer, learner in self.learners.items():
            if learner.stage not in _REPLICATED_STAGES:
                continue
            if learner.sent < last:
                lo = learner.sent + 1
                lo = max(lo, history.base_index + 1)  # compacted: the gap makes it reconnect
                while lo <= last:
                    hi = min(last + 1, lo + step)
                    entries = tuple(history.slice(lo, hi))
                    origins = learner.origins_between(lo, hi - 1)
                    send(Proposal(self._id, peer, epoch, entries, commit, origins))
                    lo = hi
                learner.sent = last
                learner.sent_commit = commit
            elif learner.sent_commit < commit:
                send(Commit(self._id, peer, epoch, commit))
                learner.sent_commit = commit

    def _maybe_commit(self) -> None:
        acked = {peer: lr.acked for peer, lr in self.learners.items() if lr.synced}
        # Pipelined writes: our own copy counts only once it is durable, or a
        # commit could rest on one durable copy plus one a crash would lose.
        acked[self._id] = self.durable if self._pipelined else self.history.last_index
        index = self.quorum.committed_index(acked)
        if index > self.commit:
            self.commit = index
            self._broadcast = True

    def _ping_all(self) -> None:
        epoch = self.accepted_epoch
        read_round = self._read_round
        send = self._send_leader
        for peer, learner in self.learners.items():
            if learner.stage in _REPLICATED_STAGES:
                sent = learner.sent
                send(Ping(self._id, peer, epoch, min(self.commit, sent), read_round, sent))
            else:
                send(Ping(self._id, peer, epoch, 0, read_round, 0))

    # ------------------------------------------------------------------
    # Reads: a quorum round confirms leadership (like Raft's ReadIndex)

    def _start_read(self, rid: RequestId, origin: NodeId | None) -> None:
        if len(self.quorum.voters) == 1:
            self._answer_read(origin, rid, self.commit)
            return
        self._read_round += 1
        self._reads.append((self._read_round, origin, rid, self.commit))
        self._read_broadcast = True

    def _release_reads(self) -> None:
        reads = self._reads
        while reads:
            round_, origin, rid, index = reads[0]
            confirmed = [self._id]
            confirmed.extend(
                p for p, lr in self.learners.items() if lr.synced and lr.read_round >= round_
            )
            if not self.quorum.is_quorum(confirmed):
                return
            reads.popleft()
            self._answer_read(origin, rid, index)

    def _answer_read(self, origin: NodeId | None, rid: RequestId, index: int) -> None:
        if origin is None:
            self._outbox.reply(ReadReady(rid, index))
        else:
            self._outbox.send(ReadReply(self._id, origin, self.current_epoch, rid, index))

    # ------------------------------------------------------------------
    # Incoming messages

    def _drop(self, reason: str) -> None:
        self.counters["dropped." + reason] += 1

    def _check(self, msg: ZabMessage) -> str | None:
        if msg.dst != self._id:
            return "wrong_destination"
        if msg.src not in self._peer_set:
            return "unknown_sender"
        return CHECKS[type(msg)](msg)

    # ------------------------------------------------------------------
    # Proposals' fate

    def _leader_hint(self) -> NodeId | None:
        return self.leader if self.state is PeerState.FOLLOWING else None

    def _new_request(self) -> RequestId:
        rid = self._next_request
        self._next_request += 1
        return rid

    def _truncate_after(self, index: int) -> None:
        self._fates.displace_from(index + 1)
        self.history.truncate_after(index)
        self._outbox.truncate(index + 1)
        self.durable = min(self.durable, index)

    def _install_snapshot(self, snapshot: Snapshot) -> None:
        """Replace our whole history by ``snapshot`` (SNAP)."""
        self._truncate_after(self.history.base_index)
        self._fates.unknown_through(snapshot.index, self._outbox.reply)
        self.history.reset(snapshot.index, snapshot.term)
        self.durable = min(self.durable, snapshot.index)
        self.commit = self.applied = snapshot.index
        self._snapshot = snapshot
        self._outbox.snapshot(snapshot, discard_log=True, restore=True)


_HANDLERS: dict[type, Callable[[ZabNode, Any], None]] = {
    Notification: ZabNode._on_notification,
    FollowerInfo: ZabNode._on_follower_info,
    NewEpoch: ZabNode._on_new_epoch,
    AckEpoch: ZabNode._on_ack_epoch,
    NewLeader: ZabNode._on_new_leader,
    AckNewLeader: ZabNode._on_ack_new_leader,
    UpToDate: ZabNode._on_up_to_date,
    Proposal: ZabNode._on_proposal,
    Ack: ZabNode._on_ack,
    Commit: ZabNode._on_commit,
    Ping: ZabNode._on_ping,
    PingAck: ZabNode._on_ping_ack,
    Request: ZabNode._on_request,
    ReadRequest: ZabNode._on_read_request,
    ReadReply: ZabNode._on_read_reply,
}
