"""``AtomicBroadcast``: total-order broadcast on top of any consensus core.

Atomic broadcast is reliable broadcast plus **total order**: every member
delivers the same messages in the same order. It is equivalent to consensus,
so the facade borrows a consensus core (Raft, ZAB or Multi-Paxos) and gives
it the delivery interface of the other primitives; an application switches
protocols by changing one argument::

    node = AtomicBroadcast(1, [1, 2, 3], storage, rng, protocol="raft")  # or "zab", "paxos"

What the facade adds to the core:

- **Broadcast from any member.** ``propose(data)`` works on every member, not
  just the leader: the broadcast ``(self, seq)`` is proposed to the local core
  if it leads, else forwarded to the leader it knows (``Forward``), and handed
  over again every ``forward_retry_ticks`` until it is delivered here. The
  request is answered when this member delivers it.
- **Message ids.** Each payload travels in the log with a 13-byte header
  naming its id; at delivery the header is removed and the id packed into
  ``Entry.term`` (``MessageId.of(entry)``), as for the other primitives.
- **No duplicates.** A broadcast handed over twice (after a leader change, say)
  may be ordered twice; the second copy is delivered as a ``NOOP`` entry. The
  set of delivered ids is part of the replicated state: it is stored inside
  every snapshot (wrapped around the application's snapshot data), so a member
  that installs a snapshot suppresses exactly what the others suppressed.

``Entry.index`` is the position in the total order - the core's log index,
identical on every member - and counts the core's bookkeeping entries too
(``NOOP``/``CONFIG`` kinds, which carry no broadcast). Reads (``read()``) and
compaction (``compact()``) work as with the core itself.

Guarantees are the core's: they hold across crashes and restarts of any
minority of members, and agreement is uniform (whatever any member delivers,
every member that is up long enough delivers, at the same position). The
sequence counter is durable (``abcast.seq`` in the core's storage), so ids are
never reused; broadcasts not yet delivered when their origin crashes are
either delivered everywhere or nowhere, without a reply.

Cost: that of one consensus decision per broadcast (Raft, failure-free:
2(N - 1) messages from the leader, plus one ``Forward`` when the origin is
not the leader), batched by the core under load.
"""

from __future__ import annotations

import importlib
import struct
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from random import Random
from typing import Final

import attrs

from pyconsensus.broadcast.config import AtomicBroadcastConfig
from pyconsensus.broadcast.ids import MAX_ORIGIN, MessageId, SequenceSet
from pyconsensus.broadcast.messages import Forward
from pyconsensus.broadcast.node import load_counter
from pyconsensus.core.errors import (
    ConfigError,
    OutcomeUnknown,
    ProposalTooLarge,
    StorageCorruption,
)
from pyconsensus.core.membership import cluster_membership
from pyconsensus.core.node import ConsensusNode, NodeFactory
from pyconsensus.core.outbox import Outbox
from pyconsensus.core.ready import (
    ProposalCommitted,
    ReadReady,
    Ready,
    Reply,
    RequestFailed,
    Write,
)
from pyconsensus.core.snapshots import BytesReader, SnapshotMeta, SnapshotReader, chunks
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import Entry, EntryKind, NodeId, RequestId, Role, Status

SEQ_KEY: Final = "abcast.seq"

PROTOCOLS: Final[Mapping[str, tuple[str, str]]] = {
    "raft": ("pyconsensus.raft", "RaftNode"),
    "zab": ("pyconsensus.zab", "ZabNode"),
    "paxos": ("pyconsensus.paxos", "MultiPaxosNode"),
}
"""Consensus cores by name: (module, class). Imported on first use."""

_HEADER = struct.Struct(">BIQ")  # magic, origin, seq
_HEADER_MAGIC = 0xAB
_SNAPSHOT_MAGIC = b"pcab1"
_U32 = struct.Struct(">I")
_INTERVAL = struct.Struct(">QQ")
_COPY_CHUNK: Final = 1 << 20


def core_factory(protocol: str | NodeFactory, core_config: object = None) -> NodeFactory:
    """A ``NodeFactory`` for ``protocol``: a name from ``PROTOCOLS`` (its class
    is imported now and built with ``core_config``) or a factory, returned as is."""
    if not isinstance(protocol, str):
        if core_config is not None:
            raise ConfigError("core_config applies only to a protocol given by name")
        return protocol
    location = PROTOCOLS.get(protocol)
    if location is None:
        raise ConfigError(f"unknown protocol {protocol!r}; known: {', '.join(sorted(PROTOCOLS))}")
    module_name, class_name = location
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise ConfigError(f"protocol {protocol!r} is not available yet") from exc
        raise
    node_class = getattr(module, class_name, None)
    if node_class is None:
        raise ConfigError(f"protocol {protocol!r} is not available yet ({class_name} missing)")

    def factory(
        node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random
    ) -> ConsensusNode:
        node: ConsensusNode = node_class(node_id, members, storage, rng, core_config)
        return node

    return factory


