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

from collections import Counter
from collections.abc import Callable, Sequence
from random import Random
from typing import Any, ClassVar

from pyconsensus.core.errors import NotLeader, ProposalTooLarge
from pyconsensus.core.fates import ProposalFates
from pyconsensus.core.membership import cluster_membership
from pyconsensus.core.outbox import Outbox
from pyconsensus.core.reads import ReadIndexQueue
from pyconsensus.core.ready import Ready, RequestFailed, Write
from pyconsensus.core.screening import screen
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.storage import Storage
from pyconsensus.core.transfer import SnapshotReceiver, SnapshotSender
from pyconsensus.core.types import Entry, NodeId, RequestId, Role, Status
from pyconsensus.zab.config import ZabConfig
from pyconsensus.zab.election import Election
from pyconsensus.zab.following import FOLLOWER_HANDLERS, FollowerStage, Following
from pyconsensus.zab.forwarding import Forwarded
from pyconsensus.zab.leading import LEADER_HANDLERS, LeaderPhase, Leading
from pyconsensus.zab.looking import Looking
from pyconsensus.zab.messages import FollowerInfo, Notification, PeerState, Vote, ZabMessage
from pyconsensus.zab.recovery import load_epochs, load_history
from pyconsensus.zab.validation import CHECKS


class ZabNode:
    """One ZAB server.

    ``members`` lists every voter, this node included. ``storage`` is read once,
    here, to recover the durable state; afterwards every change to it comes out
    of ``ready()`` as a ``Write`` for the driver to persist.

    Proposals and reads may be submitted to any server: a follower of an
    established leader forwards them and answers its own client when the
    leader's answer comes back; a server without one answers ``NotLeader``.

    The server is in one role at a time - ``Looking``, ``Following`` or
    ``Leading`` (``role``) - and the role object holds what only that role needs.
    """

    leading_class: ClassVar[type[Leading]] = Leading
    """The role object of a leader (broken variants in tests replace it)."""

    def __init__(
        self,
        node_id: NodeId,
        members: Sequence[NodeId],
        storage: Storage,
        rng: Random,
        config: ZabConfig | None = None,
    ) -> None:
        self.membership = cluster_membership(node_id, members)
        self._id = node_id
        self.members = self.membership.ordered()
        self.peers = self.membership.peers_of(node_id)
        self._peer_set = frozenset(self.peers)
        self.quorum = self.membership.quorum()
        self.config = config if config is not None else ZabConfig()
        self.rng = rng
        self.counters: Counter[str] = Counter()
        self.outbox = Outbox()

        # Durable state, recovered from storage.
        self.accepted_epoch, self.current_epoch = load_epochs(storage)
        self._snapshot = storage.snapshot()
        self.history = load_history(storage, self._snapshot, self.current_epoch)
        self.commit = self.applied = self.history.base_index
        if self._snapshot is not None:
            self.outbox.restore(self._snapshot)
        # How far our history is known to be durable (pipelined writes: the
        # established leader counts its own acknowledgement only up to here).
        self.durable = self.history.last_index
        self._pipelined = self.config.pipelined_writes

        # Names this incarnation in forwarded requests (their ids restart with it).
        self.session = rng.getrandbits(62)
        self._next_request = 1
        # Proposals made or forwarded here whose place in the history is known
        # (index -> (request id, epoch)), and those whose entry left our history.
        self.fates = ProposalFates()
        self.forwarded = Forwarded(self)
        self.ticks = 0

        # What outlives a role: the leader and epoch we raised our accepted
        # epoch for (an ACKEPOCH to them counts as fresh), the leader's queue of
        # reads (its rounds are numbered across leaderships; ``Leading`` drains
        # it when it ends), and the count of PINGs in a row that
        # showed us missing proposals, at which last index (``Following``
        # keeps counting it under a new leader, as ZAB here always has).
        self.acked_epoch_to: tuple[NodeId, int] | None = None
        self.reads: ReadIndexQueue[tuple[NodeId | None, RequestId]] = ReadIndexQueue()
        self.stalled = 0
        self.stalled_at = 0
        self.sender = SnapshotSender(storage.snapshots, self.config.transfer, self.counters)
        self.receiver = SnapshotReceiver(storage.snapshots, self.counters)

        self.election = Election(node_id, self.quorum, self.own_vote())
        self.role: Looking | Following | Leading  # see _start_looking
        self._start_looking()

    # ------------------------------------------------------------------
    # The contract

    @property
    def id(self) -> NodeId:
        return self._id

    @property
    def state(self) -> PeerState:
        """LOOKING, FOLLOWING or LEADING."""
        return self.role.state

    @property
    def leader(self) -> NodeId | None:
        """The leader we follow, ourselves once established, or ``None``."""
        role = self.role
        if isinstance(role, Following):
            return role.leader
        if isinstance(role, Leading) and role.established:
            return self._id
        return None

    @property
    def established(self) -> bool:
        """Whether this server leads and a quorum acknowledged its NEWLEADER."""
        role = self.role
        return isinstance(role, Leading) and role.phase is LeaderPhase.BROADCAST

    @property
    def stage(self) -> FollowerStage | None:
        """Where a FOLLOWING server is in its handshake (``None`` otherwise)."""
        role = self.role
        return role.stage if isinstance(role, Following) else None

    @property
    def phase(self) -> LeaderPhase | None:
        """Where a LEADING server is (``None`` otherwise)."""
        role = self.role
        return role.phase if isinstance(role, Leading) else None

    @property
    def initial_last(self) -> int:
        """The last index of a leader's initial history (0 if not leading)."""
        role = self.role
        return role.initial_last if isinstance(role, Leading) else 0

    def tick(self) -> None:
        self.ticks += 1
        self.role.tick()

    def receive(self, message: object) -> None:
        handler = screen(message, _HANDLERS, self._check, self.counters)
        if handler is not None:
            handler(self, message)

    def propose(self, data: bytes) -> RequestId:
        if not isinstance(data, bytes):
            raise TypeError(f"a proposal must be bytes, not {type(data).__name__}")
        rid = self._new_request()
        role = self.role
        if len(data) > self.config.max_entry_bytes:
            error = ProposalTooLarge(len(data), self.config.max_entry_bytes)
            self.outbox.reply(RequestFailed(rid, error))
        elif isinstance(role, Leading) and role.established:  # the hot path
            self.fates.placed(role.append(data), self.current_epoch, rid)
        elif isinstance(role, Following) and role.serving:
            role.forward_proposal(rid, data)
        else:
            self.outbox.reply(RequestFailed(rid, NotLeader(self._leader_hint())))
        return rid

    def read(self) -> RequestId:
        """A linearizable read point. The leader confirms with a quorum round that
        it still leads (like Raft's ReadIndex); a follower forwards the request to
        its leader and passes the answer on; other servers answer ``NotLeader``."""
        rid = self._new_request()
        role = self.role
        if isinstance(role, Leading) and role.established:
            role.start_read(rid, None)
        elif isinstance(role, Following) and role.serving:
            role.forward_read(rid)
        else:
            self.outbox.reply(RequestFailed(rid, NotLeader(self._leader_hint())))
        return rid

    def compact(self, index: int, meta: SnapshotMeta) -> None:
        if not self.history.snapshot_to(index, self.applied, meta):
            return
        self._snapshot = meta
        self.outbox.snapshot(meta, discard_log=False, restore=False)
        self.counters["snapshots.taken"] += 1

    def snapshot_installed(self, meta: SnapshotMeta) -> None:
        """The driver installed the SNAP's snapshot ``meta`` and restored the
        state machine from it (``SnapshotEvents``); the NEWLEADER that asked for
        it is adopted now, if it is still the one we answer."""
        if not self.receiver.finished(meta):
            return
        self._hold_snapshot(meta)
        self.counters["snapshots.installed"] += 1
        role = self.role
        if isinstance(role, Following):
            role.snapshot_ready(meta)

    def snapshot_rejected(self, meta: SnapshotMeta, reason: str) -> None:
        """The driver could not install ``meta``: ask the leader for it again."""
        if not self.receiver.finished(meta):
            return
        self.counters["snapshots.rejected"] += 1
        role = self.role
        if isinstance(role, Following):
            role.request_snapshot()

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
            role = self.role
            if isinstance(role, Leading) and role.established:
                role.maybe_commit()

    def has_ready(self) -> bool:
        role = self.role
        return (
            self.outbox.has_output()
            or (self.commit > self.applied and self.receiver.installing is None)
            or (isinstance(role, Leading) and role.has_output())
        )

    def ready(self) -> Ready:
        role = self.role
        if isinstance(role, Leading):
            role.flush()
        committed: Sequence[Entry] = ()
        # While a received snapshot is being installed, nothing below it may be applied.
        if self.commit > self.applied and self.receiver.installing is None:
            committed = self.history.slice(self.applied + 1, self.commit + 1)
            self.applied = self.commit
            if self.fates:
                self.fates.resolve(committed, self.commit, self.history.epoch_at, self.outbox.reply)
        return self.outbox.take(committed)

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

    def replication(self) -> dict[NodeId, int]:
        """While established as leader, each synchronised follower's highest
        acknowledged index (``ReportsReplication``)."""
        leading = self.role
        if not self.established or not isinstance(leading, Leading):
            return {}
        return {peer: lr.acked for peer, lr in leading.learners.items() if lr.synced}

    @property
    def snapshot(self) -> SnapshotMeta | None:
        """The latest snapshot this node holds."""
        return self._snapshot

    # ------------------------------------------------------------------
    # Changing roles

    def look(self) -> Looking:
        """Leave our role, become LOOKING and start a new election round."""
        self.role.stop()
        return self._start_looking()

    def _start_looking(self) -> Looking:
        looking = Looking(self)
        self.role = looking  # before a decision (alone, we lead at once) replaces it
        self.election.begin(self.own_vote())
        self.counters["elections.rounds"] += 1
        looking.notify_peers()
        looking.check_election()
        return looking

    def follow(self, leader: NodeId) -> None:
        """Become FOLLOWING ``leader`` (the election decided or found it)."""
        self.role = Following(self, leader)

    def lead(self) -> None:
        """Become LEADING: start discovery for a new epoch."""
        leading = self.leading_class(self)
        self.role = leading
        self.counters["elections.leading"] += 1
        leading.advance_discovery()

    # ------------------------------------------------------------------
    # Election notifications

    def own_vote(self) -> Vote:
        return Vote(self.current_epoch, self.history.last_zxid, self._id)

    def notification(self, to: NodeId) -> Notification:
        election = self.election
        return Notification(
            self._id, to, election.round, self.state, election.vote, self.accepted_epoch
        )

    def _on_notification(self, msg: Notification) -> None:
        self.election.heard_of(msg.accepted_epoch)
        role = self.role
        if isinstance(role, Looking):
            role.on_notification(msg)
            return
        if (
            isinstance(role, Following)
            and msg.src == role.leader
            and msg.state is not PeerState.LEADING
        ):
            # Our leader gave up (ZooKeeper learns it from the closed connection).
            self.counters["follower.leader_gone"] += 1
            self.look().on_notification(msg)
            return
        if msg.state is PeerState.LOOKING:
            # Tell a LOOKING server whom we follow or that we lead, so it can join.
            self.outbox.send(self.notification(msg.src))

    def _on_follower_info(self, msg: FollowerInfo) -> None:
        role = self.role
        if isinstance(role, Leading):
            role.on_follower_info(msg)
            return
        # Whoever thinks we lead learns our state and looks elsewhere.
        self.counters["ignored.not_leading"] += 1
        self.outbox.send(self.notification(msg.src))

    # ------------------------------------------------------------------
    # Incoming messages

    def _check(self, msg: ZabMessage) -> str | None:
        if msg.dst != self._id:
            return "wrong_destination"
        if msg.src not in self._peer_set:
            return "unknown_sender"
        return CHECKS[type(msg)](msg)

    # ------------------------------------------------------------------
    # Helpers of the roles

    def _leader_hint(self) -> NodeId | None:
        role = self.role
        return role.leader if isinstance(role, Following) else None

    def _new_request(self) -> RequestId:
        rid = self._next_request
        self._next_request += 1
        return rid

    def truncate_after(self, index: int) -> None:
        """Drop our history after ``index`` (TRUNC, or a SNAP replacing it)."""
        self.fates.displace_from(index + 1)
        self.history.truncate_after(index)
        self.outbox.truncate(index + 1)
        self.durable = min(self.durable, index)

    def install_snapshot(self, snapshot: SnapshotMeta) -> None:
        """Replace our whole history by ``snapshot`` (SNAP), which the state
        machine already holds (``snapshot_installed``)."""
        self.truncate_after(self.history.base_index)
        self.fates.unknown_through(snapshot.index, self.outbox.reply)
        self.history.reset(snapshot.index, snapshot.term)
        self.durable = min(self.durable, snapshot.index)
        self.commit = self.applied = snapshot.index
        self._snapshot = snapshot
        self.outbox.snapshot(snapshot, discard_log=True, restore=False)

    def holds_snapshot(self, meta: SnapshotMeta) -> bool:
        """Whether ``meta`` is our snapshot and the state machine is at it."""
        return self._snapshot == meta and self.applied == meta.index

    def _hold_snapshot(self, meta: SnapshotMeta) -> None:
        """The state machine now holds ``meta``: make it our snapshot, keeping
        the transactions after it that may still extend it. Those of an epoch
        below the snapshot's cannot (epochs never go down along a history), so
        they go; the rest stay - one of them may be committed, and only a SNAP
        adopted from a leader (``install_snapshot``) may replace them."""
        history = self.history
        index = meta.index
        last_ok = index
        while last_ok < history.last_index and (history.epoch_at(last_ok + 1) or 0) >= meta.term:
            last_ok += 1
        if last_ok < history.last_index:
            self.truncate_after(max(last_ok, history.base_index))
        self.fates.unknown_through(index, self.outbox.reply)
        if history.epoch_at(index) == meta.term and index <= history.last_index:
            history.compact_to(index, meta.term)
            discard = False
        else:
            keep = history.slice(index + 1, history.last_index + 1)
            history.reset(index, meta.term)
            history.append(keep)
            discard = not keep
        self.durable = min(self.durable, history.last_index)
        self.commit = max(self.commit, index)
        self.applied = index
        self._snapshot = meta
        self.outbox.snapshot(meta, discard_log=discard, restore=False)


_Handler = Callable[[ZabNode, Any], None]


def _to_leader(handle: Callable[[Leading, Any], None], ignored: str) -> _Handler:
    """A message for the leader: ``handle`` it if we lead, else count it ``ignored``."""

    def route(node: ZabNode, msg: Any) -> None:
        role = node.role
        if isinstance(role, Leading):
            handle(role, msg)
        else:
            node.counters[ignored] += 1

    return route


def _to_follower(handle: Callable[[Following, Any], None]) -> _Handler:
    """A message from a leader: ``handle`` it if we follow its sender."""

    def route(node: ZabNode, msg: Any) -> None:
        role = node.role
        if isinstance(role, Following) and msg.src == role.leader:
            handle(role, msg)
        else:
            node.counters["ignored.not_from_leader"] += 1

    return route


_HANDLERS: dict[type, _Handler] = {
    Notification: ZabNode._on_notification,
    FollowerInfo: ZabNode._on_follower_info,
    **{kind: _to_follower(handle) for kind, handle in FOLLOWER_HANDLERS.items()},
    **{kind: _to_leader(handle, ignored) for kind, (handle, ignored) in LEADER_HANDLERS.items()},
}
