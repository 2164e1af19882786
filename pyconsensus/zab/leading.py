"""LEADING: the leader's side of ZAB's three phases, for one epoch.

Phase 1 (discovery): FOLLOWERINFOs from a quorum let the leader choose a new
epoch above every one they accepted; it sends NEWEPOCH and counts ACKEPOCHs.
Phase 2 (synchronization): the leader's history becomes the initial history of
the epoch; each follower gets NEWLEADER with a DIFF, TRUNC or SNAP, and a
quorum of acknowledgements establishes the leader. Phase 3 (broadcast):
PROPOSAL / ACK / COMMIT, pipelined and batched, and PINGs that keep followers
and the leader's quorum check alive and confirm linearizable reads.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from pyconsensus.core.errors import NotLeader
from pyconsensus.core.ready import Message, ReadReady, RequestFailed
from pyconsensus.core.types import Entry, NodeId, RequestId
from pyconsensus.zab import messages
from pyconsensus.zab.host import ZabHost
from pyconsensus.zab.learner import Learner, LearnerStage
from pyconsensus.zab.recovery import ACCEPTED_EPOCH_KEY, CURRENT_EPOCH_KEY
from pyconsensus.zab.role import ServerRole
from pyconsensus.zab.sync import plan_sync


class LeaderPhase(enum.Enum):
    """Where a LEADING server is."""

    DISCOVERY = "discovery"
    SYNC = "sync"
    BROADCAST = "broadcast"
    """Established: a quorum acknowledged NEWLEADER."""


_REMEMBERED_CONNS: Final = 16  # per follower, for recognising duplicated FOLLOWERINFOs
_REPLICATED_STAGES = (LearnerStage.SYNCING, LearnerStage.BROADCAST)


class Leading(ServerRole):
    """A server leading (or trying to establish) the epoch it proposes.

    Subclassed by the deliberately broken variants in the tests, through
    ``ZabNode.leading_class``: ``plan_sync`` and ``maybe_commit`` are their hooks.
    """

    __slots__ = (
        "broadcast",
        "epoch_acks",
        "epoch_chosen",
        "heartbeat_elapsed",
        "infos",
        "initial_last",
        "learners",
        "newleader_acks",
        "past_conns",
        "phase",
        "phase_elapsed",
        "quorum_elapsed",
        "send",
    )

    state = messages.PeerState.LEADING

    def __init__(self, node: ZabHost) -> None:
        super().__init__(node)
        self.phase = LeaderPhase.DISCOVERY
        self.learners: dict[NodeId, Learner] = {}
        # Recent connection numbers per follower, to recognise late duplicates.
        self.past_conns: dict[NodeId, deque[int]] = {}
        self.infos: dict[NodeId, int] = {self.me: node.accepted_epoch}
        self.epoch_chosen = False
        self.epoch_acks: set[NodeId] = set()
        self.newleader_acks: set[NodeId] = set()
        self.initial_last = 0  # last index of the initial history (set at NEWLEADER)
        self.phase_elapsed = 0  # ticks of the handshake, until established
        self.heartbeat_elapsed = 0
        self.quorum_elapsed = 0  # ticks since the last quorum check
        self.broadcast = False  # new transactions or a new commit index to send
        # PROPOSAL, COMMIT and PING (never a handshake message) may leave before
        # our write with pipelined writes.
        outbox = self.outbox
        self.send: Callable[[Message], None] = (
            outbox.send_early if node.pipelined_writes else outbox.send
        )

    @property
    def established(self) -> bool:
        return self.phase is LeaderPhase.BROADCAST

    def stop(self) -> None:
        self.node.sender.abandon_all()
        for origin, rid in self.node.reads.drain():
            if origin is None:
                self.outbox.reply(RequestFailed(rid, NotLeader(None)))

    def tick(self) -> None:
        config = self.config
        self.node.sender.tick()
        if not self.established:
            # Followers drive the handshake and retry it; we only bound its length.
            self.phase_elapsed += 1
            if self.phase_elapsed >= config.init_ticks:
                self.give_up("leader.not_established")
            return
        self.heartbeat_elapsed += 1
        if self.heartbeat_elapsed >= config.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            self._ping_all()
        self.quorum_elapsed += 1
        if self.quorum_elapsed >= config.sync_ticks:
            self.quorum_elapsed = 0
            if not self._quorum_active():
                self.give_up("leader.lost_quorum")

    def _quorum_active(self) -> bool:
        """Did a quorum of synced followers answer during the last ``sync_ticks``?"""
        active = [self.me]
        for peer, learner in self.learners.items():
            if learner.active and learner.synced:
                active.append(peer)
            learner.active = False
        return self.node.quorum.is_quorum(active)

    # ------------------------------------------------------------------
    # Phase 1: discovery

    def on_follower_info(self, msg: messages.FollowerInfo) -> None:
        node = self.node
        if self.epoch_chosen and msg.accepted_epoch > node.accepted_epoch:
            # The follower promised a later epoch (to a leader that failed) and
            # would refuse ours. ZooKeeper leaves it out until the leader changes;
            # we start a new election, whose leader proposes an epoch above it.
            node.election.heard_of(msg.accepted_epoch)
            self.give_up("leader.follower_epoch_ahead")
            return
        past = self.past_conns.setdefault(msg.src, deque(maxlen=_REMEMBERED_CONNS))
        learner = self.learners.get(msg.src)
        if msg.conn in past:
            # A duplicate: answer again only if the handshake is still at its start.
            if learner is not None and learner.conn == msg.conn:
                learner.active = True
                if learner.stage is LearnerStage.INFO and self.epoch_chosen:
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
        if self.epoch_chosen:
            self._send_new_epoch(msg.src, learner)
        else:
            self.infos[msg.src] = msg.accepted_epoch
            self.advance_discovery()

    def _send_new_epoch(self, peer: NodeId, learner: Learner) -> None:
        self.outbox.send(messages.NewEpoch(self.me, peer, self.node.accepted_epoch, learner.conn))

    def advance_discovery(self) -> None:
        node = self.node
        quorum = node.quorum
        if not self.epoch_chosen:
            if not quorum.is_quorum(self.infos):
                return
            # Phase 1: an epoch above every epoch a quorum has accepted.
            epoch = max(*self.infos.values(), node.election.highest_accepted) + 1
            self.epoch_chosen = True
            node.accepted_epoch = epoch
            self.outbox.set_metadata(ACCEPTED_EPOCH_KEY, epoch)
            self.epoch_acks = {self.me}
            for peer, learner in self.learners.items():
                if learner.stage is LearnerStage.INFO:
                    self._send_new_epoch(peer, learner)
        if self.phase is LeaderPhase.DISCOVERY and quorum.is_quorum(self.epoch_acks):
            self._start_sync()

    def _learner(
        self, msg: messages.AckEpoch | messages.AckNewLeader | messages.SnapAck
    ) -> Learner | None:
        """The learner behind a handshake message on its current connection."""
        learner = self.learners.get(msg.src)
        if learner is None or learner.conn != msg.conn:
            self.counters["ignored.stale_handshake"] += 1
            return None
        learner.active = True
        return learner

    def on_ack_epoch(self, msg: messages.AckEpoch) -> None:
        learner = self._learner(msg)
        if learner is None:
            return
        node = self.node
        if not self.epoch_chosen or msg.epoch != node.accepted_epoch:
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
        if (msg.current_epoch, msg.last_zxid) > (node.current_epoch, node.history.last_zxid):
            # A follower is more recent than we are: it may hold committed
            # transactions we lack. Give up; the next election favours it.
            self.give_up("leader.follower_ahead")
            return
        self.epoch_acks.add(msg.src)
        self.advance_discovery()

    # ------------------------------------------------------------------
    # Phase 2: synchronization

    def _start_sync(self) -> None:
        """Our history becomes the initial history of the new epoch."""
        node = self.node
        self.phase = LeaderPhase.SYNC
        node.current_epoch = node.accepted_epoch
        self.outbox.set_metadata(CURRENT_EPOCH_KEY, node.current_epoch)
        node.forwarded.abandon(self.me, node.current_epoch)
        self.initial_last = node.history.last_index
        self.newleader_acks = {self.me}
        for peer, learner in self.learners.items():
            if learner.stage is LearnerStage.EPOCH_ACKED:
                self._send_new_leader(peer, learner)
        self._check_established()

    def _send_new_leader(self, peer: NodeId, learner: Learner) -> None:
        node = self.node
        commit = node.commit
        sync = self.plan_sync(learner)
        last = node.history.last_index
        origins = learner.origins_between(0, last)  # snapshotted ones included
        self.outbox.send(
            messages.NewLeader(
                self.me, peer, node.current_epoch, learner.conn, sync, commit, origins
            )
        )
        learner.stage = LearnerStage.SYNCING
        learner.sent = last
        learner.sent_commit = commit

    def plan_sync(self, learner: Learner) -> messages.Sync:
        """How to bring ``learner`` to our history."""
        node = self.node
        return plan_sync(node.history, node.snapshot, learner.last_zxid, learner.commit)

    def on_ack_new_leader(self, msg: messages.AckNewLeader) -> None:
        learner = self._learner(msg)
        if learner is None:
            return
        if msg.epoch != self.node.current_epoch or self.phase is LeaderPhase.DISCOVERY:
            self.counters["ignored.stale_epoch"] += 1
            return
        if learner.stage is LearnerStage.BROADCAST:
            self._send_up_to_date(msg.src, learner)  # the UPTODATE may have been lost
            return
        if learner.stage is not LearnerStage.SYNCING:
            return
        if msg.index > learner.sent:
            self.counters["dropped.bad_index"] += 1
            return
        learner.synced = True
        self.node.sender.finish(msg.src)
        learner.acknowledge(msg.index)
        learner.stage = LearnerStage.SYNCED
        if self.established:
            self._send_up_to_date(msg.src, learner)
            self.maybe_commit()
        else:
            self.newleader_acks.add(msg.src)
            self._check_established()

    def on_snap_ack(self, msg: messages.SnapAck) -> None:
        """A syncing follower asks for (more of) the SNAP's snapshot."""
        learner = self._learner(msg)
        if learner is None or learner.stage is not LearnerStage.SYNCING:
            return
        sender = self.node.sender
        if msg.meta != self.node.snapshot:
            # We compacted since the NEWLEADER: its reconnection gets a new SNAP.
            self.counters["ignored.stale_snapshot"] += 1
            return
        if sender.start(msg.src, msg.meta):
            sender.acknowledge(msg.src, msg.meta, msg.offset)

    def _send_snap_chunks(self) -> None:
        for chunk in self.node.sender.chunks():
            learner = self.learners.get(chunk.peer)
            if learner is None:
                self.node.sender.abandon(chunk.peer)
                continue
            epoch = self.node.current_epoch
            self.outbox.send(chunk.message(messages.SnapChunk, self.me, epoch, learner.conn))

    def _check_established(self) -> None:
        if self.phase is LeaderPhase.SYNC and self.node.quorum.is_quorum(self.newleader_acks):
            self._establish()

    def _establish(self) -> None:
        self.phase = LeaderPhase.BROADCAST
        self.quorum_elapsed = 0
        self.counters["leader.established"] += 1
        # A quorum holds the initial history: commit it, previous epochs' included.
        self.maybe_commit()
        for peer, learner in self.learners.items():
            if learner.stage is LearnerStage.SYNCED:
                self._send_up_to_date(peer, learner)
        self.broadcast = True

    def _send_up_to_date(self, peer: NodeId, learner: Learner) -> None:
        node = self.node
        learner.stage = LearnerStage.BROADCAST
        learner.sent_commit = node.commit
        self.outbox.send(
            messages.UpToDate(self.me, peer, node.current_epoch, learner.conn, node.commit)
        )

    # ------------------------------------------------------------------
    # Phase 3: broadcast

    def _synced_learner(
        self, msg: messages.Ack | messages.PingAck | messages.Request | messages.ReadRequest
    ) -> Learner | None:
        """The learner behind a phase-3 message of our epoch, if any."""
        learner = self.learners.get(msg.src) if self.established else None
        if learner is None or not learner.synced or msg.epoch != self.node.current_epoch:
            self.counters["ignored.not_leading"] += 1
            return None
        learner.active = True
        return learner

    def on_ack(self, msg: messages.Ack) -> None:
        learner = self._synced_learner(msg)
        if learner is None:
            return
        if msg.index > self.node.history.last_index:
            self.counters["dropped.bad_index"] += 1
            return
        if learner.acknowledge(msg.index):
            self.maybe_commit()

    def on_request(self, msg: messages.Request) -> None:
        learner = self._synced_learner(msg)
        if learner is None:
            return
        if learner.session != msg.session:
            self.counters["ignored.stale_session"] += 1
            return
        if len(msg.data) > self.config.max_entry_bytes:
            self.counters["dropped.too_large"] += 1
            return
        if not learner.place(msg.request_id, msg.floor):
            self.counters["forward.duplicates"] += 1
            return
        index = self.append(msg.data)
        learner.origins[index] = msg.request_id

    def append(self, data: bytes) -> int:
        """A new transaction of our epoch at the end of the history; its index."""
        node = self.node
        entries = node.history.entries
        index = node.history.base_index + len(entries) + 1
        entry = Entry(index, node.current_epoch, data)
        entries.append(entry)
        self.outbox.put_one(entry)
        self.broadcast = True
        return index

    def has_output(self) -> bool:
        """Whether ``flush`` has proposals, commits or read confirmations to send."""
        return self.node.sender.has_chunks() or (
            self.established and (self.broadcast or self.node.reads.broadcast_due)
        )

    def flush(self) -> None:
        """Send what accumulated since the last ``Ready``."""
        self._send_snap_chunks()
        if not self.established:
            return
        if self.broadcast:
            # Our own write counts (it precedes everything), unless it is
            # pipelined: then only once ``persisted`` says it is durable.
            self.maybe_commit()
            self.broadcast = False
            self._replicate()
        if self.node.reads.take_broadcast():
            self._ping_all()

    def _replicate(self) -> None:
        """Send every follower the proposals it has not seen, and the commit index."""
        node = self.node
        history = node.history
        last = history.last_index
        commit = node.commit
        epoch = node.current_epoch
        step = self.config.max_entries_per_message
        send = self.send
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
                    send(messages.Proposal(self.me, peer, epoch, entries, commit, origins))
                    lo = hi
                learner.sent = last
                learner.sent_commit = commit
            elif learner.sent_commit < commit:
                send(messages.Commit(self.me, peer, epoch, commit))
                learner.sent_commit = commit

    def maybe_commit(self) -> None:
        """Commit what a quorum (us included) acknowledged."""
        node = self.node
        acked = {peer: lr.acked for peer, lr in self.learners.items() if lr.synced}
        # Pipelined writes: our own copy counts only once it is durable, or a
        # commit could rest on one durable copy plus one a crash would lose.
        acked[self.me] = node.durable if node.pipelined_writes else node.history.last_index
        index = node.quorum.committed_index(acked)
        if index > node.commit:
            node.commit = index
            self.broadcast = True

    def _ping_all(self) -> None:
        node = self.node
        epoch = node.accepted_epoch
        read_round = node.reads.round
        commit = node.commit
        send = self.send
        for peer, learner in self.learners.items():
            if learner.stage in _REPLICATED_STAGES:
                sent = learner.sent
                send(messages.Ping(self.me, peer, epoch, min(commit, sent), read_round, sent))
            else:
                send(messages.Ping(self.me, peer, epoch, 0, read_round, 0))

    # ------------------------------------------------------------------
    # Reads: a quorum round confirms leadership (like Raft's ReadIndex).
    # The node's queue numbers the rounds, across leaderships; followers echo
    # the round of the PING they answer.

    def start_read(self, rid: RequestId, origin: NodeId | None) -> None:
        """A read point for our client (``origin`` None) or a follower's."""
        node = self.node
        if len(node.quorum.voters) == 1:
            self._answer_read(origin, rid, node.commit)
            return
        node.reads.start((origin, rid), node.commit)

    def on_read_request(self, msg: messages.ReadRequest) -> None:
        if self._synced_learner(msg) is not None:
            self.start_read(msg.request_id, msg.src)

    def on_ping_ack(self, msg: messages.PingAck) -> None:
        learner = self._synced_learner(msg)
        if learner is None:
            return
        if msg.read_round > learner.read_round:
            learner.read_round = msg.read_round
            self._release_reads()

    def _release_reads(self) -> None:
        node = self.node
        confirmed = {p: lr.read_round for p, lr in self.learners.items() if lr.synced}
        confirmed[self.me] = node.reads.round
        for (origin, rid), index in node.reads.release(node.quorum, confirmed):
            self._answer_read(origin, rid, index)

    def _answer_read(self, origin: NodeId | None, rid: RequestId, index: int) -> None:
        if origin is None:
            self.outbox.reply(ReadReady(rid, index))
        else:
            self.outbox.send(
                messages.ReadReply(self.me, origin, self.node.current_epoch, rid, index)
            )


LEADER_HANDLERS: dict[type, tuple[Callable[[Leading, Any], None], str]] = {
    messages.SnapAck: (Leading.on_snap_ack, "ignored.stale_handshake"),
    messages.AckEpoch: (Leading.on_ack_epoch, "ignored.stale_handshake"),
    messages.AckNewLeader: (Leading.on_ack_new_leader, "ignored.stale_handshake"),
    messages.Ack: (Leading.on_ack, "ignored.not_leading"),
    messages.PingAck: (Leading.on_ping_ack, "ignored.not_leading"),
    messages.Request: (Leading.on_request, "ignored.not_leading"),
    messages.ReadRequest: (Leading.on_read_request, "ignored.not_leading"),
}
"""The messages a leader takes from its followers, each with the counter of
those that reach a server that does not lead."""