@attrs.define(slots=True)
class _Own:
    """A broadcast of this member not yet delivered here."""

    request_id: RequestId
    data: bytes
    age: int = 0  # ticks since it was last handed over
    attempts: int = 0


class AtomicBroadcast:
    """Total-order broadcast over a consensus core (see the module docstring).

    ``protocol`` is ``"raft"``, ``"zab"``, ``"paxos"`` or any ``NodeFactory``;
    ``core_config`` is handed to the named protocol's node class.
    """

    def __init__(
        self,
        node_id: NodeId,
        members: Sequence[NodeId],
        storage: Storage,
        rng: Random,
        config: AtomicBroadcastConfig | None = None,
        *,
        protocol: str | NodeFactory = "raft",
        core_config: object = None,
    ) -> None:
        self.membership = cluster_membership(node_id, members, max_id=MAX_ORIGIN)
        self.members = self.membership.ordered()
        self._id = node_id
        self._peer_set = frozenset(self.membership.peers_of(node_id))
        self.config = config if config is not None else AtomicBroadcastConfig()
        self.protocol = protocol if isinstance(protocol, str) else "custom"
        self.seq = load_counter(storage.metadata(), SEQ_KEY)
        self._store = storage.snapshots
        self.core: ConsensusNode = core_factory(protocol, core_config)(
            node_id, members, storage, rng
        )
        self._counters: Counter[str] = Counter()
        self._outbox = Outbox()
        self._seq_dirty = False
        # Delivered ids: now, and as of the last snapshot (plus what came after
        # it), so that a snapshot at any applied index can carry its own set.
        self._seen: dict[NodeId, SequenceSet] = {m: SequenceSet() for m in self.members}
        self._base_seen: dict[NodeId, SequenceSet] = {m: SequenceSet() for m in self.members}
        self._base_index = 0
        self._journal: list[tuple[int, MessageId]] = []
        self._core_terms: dict[int, int] = {}  # delivery index -> core term, since the base
        self._own: dict[int, _Own] = {}  # by seq
        self._in_core: dict[RequestId, MessageId] = {}  # proposals handed to our core
        self._proposed: set[MessageId] = set()
        self._reads: dict[RequestId, RequestId] = {}  # core's read id -> ours
        self._next_request = 1

    # ------------------------------------------------------------------
    # The contract

    @property
    def id(self) -> NodeId:
        return self._id

    @property
    def counters(self) -> Mapping[str, int]:
        """The core's counters and the facade's, together."""
        merged = Counter(self.core.counters)
        merged.update(self._counters)
        return merged

    def tick(self) -> None:
        self.core.tick()
        if self._in_core and self.core.status().role is not Role.LEADER:
            # Whatever we proposed may now be dropped without a word; let
            # retries through again (duplicates are suppressed at delivery).
            self._in_core.clear()
            self._proposed.clear()
        retry = self.config.forward_retry_ticks
        for seq, own in self._own.items():
            own.age += 1
            if own.age >= retry:
                self._hand_over(seq, own)

    def receive(self, message: object) -> None:
        if type(message) is Forward:
            self._on_forward(message)
        else:
            self.core.receive(message)

    def propose(self, data: bytes) -> RequestId:
        """Broadcast ``data`` in total order; answered when delivered here."""
        if not isinstance(data, bytes):
            raise TypeError(f"a broadcast must be bytes, not {type(data).__name__}")
        rid = self._new_request()
        if len(data) > self.config.max_payload_bytes:
            error = ProposalTooLarge(len(data), self.config.max_payload_bytes)
            self._outbox.reply(RequestFailed(rid, error))
            return rid
        self.seq += 1
        self._seq_dirty = True
        own = _Own(rid, data)
        self._own[self.seq] = own
        self._hand_over(self.seq, own)
        return rid

    def read(self) -> RequestId:
        """A linearizable read point, from the core (its index is a delivery index)."""
        rid = self._new_request()
        self._reads[self.core.read()] = rid
        return rid

    def compact(self, index: int, meta: SnapshotMeta) -> None:
        """Snapshot at delivery index ``index``: the application wrote its state
        there as ``meta``; the core's snapshot is the delivered-id set as of
        that index followed by those bytes (copied in chunks)."""
        if index <= self._base_index:
            return
        seen = {m: s.copy() for m, s in self._base_seen.items()}
        for at, mid in self._journal:
            if at > index:
                break
            seen[mid.origin].add(mid.seq)
        term = self._core_terms.get(index, meta.term)
        writer = self._store.create(index, term, meta.membership)
        writer.write(encode_snapshot(seen, b""))
        for chunk in chunks(self._store.open(meta), _COPY_CHUNK):
            writer.write(chunk.data)
        self.core.compact(index, writer.finish())
        self._base_seen, self._base_index = seen, index
        self._core_terms = {i: t for i, t in self._core_terms.items() if i > index}
        self._journal = [item for item in self._journal if item[0] > index]

    def has_ready(self) -> bool:
        return self.core.has_ready() or self._outbox.has_output() or self._seq_dirty

    def ready(self) -> Ready:
        inner = self.core.ready() if self.core.has_ready() else Ready()
        committed = [self._deliver(entry) for entry in inner.committed]
        for reply in inner.replies:
            self._on_core_reply(reply)
        write = inner.write
        if self._seq_dirty:
            self._seq_dirty = False
            if write is None:
                write = Write(metadata={SEQ_KEY: self.seq})
            else:
                write = attrs.evolve(write, metadata={**write.metadata, SEQ_KEY: self.seq})
        own = self._outbox.take()
        messages = [*inner.messages, *own.messages] if own.messages else inner.messages
        return Ready(
            write=write,
            messages=messages,
            restore=inner.restore,
            committed=committed,
            replies=own.replies,
        )

    def status(self) -> Status:
        return self.core.status()

    # ------------------------------------------------------------------
    # Handing broadcasts to the leader

    def _new_request(self) -> RequestId:
        rid = self._next_request
        self._next_request += 1
        return rid

    def _hand_over(self, seq: int, own: _Own) -> None:
        own.age = 0
        own.attempts += 1
        if own.attempts > 1:
            self._counters["forward.retried"] += 1
        status = self.core.status()
        if status.role is Role.LEADER:
            self._propose_to_core(MessageId(self._id, seq), own.data)
        elif status.leader is not None and status.leader != self._id:
            self._outbox.send(Forward(self._id, status.leader, seq, own.data))
            self._counters["forward.sent"] += 1
        else:
            # No leader known (an election is on): look again at the next tick.
            own.age = self.config.forward_retry_ticks - 1
            self._counters["forward.waiting_for_leader"] += 1

    def _propose_to_core(self, mid: MessageId, data: bytes) -> None:
        if mid.seq in self._seen[mid.origin]:
            self._counters["ignored.forward_delivered"] += 1
            return
        if mid in self._proposed:
            self._counters["ignored.forward_in_flight"] += 1
            return
        self._proposed.add(mid)
        self._in_core[self.core.propose(wrap(mid, data))] = mid

    def _on_forward(self, msg: Forward) -> None:
        problem = self._validate_forward(msg)
        if problem is not None:
            self._counters["dropped." + problem] += 1
            return
        if self.core.status().role is not Role.LEADER:
            self._counters["ignored.forward_not_leader"] += 1
            return
        self._propose_to_core(MessageId(msg.src, msg.seq), msg.data)

    def _validate_forward(self, msg: Forward) -> str | None:
        try:
            if msg.dst != self._id:
                return "wrong_destination"
            if msg.src not in self._peer_set:
                return "unknown_sender"
            if type(msg.seq) is not int or msg.seq < 1:
                return "bad_sequence"
            if type(msg.data) is not bytes:
                return "malformed"
            if len(msg.data) > self.config.max_payload_bytes:
                return "too_large"
        except (TypeError, AttributeError, ValueError):
            return "malformed"
        return None

    def _on_core_reply(self, reply: Reply) -> None:
        rid = reply.request_id
        ours = self._reads.pop(rid, None)
        if ours is not None:
            if isinstance(reply, ReadReady):
                self._outbox.reply(ReadReady(ours, reply.index))
            elif isinstance(reply, RequestFailed):
                self._outbox.reply(RequestFailed(ours, reply.error))
            return
        mid = self._in_core.pop(rid, None)
        if mid is None:
            return
        self._proposed.discard(mid)
        own = self._own.get(mid.seq) if mid.origin == self._id else None
        if own is not None and isinstance(reply, RequestFailed):
            own.age = self.config.forward_retry_ticks  # hand it over at the next tick

    # ------------------------------------------------------------------
    # Delivery

    def _deliver(self, entry: Entry) -> Entry:
        # Delivered entries carry message ids as terms; the core's snapshots
        # need the core's own term (``compact``).
        self._core_terms[entry.index] = entry.term
        if entry.kind is not EntryKind.NORMAL:
            return entry
        unwrapped = unwrap(entry.data, self._seen)
        if unwrapped is None:
            self._counters["dropped.malformed_entry"] += 1
            return Entry(entry.index, entry.term, b"", EntryKind.NOOP)
        mid, payload = unwrapped
        if not self._seen[mid.origin].add(mid.seq):
            self._counters["suppressed.duplicate"] += 1
            return Entry(entry.index, entry.term, b"", EntryKind.NOOP)
        self._journal.append((entry.index, mid))
        if mid.origin == self._id:
            own = self._own.pop(mid.seq, None)
            if own is not None:
                self._outbox.reply(ProposalCommitted(own.request_id, entry.index))
        return Entry(entry.index, mid.packed, payload)

    def snapshot_installed(self, meta: SnapshotMeta) -> None:
        """The driver restored ``meta`` (``SnapshotEvents``): take the
        delivered-id set from its head, then tell the core."""
        self._restore(meta)
        self.core.snapshot_installed(meta)

    def snapshot_rejected(self, meta: SnapshotMeta, reason: str) -> None:
        self.core.snapshot_rejected(meta, reason)

    def payload(self, meta: SnapshotMeta) -> SnapshotReader:
        """The application's bytes of the snapshot ``meta`` (what it restores
        from: the snapshot without the delivered-id set in front)."""
        reader = self._store.open(meta)
        _, start = read_header(reader, self.members)
        return _TailReader(reader, start)

    def _restore(self, snapshot: SnapshotMeta) -> None:
        seen, _ = read_header(self._store.open(snapshot), self.members)
        self._seen = seen
        self._base_seen = {m: s.copy() for m, s in seen.items()}
        self._base_index = snapshot.index
        self._journal = []
        mine = seen[self._id]
        for seq in [s for s in self._own if s in mine]:
            # Delivered inside the snapshot, at a position this member never
            # saw: like Raft, say so rather than name a wrong index.
            own = self._own.pop(seq)
            self._outbox.reply(RequestFailed(own.request_id, OutcomeUnknown(snapshot.index)))


