"""``BroadcastNode``: what best-effort, eager and lazy reliable broadcast share.

A member is driven like every other core (``tick``, ``receive``, ``propose``,
``ready``). This base class does the common work:

- **Ids.** ``propose(data)`` broadcasts ``data`` under ``MessageId(self, seq)``;
  the sequence number is durable (it goes out in the Ready's write before any
  copy of the message leaves), so ids are never reused across restarts.
- **Delivery.** A member delivers each id at most once, as an ``Entry`` in
  ``Ready.committed``: ``index`` counts this incarnation's deliveries (1, 2,
  3...), ``term`` is the packed id (``MessageId.of(entry)``), ``data`` the
  payload. The origin delivers its own broadcast at once and answers the
  request with ``ProposalCommitted(request_id, index)``.
- **Links.** With ``retransmit_ticks > 0`` every copy sent is re-sent with
  back-off until its receiver acknowledges it, which makes fair-lossy links
  reliable: a message reaches every member that stays up, whatever the
  network loses in between, as long as the sender stays up too.

Subclasses decide who relays what (``_on_broadcast``, ``_on_first_delivery``).

Crash model: crash-stop, with restarts as new processes. A restarted member
is a new *incarnation* (counted in storage): it keeps its sequence numbers
but forgets what it delivered and what it was sending, and delivers whatever
reaches it from then on. Only members that never crash are "correct" in the
guarantees the subclasses give.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from random import Random
from typing import Any, Final

import attrs

from pyconsensus.broadcast.config import BroadcastConfig
from pyconsensus.broadcast.errors import ReadUnsupported
from pyconsensus.broadcast.ids import MAX_ORIGIN, MessageId, SequenceSet
from pyconsensus.broadcast.messages import Ack, Data, Heartbeat
from pyconsensus.core.errors import ProposalTooLarge, StorageCorruption
from pyconsensus.core.membership import cluster_membership
from pyconsensus.core.outbox import Outbox
from pyconsensus.core.ready import ProposalCommitted, Ready, RequestFailed
from pyconsensus.core.screening import screen
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import Entry, MetaValue, NodeId, RequestId, Role, Status

INCARNATION_KEY: Final = "broadcast.incarnation"
SEQ_KEY: Final = "broadcast.seq"


@attrs.define(slots=True)
class Outgoing:
    """A message being sent reliably: who has yet to acknowledge it, and when
    to send it to them again."""

    origin: NodeId
    seq: int
    incarnation: int
    data: bytes
    waiting: set[NodeId]
    due: int
    interval: int


class BroadcastNode:
    """One member of a broadcast group (``members`` includes this node).

    ``storage`` is read once, here, for the incarnation and sequence counters;
    every change to them comes out of ``ready()`` as a ``Write``.
    """

    def __init__(
        self,
        node_id: NodeId,
        members: Sequence[NodeId],
        storage: Storage,
        rng: Random,
        config: BroadcastConfig | None = None,
    ) -> None:
        self.membership = cluster_membership(node_id, members, max_id=MAX_ORIGIN)
        self.members = self.membership.ordered()
        self._id = node_id
        self.peers = self.membership.peers_of(node_id)
        self._peer_set = frozenset(self.peers)
        self._member_set = frozenset(self.members)
        self.config = config if config is not None else BroadcastConfig()
        self._rng = rng
        self.counters: Counter[str] = Counter()
        self._outbox = Outbox()

        meta = storage.metadata()
        self.incarnation = load_counter(meta, INCARNATION_KEY) + 1
        self.seq = load_counter(meta, SEQ_KEY)
        # The new incarnation is durable before this member says anything.
        self._outbox.set_metadata(INCARNATION_KEY, self.incarnation)

        self._now = 0  # ticks since start
        self._seen: dict[NodeId, SequenceSet] = {m: SequenceSet() for m in self.members}
        self.delivered = 0
        self._committed: list[Entry] = []
        self.unacked: dict[MessageId, Outgoing] = {}
        self._next_request = 1
        self._on_start()

    # ------------------------------------------------------------------
    # The contract

    @property
    def id(self) -> NodeId:
        return self._id

    def tick(self) -> None:
        self._now += 1
        if self.unacked:
            self._retransmit()
        self._on_tick()

    def receive(self, message: object) -> None:
        handler = screen(message, _HANDLERS, self._validate, self.counters)
        if handler is not None:
            getattr(self, handler)(message)

    def propose(self, data: bytes) -> RequestId:
        """Broadcast ``data``; it is delivered here at once and the request is
        answered then, with the local delivery index."""
        if not isinstance(data, bytes):
            raise TypeError(f"a broadcast must be bytes, not {type(data).__name__}")
        rid = self._next_request
        self._next_request += 1
        if len(data) > self.config.max_payload_bytes:
            error = ProposalTooLarge(len(data), self.config.max_payload_bytes)
            self._outbox.reply(RequestFailed(rid, error))
            return rid
        self.seq += 1
        self._outbox.set_metadata(SEQ_KEY, self.seq)
        self._seen[self._id].add(self.seq)
        index = self._deliver(MessageId(self._id, self.seq), data)
        self._outbox.reply(ProposalCommitted(rid, index))
        self._on_broadcast(Data(self._id, self._id, self._id, self.seq, self.incarnation, data))
        return rid

    def read(self) -> RequestId:
        """Refused with ``ReadUnsupported``: there is no common order to read at."""
        rid = self._next_request
        self._next_request += 1
        self._outbox.reply(RequestFailed(rid, ReadUnsupported()))
        return rid

    def compact(self, index: int, meta: SnapshotMeta) -> None:
        """Nothing to do: delivered messages are not kept for the application."""
        if index > self.delivered:
            raise ValueError(f"cannot compact to index {index}: only {self.delivered} delivered")

    def snapshot_installed(self, meta: SnapshotMeta) -> None:
        """Never asked for: these broadcasts transfer no snapshots."""

    def snapshot_rejected(self, meta: SnapshotMeta, reason: str) -> None:
        """Never asked for: these broadcasts transfer no snapshots."""

    def has_ready(self) -> bool:
        return self._outbox.has_output() or bool(self._committed)

    def ready(self) -> Ready:
        committed, self._committed = self._committed, []
        return self._outbox.take(committed)

    def status(self) -> Status:
        """Broadcast members have no leader; ``term`` is the incarnation and the
        indices count this incarnation's deliveries."""
        return Status(
            id=self._id,
            role=Role.FOLLOWER,
            term=self.incarnation,
            leader=None,
            commit_index=self.delivered,
            applied_index=self.delivered,
            last_index=self.delivered,
        )

    @property
    def idle(self) -> bool:
        """Whether every message sent has been acknowledged by every receiver."""
        return not self.unacked

    # ------------------------------------------------------------------
    # Hooks for the variants

    def _on_start(self) -> None:
        """The end of the constructor: the variant sets up its own state (the
        member's identity, configuration and recovered counters are in place)."""

    def _on_broadcast(self, message: Data) -> None:
        """This member broadcasts ``message`` (``src``/``dst`` are placeholders)."""
        self._send_reliably(message, self.peers)

    def _on_first_delivery(self, message: Data) -> None:
        """``message`` was just delivered here for the first time."""

    def _on_tick(self) -> None:
        """Periodic work of the variant."""

    def _on_heartbeat(self, message: Heartbeat) -> None:
        self.counters["ignored.heartbeat"] += 1

    def _on_acknowledged(self, mid: MessageId) -> None:
        """Every receiver of ``mid`` from this member acknowledged it."""

    def _learn_incarnation(self, origin: NodeId, incarnation: int) -> None:
        """A message showed that ``origin`` reached ``incarnation``."""

    # ------------------------------------------------------------------
    # Sending and delivering

    def _send_reliably(self, message: Data, targets: Sequence[NodeId]) -> None:
        """Send ``message`` to ``targets``, re-sending until each acknowledges it."""
        if not targets:
            return
        origin, seq, incarnation, data = (
            message.origin,
            message.seq,
            message.incarnation,
            message.data,
        )
        send = self._outbox.send
        for target in targets:
            send(Data(self._id, target, origin, seq, incarnation, data))
        self.counters["sent.data"] += len(targets)
        interval = self.config.retransmit_ticks
        if not interval:
            return
        mid = MessageId(origin, seq)
        outgoing = self.unacked.get(mid)
        if outgoing is None:
            self.unacked[mid] = Outgoing(
                origin, seq, incarnation, data, set(targets), self._now + interval, interval
            )
        else:
            outgoing.waiting.update(targets)

    def _retransmit(self) -> None:
        now = self._now
        ceiling = self.config.max_retransmit_ticks
        send = self._outbox.send
        for out in self.unacked.values():
            if out.due > now:
                continue
            for target in sorted(out.waiting):
                send(Data(self._id, target, out.origin, out.seq, out.incarnation, out.data))
            self.counters["sent.retransmitted"] += len(out.waiting)
            out.interval = min(out.interval * 2, ceiling)
            out.due = now + out.interval

    def _deliver(self, mid: MessageId, data: bytes) -> int:
        self.delivered += 1
        self._committed.append(Entry(self.delivered, mid.packed, data))
        return self.delivered

    # ------------------------------------------------------------------
    # Incoming messages

    def _validate(self, msg: Any) -> str | None:
        """Reject what no correct member sends; the reason names a counter."""
        if msg.dst != self._id:
            return "wrong_destination"
        if msg.src not in self._peer_set:
            return "unknown_sender"
        if isinstance(msg, Heartbeat):
            if not _is_positive(msg.incarnation):
                return "bad_incarnation"
            if type(msg.stable) is not int or msg.stable < 0:
                return "bad_sequence"
            return None
        if msg.origin not in self._member_set:
            return "unknown_origin"
        if not _is_positive(msg.seq):
            return "bad_sequence"
        if isinstance(msg, Data):
            if msg.origin == self._id:
                return "own_message"  # nobody relays a message back to its origin
            if not _is_positive(msg.incarnation):
                return "bad_incarnation"
            if type(msg.data) is not bytes:
                return "malformed"
            if len(msg.data) > self.config.max_payload_bytes:
                return "too_large"
        return None

    def _on_data(self, msg: Data) -> None:
        if self.config.retransmit_ticks:
            self._outbox.send(Ack(self._id, msg.src, msg.origin, msg.seq))
        self._learn_incarnation(msg.origin, msg.incarnation)
        if not self._seen[msg.origin].add(msg.seq):
            self.counters["ignored.duplicate"] += 1
            return
        self._deliver(MessageId(msg.origin, msg.seq), msg.data)
        self._on_first_delivery(msg)

    def _on_ack(self, msg: Ack) -> None:
        mid = MessageId(msg.origin, msg.seq)
        outgoing = self.unacked.get(mid)
        if outgoing is None or msg.src not in outgoing.waiting:
            self.counters["ignored.stale_ack"] += 1
            return
        outgoing.waiting.discard(msg.src)
        if not outgoing.waiting:
            del self.unacked[mid]
            self._on_acknowledged(mid)


_HANDLERS: dict[type, str] = {Data: "_on_data", Ack: "_on_ack", Heartbeat: "_on_heartbeat"}
"""Handler method by message type (looked up on the instance, so variants may override)."""


def _is_positive(value: object) -> bool:
    return type(value) is int and value >= 1


def load_counter(meta: Mapping[str, MetaValue], key: str) -> int:
    """A non-negative counter from storage metadata (0 if absent)."""
    value = meta.get(key, 0)
    if type(value) is not int or value < 0:
        raise StorageCorruption(f"stored {key} is {value!r}, not a non-negative integer")
    return value
