"""FOLLOWING: the follower's side of ZAB's three phases, for one leader.

The follower opens a connection (FOLLOWERINFO), promises the leader's new
epoch (NEWEPOCH -> ACKEPOCH), adopts its history (NEWLEADER -> ACKNEWLEADER)
and, once told UPTODATE, accepts its proposals and serves clients by
forwarding their requests. A handshake that makes no progress is re-sent, and
one that takes too long, or a leader that falls silent, ends the role.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Final

from pyconsensus.core.errors import NotLeader
from pyconsensus.core.ready import ReadReady, RequestFailed
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.types import NodeId, RequestId
from pyconsensus.zab import messages
from pyconsensus.zab.host import ZabHost
from pyconsensus.zab.recovery import ACCEPTED_EPOCH_KEY, CURRENT_EPOCH_KEY
from pyconsensus.zab.role import ServerRole


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


_SYNCED_STAGES = (FollowerStage.SYNCED, FollowerStage.BROADCAST)
_STALL_LIMIT: Final = 3  # PINGs in a row that show we miss what was sent


class Following(ServerRole):
    """A server following ``leader``: its connection and its handshake."""

    __slots__ = (
        "conn",
        "forwarded_reads",
        "handshake_elapsed",
        "handshake_message",
        "leader",
        "pending_snap",
        "silent",
        "stage",
        "stage_elapsed",
    )

    state = messages.PeerState.FOLLOWING

    def __init__(self, node: ZabHost, leader: NodeId) -> None:
        super().__init__(node)
        self.leader = leader
        self.silent = 0  # ticks since the leader was last heard from
        self.conn = 0
        self.stage = FollowerStage.DISCOVERY
        self.stage_elapsed = 0
        self.handshake_elapsed = 0
        self.handshake_message: messages.ZabMessage | None = None  # re-sent while no progress
        self.forwarded_reads: dict[RequestId, int] = {}  # request id -> tick sent
        # A SNAP's NEWLEADER waiting for its snapshot's bytes, and that snapshot.
        self.pending_snap: tuple[messages.NewLeader, SnapshotMeta] | None = None
        self.connect()

    @property
    def serving(self) -> bool:
        """Whether the leader told us UPTODATE: we forward clients' requests."""
        return self.stage is FollowerStage.BROADCAST

    def connect(self) -> None:
        """Open a new connection to the leader: start the handshake (phase 1)."""
        node = self.node
        self.conn = node.rng.getrandbits(62)
        self.handshake_elapsed = 0
        self._enter_stage(FollowerStage.DISCOVERY)
        self._handshake_send(
            messages.FollowerInfo(
                self.me, self.leader, node.accepted_epoch, self.conn, node.session
            )
        )

    def _enter_stage(self, stage: FollowerStage) -> None:
        self.stage = stage
        self.stage_elapsed = 0

    def _handshake_send(self, message: messages.ZabMessage) -> None:
        self.handshake_message = message
        self.outbox.send(message)

    def stop(self) -> None:
        for rid in self.forwarded_reads:
            self.outbox.reply(RequestFailed(rid, NotLeader(None)))

    def tick(self) -> None:
        self.silent += 1
        config = self.config
        if self.stage is FollowerStage.BROADCAST:
            if self.silent >= config.sync_ticks:
                self.give_up("follower.leader_silent")
                return
            self._retry_forwarded()
            return
        self.handshake_elapsed += 1
        self.stage_elapsed += 1
        if self.handshake_elapsed >= config.init_ticks:
            self.give_up("follower.sync_timeout")
        elif self.stage_elapsed >= config.handshake_retry_ticks:
            self.stage_elapsed = 0
            if self.handshake_message is not None:
                self.counters["handshake.retries"] += 1
                self.outbox.send(self.handshake_message)

    # ------------------------------------------------------------------
    # The handshake: phases 1 and 2

    def on_new_epoch(self, msg: messages.NewEpoch) -> None:
        if msg.conn != self.conn or self.stage is not FollowerStage.DISCOVERY:
            self.counters["ignored.stale_handshake"] += 1
            return
        node = self.node
        if msg.epoch < node.accepted_epoch:
            # A leader of an older epoch than one we promised (ZooKeeper gives up too).
            self.give_up("follower.epoch_behind")
            return
        if msg.epoch > node.accepted_epoch:
            node.accepted_epoch = msg.epoch
            self.outbox.set_metadata(ACCEPTED_EPOCH_KEY, msg.epoch)
            node.acked_epoch_to = (msg.src, msg.epoch)
        fresh = node.acked_epoch_to == (msg.src, msg.epoch)
        self._enter_stage(FollowerStage.SYNC)
        self._handshake_send(
            messages.AckEpoch(
                self.me,
                msg.src,
                msg.epoch,
                self.conn,
                node.current_epoch,
                node.history.last_zxid,
                node.commit,
                fresh,
            )
        )

    def on_new_leader(self, msg: messages.NewLeader) -> None:
        node = self.node
        sync = msg.sync
        if (
            isinstance(sync, messages.Snap)
            and msg.conn == self.conn
            and self.stage is FollowerStage.SYNC
            and sync.meta.index >= node.commit
            and not node.holds_snapshot(sync.meta)
        ):
            # The snapshot's bytes come first, in chunks; the sync is adopted
            # once they are installed (``snapshot_ready``).
            self.pending_snap = (msg, sync.meta)
            self.request_snapshot()
            return
        if (
            msg.conn != self.conn
            or self.stage is not FollowerStage.SYNC
            or msg.epoch != node.accepted_epoch
        ):
            self.counters["ignored.stale_handshake"] += 1
            return
        problem = self._adopt(msg.sync)
        if problem is not None:
            self.counters["dropped." + problem] += 1
            self.connect()
            return
        # Phase 2: the new history and the new current epoch, in one durable write.
        node.current_epoch = msg.epoch
        self.outbox.set_metadata(CURRENT_EPOCH_KEY, msg.epoch)
        node.forwarded.learn_origins(msg.origins)
        node.forwarded.abandon(msg.src, msg.epoch)
        self._learn_commit(msg.commit)
        self.silent = 0
        self._enter_stage(FollowerStage.SYNCED)
        self._handshake_send(
            messages.AckNewLeader(self.me, msg.src, msg.epoch, self.conn, node.history.last_index)
        )

    def request_snapshot(self) -> None:
        """Ask the leader for the pending SNAP's snapshot from what is staged."""
        pending = self.pending_snap
        if pending is None:
            return
        msg, meta = pending
        offset = self.node.receiver.position(meta)
        self._handshake_send(
            messages.SnapAck(self.me, self.leader, msg.epoch, self.conn, meta, offset)
        )

    def on_snap_chunk(self, msg: messages.SnapChunk) -> None:
        pending = self.pending_snap
        if (
            msg.conn != self.conn
            or self.stage is not FollowerStage.SYNC
            or pending is None
            or (pending[0].epoch, pending[1]) != (msg.epoch, msg.meta)
        ):
            self.counters["ignored.stale_handshake"] += 1
            return
        receiver = self.node.receiver
        before = receiver.position(msg.meta)
        ack = receiver.take(msg.meta, msg.offset, msg.data, self.outbox)
        if ack > before:  # a transfer that moves is a handshake that progresses
            self.handshake_elapsed = self.stage_elapsed = 0
        self._handshake_send(
            messages.SnapAck(self.me, msg.src, msg.epoch, self.conn, msg.meta, ack)
        )

    def snapshot_ready(self, meta: SnapshotMeta) -> None:
        """The pending SNAP's snapshot is installed: adopt the sync now."""
        pending = self.pending_snap
        if pending is not None and pending[1] == meta:
            self.pending_snap = None
            self.on_new_leader(pending[0])

    def _adopt(self, sync: messages.Sync) -> str | None:
        """Apply the leader's DIFF, TRUNC or SNAP; the reason it is refused, if it is.
        Nothing changes unless the sync is accepted."""
        node = self.node
        history = node.history
        entries = sync.entries
        if isinstance(sync, messages.Diff):
            keep, keep_epoch = history.last_index, history.last_epoch
        elif isinstance(sync, messages.Trunc):
            keep = sync.index
            # Committed transactions are never undone: such a sync is not for us.
            if not node.commit <= keep <= history.last_index:
                return "bad_sync"
            keep_epoch = history.epoch_at(keep) or 0
        else:
            keep, keep_epoch = sync.meta.index, sync.meta.term
            if keep < node.commit:
                return "bad_sync"
        if entries and (entries[0].index != keep + 1 or entries[0].term < keep_epoch):
            return "bad_sync"
        if isinstance(sync, messages.Diff):
            self.counters["sync.diff"] += 1
        elif isinstance(sync, messages.Trunc):
            if keep < history.last_index:
                node.truncate_after(keep)
            self.counters["sync.trunc"] += 1
        else:
            node.install_snapshot(sync.meta)
            self.counters["sync.snap"] += 1
        if entries:
            history.append(entries)
            self.outbox.put(entries)
        return None

    def on_up_to_date(self, msg: messages.UpToDate) -> None:
        if (
            msg.conn != self.conn
            or self.stage is not FollowerStage.SYNCED
            or msg.epoch != self.node.current_epoch
        ):
            self.counters["ignored.stale_handshake"] += 1
            return
        self.silent = 0
        self.handshake_message = None
        self._enter_stage(FollowerStage.BROADCAST)
        self._learn_commit(msg.commit)
        self.counters["follower.up_to_date"] += 1
        # The leader may have missed our forwarded requests while we were away.
        self.node.forwarded.resend_all(self._forward)

    # ------------------------------------------------------------------
    # Phase 3: the leader's proposals, commits and pings

    def _synced_with(self, msg: messages.Proposal | messages.Commit | messages.ReadReply) -> bool:
        """Whether we adopted the history of the leader that sent ``msg``."""
        if msg.epoch != self.node.current_epoch or self.stage not in _SYNCED_STAGES:
            self.counters["ignored.not_synced"] += 1
            return False
        self.silent = 0
        return True

    def on_proposal(self, msg: messages.Proposal) -> None:
        if not self._synced_with(msg):
            return
        history = self.node.history
        entries = msg.entries
        first = entries[0].index
        last = history.last_index
        if first > last + 1:
            # A proposal went missing: ZooKeeper's TCP stream would have broken.
            # Reconnect and let the leader send a DIFF.
            self.counters["follower.gap"] += 1
            self.connect()
            return
        if first <= last:
            overlap_end = min(entries[-1].index, last)
            if history.epoch_at(overlap_end) != msg.epoch:
                self.counters["dropped.proposal_conflict"] += 1
                self.connect()
                return
            entries = entries[last + 1 - first :]
        if entries:
            history.append(entries)
            self.outbox.put(entries)
        if msg.origins:
            self.node.forwarded.learn_origins(msg.origins)
        self._learn_commit(msg.commit)
        self.outbox.send(messages.Ack(self.me, msg.src, msg.epoch, history.last_index))

    def on_commit(self, msg: messages.Commit) -> None:
        if self._synced_with(msg):
            self._learn_commit(msg.index)

    def on_ping(self, msg: messages.Ping) -> None:
        node = self.node
        if msg.epoch != node.current_epoch or self.stage not in _SYNCED_STAGES:
            return  # the handshake has its own timers
        self.silent = 0
        self._learn_commit(msg.commit)
        self.outbox.send(messages.PingAck(self.me, msg.src, msg.epoch, msg.read_round))
        last = node.history.last_index
        if msg.sent > last and self.stage is FollowerStage.BROADCAST:
            # Proposals the leader sent never reached us (lost, or ignored when
            # they overtook the NEWLEADER). ZooKeeper's TCP stream would have
            # broken: reconnect, and the leader sends a DIFF (or a SNAP).
            node.stalled = node.stalled + 1 if last == node.stalled_at else 1
            node.stalled_at = last
            if node.stalled >= _STALL_LIMIT:
                self.counters["follower.stalled"] += 1
                self.connect()
        else:
            node.stalled = 0

    def _learn_commit(self, commit: int) -> None:
        # Our history up to its end is a prefix of the leader's.
        node = self.node
        if commit > node.commit:
            node.commit = max(node.commit, min(commit, node.history.last_index))

    # ------------------------------------------------------------------
    # Clients' requests, forwarded to the leader

    def forward_proposal(self, rid: RequestId, data: bytes) -> None:
        """Send a client's proposal to the leader, which tells where it placed it."""
        node = self.node
        node.forwarded.add(rid, data, (self.leader, node.current_epoch))
        self._forward(rid, data)

    def _forward(self, rid: RequestId, data: bytes) -> None:
        node = self.node
        floor = node.forwarded.floor(rid)
        self.outbox.send(
            messages.Request(
                self.me, self.leader, node.current_epoch, node.session, rid, data, floor
            )
        )

    def forward_read(self, rid: RequestId) -> None:
        """Ask the leader for a read point on behalf of a client."""
        self.forwarded_reads[rid] = self.node.ticks
        self.outbox.send(messages.ReadRequest(self.me, self.leader, self.node.current_epoch, rid))

    def on_read_reply(self, msg: messages.ReadReply) -> None:
        if not self._synced_with(msg):
            return
        if self.forwarded_reads.pop(msg.request_id, None) is not None:
            self.outbox.reply(ReadReady(msg.request_id, msg.index))

    def _retry_forwarded(self) -> None:
        """Re-send forwarded requests the leader has not answered (it may have
        lost them); the leader recognises duplicates."""
        node = self.node
        limit = node.ticks - self.config.forward_retry_ticks
        for rid, data in node.forwarded.due(limit):
            self.counters["forward.retries"] += 1
            self._forward(rid, data)
        for rid, sent in list(self.forwarded_reads.items()):
            if sent <= limit:
                self.forwarded_reads[rid] = node.ticks
                self.counters["forward.retries"] += 1
                self.outbox.send(
                    messages.ReadRequest(self.me, self.leader, node.current_epoch, rid)
                )


FOLLOWER_HANDLERS: dict[type, Callable[[Following, Any], None]] = {
    messages.NewEpoch: Following.on_new_epoch,
    messages.NewLeader: Following.on_new_leader,
    messages.UpToDate: Following.on_up_to_date,
    messages.Proposal: Following.on_proposal,
    messages.Commit: Following.on_commit,
    messages.Ping: Following.on_ping,
    messages.ReadReply: Following.on_read_reply,
    messages.SnapChunk: Following.on_snap_chunk,
}
"""The messages a follower takes from its leader (and from no other server)."""