# ----------------------------------------------------------------------
# Encodings: the header in front of each payload, and the snapshot wrapper.


def wrap(mid: MessageId, data: bytes) -> bytes:
    """``data`` with the header naming broadcast ``mid``."""
    return _HEADER.pack(_HEADER_MAGIC, mid.origin, mid.seq) + data


def unwrap(data: bytes, members: Collection[NodeId]) -> tuple[MessageId, bytes] | None:
    """``(id, payload)`` of a wrapped payload, or None if it is not one."""
    if len(data) < _HEADER.size:
        return None
    magic, origin, seq = _HEADER.unpack_from(data)
    if magic != _HEADER_MAGIC or origin not in members or seq < 1:
        return None
    return MessageId(origin, seq), data[_HEADER.size :]


def encode_snapshot(seen: Mapping[NodeId, SequenceSet], data: bytes) -> bytes:
    """The delivered-id sets, then the application's snapshot ``data``."""
    parts = [_SNAPSHOT_MAGIC, _U32.pack(len(seen))]
    for origin in sorted(seen):
        intervals = seen[origin].intervals()
        parts.append(_U32.pack(origin) + _U32.pack(len(intervals)))
        parts.extend(_INTERVAL.pack(lo, hi) for lo, hi in intervals)
    parts.append(data)
    return b"".join(parts)


def read_header(
    reader: SnapshotReader, members: Sequence[NodeId]
) -> tuple[dict[NodeId, SequenceSet], int]:
    """The delivered-id sets at the head of a snapshot written by
    ``encode_snapshot``, and the offset where the application's bytes start;
    ``StorageCorruption`` if it is not one."""
    seen = {m: SequenceSet() for m in members}

    def take(at: int, size: int) -> bytes:
        data = reader.read(at, size)
        if len(data) != size:
            raise ValueError("the snapshot ends inside its header")
        return data

    try:
        if take(0, len(_SNAPSHOT_MAGIC)) != _SNAPSHOT_MAGIC:
            raise ValueError("no snapshot header")
        at = len(_SNAPSHOT_MAGIC)
        (count,) = _U32.unpack(take(at, _U32.size))
        at += _U32.size
        for _ in range(count):
            origin, n = struct.unpack(">II", take(at, 8))
            at += 8
            if origin not in seen:
                raise ValueError(f"origin {origin} is not a member")
            body = take(at, n * _INTERVAL.size)
            at += len(body)
            seen[origin] = SequenceSet(list(_INTERVAL.iter_unpack(body)))
    except (struct.error, ValueError) as exc:
        raise StorageCorruption(f"atomic broadcast snapshot is unreadable: {exc}") from None
    return seen, at


def decode_snapshot(
    blob: bytes, members: Sequence[NodeId]
) -> tuple[dict[NodeId, SequenceSet], bytes]:
    """Inverse of ``encode_snapshot`` for bytes in memory."""
    seen, start = read_header(BytesReader(blob), members)
    return seen, blob[start:]


@attrs.frozen(slots=True)
class _TailReader:
    """A ``SnapshotReader`` over ``reader`` from byte ``start`` on."""

    reader: SnapshotReader
    start: int

    @property
    def size(self) -> int:
        return self.reader.size - self.start

    def read(self, offset: int, limit: int) -> bytes:
        return self.reader.read(self.start + offset, limit)
