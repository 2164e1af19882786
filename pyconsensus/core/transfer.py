"""Chunked, resumable snapshot transfer: one sender and one receiver that Raft's
InstallSnapshot, ZAB's SNAP and Multi-Paxos catch-up all use.

A snapshot never travels whole. The sender reads it through the store's
``SnapshotReader`` one chunk at a time, only as flow control allows; each
protocol wraps the chunks in its own message. The receiver stages each chunk
durably (a ``SnapshotStage`` in the node's ``Write``) before it acknowledges
the offset staged so far, and asks for the snapshot to be installed only when
every byte is staged - the store then verifies size and checksum.

The rules, each with a test named after it (tests/core/test_transfer.py):

* **Window**: at most ``window`` chunks are unacknowledged per receiver.
* **Cap**: at most ``max_transfers`` snapshots are on their way at once;
  ``start`` refuses more and the core asks again later.
* **Rate**: at most ``chunks_per_tick`` chunks leave per tick over all
  transfers (0: no limit beyond the window).
* **Resume**: an acknowledgement says how much the receiver has durably
  staged; the sender goes on from there - after a lost chunk, a reconnect, a
  restart of either side, or a new leader sending the same snapshot.
* **Retransmit**: with no acknowledgement for ``retry_ticks`` ticks, the
  sender resends from the last acknowledged offset.
* **Give up**: after ``max_retries`` resends in a row without an answer the
  transfer is dropped (the receiver asks again when it is back).
* **Abandon**: a transfer of another snapshot to the same peer replaces the
  old one (sender) or discards what was staged (receiver); a leader that
  steps down abandons all of its transfers.

Defaults (``TransferConfig``): 1 MiB chunks, a window of 4 chunks, 2
concurrent transfers, no rate limit, retransmission after 10 ticks, giving
up after 10 retransmissions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TypeVar

import attrs

from pyconsensus.core.config import non_negative as _not_negative
from pyconsensus.core.config import positive as _positive
from pyconsensus.core.outbox import Outbox
from pyconsensus.core.snapshots import SnapshotMeta, SnapshotReader, SnapshotStage, SnapshotStore
from pyconsensus.core.types import NodeId

_M = TypeVar("_M")


@attrs.frozen(slots=True)
class TransferConfig:
    """Limits of outgoing snapshot transfers (every core has one)."""

    chunk_size: int = attrs.field(default=1 << 20, validator=_positive)
    """Bytes of snapshot per message."""
    window: int = attrs.field(default=4, validator=_positive)
    """Chunks sent and not yet acknowledged, per receiver."""
    max_transfers: int = attrs.field(default=2, validator=_positive)
    """Snapshots on their way at the same time (to different peers)."""
    chunks_per_tick: int = attrs.field(default=0, validator=_not_negative)
    """Chunks sent per tick over all transfers; 0 means no limit."""
    retry_ticks: int = attrs.field(default=10, validator=_positive)
    """Ticks without an acknowledgement before resending from the last one."""
    max_retries: int = attrs.field(default=10, validator=_positive)
    """Resends in a row without an acknowledgement before the transfer is
    abandoned (the receiver is gone; it asks again when it comes back)."""


@attrs.frozen(slots=True)
class OutgoingChunk:
    """One chunk for the core to wrap in its protocol's message to ``peer``.
    ``done`` marks the last chunk of ``meta``."""

    peer: NodeId
    meta: SnapshotMeta
    offset: int
    data: bytes
    done: bool

    def message(self, cls: Callable[..., _M], src: NodeId, *header: object) -> _M:
        """The protocol message ``cls(src, peer, *header, meta, offset, data, done)``."""
        return cls(src, self.peer, *header, self.meta, self.offset, self.data, self.done)


class _Outgoing:
    """One transfer in progress."""

    __slots__ = ("acked", "idle", "meta", "next", "reader", "retries", "sent_last")

    def __init__(self, meta: SnapshotMeta, reader: SnapshotReader) -> None:
        self.meta = meta
        self.reader = reader
        self.acked = 0  # the receiver has durably staged this many bytes
        self.next = 0  # the next byte to send
        self.idle = 0  # ticks since the last acknowledgement that told us something
        self.retries = 0  # resends since then
        self.sent_last = (
            False  # the chunk ending at ``meta.size`` went out since ``next`` moved back
        )


class SnapshotSender:
    """The sending half: which snapshots go to whom, and which chunk is next."""

    def __init__(
        self,
        store: SnapshotStore,
        config: TransferConfig | None = None,
        counters: Counter[str] | None = None,
    ) -> None:
        self._store = store
        self.config = config or TransferConfig()
        self._transfers: dict[NodeId, _Outgoing] = {}
        self._budget = self._full_budget()
        self.counters: Counter[str] = counters if counters is not None else Counter()

    def sending(self, peer: NodeId) -> SnapshotMeta | None:
        """The snapshot on its way to ``peer``, if any."""
        transfer = self._transfers.get(peer)
        return transfer.meta if transfer is not None else None

    def start(self, peer: NodeId, meta: SnapshotMeta) -> bool:
        """Send ``meta`` to ``peer`` (replacing a transfer of another snapshot).
        False if the cap on concurrent transfers leaves no room: ask again later."""
        transfer = self._transfers.get(peer)
        if transfer is not None and transfer.meta == meta:
            return True
        if transfer is None and len(self._transfers) >= self.config.max_transfers:
            self.counters["transfer.deferred"] += 1
            return False
        if transfer is not None:
            self.counters["transfer.superseded"] += 1
        self._transfers[peer] = _Outgoing(meta, self._store.open(meta))
        self.counters["transfer.started"] += 1
        return True

    def acknowledge(self, peer: NodeId, meta: SnapshotMeta, offset: int) -> None:
        """``peer`` has durably staged ``offset`` bytes of ``meta``. An offset below
        what it acknowledged before means it lost them (it rejected the staged
        snapshot, say): the transfer goes back there."""
        transfer = self._transfers.get(peer)
        if transfer is None or transfer.meta != meta or not 0 <= offset <= meta.size:
            self.counters["transfer.stale_ack"] += 1
            return
        if offset < transfer.acked:
            self.counters["transfer.rewound"] += 1
            transfer.next, transfer.sent_last = offset, False
        elif offset == transfer.acked and offset < transfer.next:
            return  # a duplicate: it tells nothing new
        transfer.acked = offset
        transfer.retries = 0
        if offset > transfer.next:  # it had more than we sent: a resumed transfer
            transfer.next, transfer.sent_last = offset, False
        transfer.idle = 0

    def finish(self, peer: NodeId) -> None:
        """``peer`` installed the snapshot (or no longer needs it)."""
        if self._transfers.pop(peer, None) is not None:
            self.counters["transfer.finished"] += 1

    def abandon(self, peer: NodeId) -> None:
        """Stop sending to ``peer`` (it left, or it answers as if it needs no snapshot)."""
        if self._transfers.pop(peer, None) is not None:
            self.counters["transfer.abandoned"] += 1

    def abandon_all(self) -> None:
        """Stop every transfer (this node is no longer the one to send)."""
        for peer in list(self._transfers):
            self.abandon(peer)

    def tick(self) -> None:
        """Refill the rate budget; resend from the last acknowledgement where
        acknowledgements stopped coming."""
        self._budget = self._full_budget()
        for peer, transfer in list(self._transfers.items()):
            transfer.idle += 1
            if transfer.idle < self.config.retry_ticks:
                continue
            transfer.idle = 0
            transfer.retries += 1
            if transfer.retries > self.config.max_retries:
                del self._transfers[peer]
                self.counters["transfer.timed_out"] += 1
                continue
            transfer.next, transfer.sent_last = transfer.acked, False
            self.counters["transfer.retransmit"] += 1

    def has_chunks(self) -> bool:
        """Whether ``chunks()`` would return something."""
        if self._budget == 0:
            return False
        window = self.config.window * self.config.chunk_size
        return any(not t.sent_last and t.next - t.acked < window for t in self._transfers.values())

    def chunks(self) -> list[OutgoingChunk]:
        """The chunks that flow control lets go now, in peer order."""
        out: list[OutgoingChunk] = []
        for peer in sorted(self._transfers):
            self._fill(peer, self._transfers[peer], out)
        return out

    def _fill(self, peer: NodeId, transfer: _Outgoing, out: list[OutgoingChunk]) -> None:
        size = transfer.meta.size
        chunk_size = self.config.chunk_size
        window = self.config.window * chunk_size
        while self._budget != 0 and not transfer.sent_last:
            offset = transfer.next
            if offset - transfer.acked >= window:
                return
            data = transfer.reader.read(offset, min(chunk_size, size - offset))
            end = offset + len(data)
            if end < size and not data:
                raise ValueError(f"snapshot reader ended at {end} of {size} bytes")
            # The last chunk may be empty: it re-asks a receiver that has every
            # byte staged to install them (after a retransmission or a restart).
            out.append(OutgoingChunk(peer, transfer.meta, offset, data, end == size))
            self.counters["transfer.chunks_sent"] += 1
            self.counters["transfer.bytes_sent"] += len(data)
            self._budget -= 1
            transfer.next = end
            transfer.sent_last = end == size

    def _full_budget(self) -> int:
        return self.config.chunks_per_tick or -1  # -1: no limit


@attrs.frozen(slots=True)
class Received:
    """What the receiving core does with one chunk: ``stage`` goes into its
    ``Write``; ``ack`` is the offset to acknowledge once that write is durable;
    ``complete`` means every byte is staged: ask the driver to install."""

    stage: SnapshotStage | None
    ack: int
    complete: bool


class SnapshotReceiver:
    """The receiving half: what is staged, and whether it is being installed."""

    def __init__(self, store: SnapshotStore, counters: Counter[str] | None = None) -> None:
        staged = store.staged()
        self._meta: SnapshotMeta | None = staged[0] if staged is not None else None
        self._end = staged[1] if staged is not None else 0
        self._installing = False
        self.counters: Counter[str] = counters if counters is not None else Counter()

    @property
    def receiving(self) -> SnapshotMeta | None:
        """The snapshot being staged (or installed), if any."""
        return self._meta

    @property
    def installing(self) -> SnapshotMeta | None:
        """The snapshot the driver was asked to install, until it answers."""
        return self._meta if self._installing else None

    def position(self, meta: SnapshotMeta) -> int:
        """How many bytes of ``meta`` are staged (0 for any other snapshot)."""
        return self._end if meta == self._meta else 0

    def receive(self, meta: SnapshotMeta, offset: int, data: bytes) -> Received:
        """Take the chunk ``data`` at ``offset`` of ``meta``. Chunks must come in
        order: one past the staged end is answered with the staged end (the
        sender resumes from there), one before it is a duplicate. A chunk of
        another snapshot at offset 0 supersedes the one staged."""
        if meta != self._meta:
            if self._installing:
                self.counters["transfer.busy_installing"] += 1
                return Received(None, 0, False)
            if offset != 0:
                self.counters["transfer.out_of_order"] += 1
                return Received(None, 0, False)
            if self._meta is not None:
                self.counters["transfer.superseded"] += 1
            self._meta, self._end = meta, 0
        if offset != self._end or self._installing:
            self.counters[
                "transfer.out_of_order" if offset > self._end else "transfer.duplicate"
            ] += 1
            return Received(None, self._end, False)
        stage = SnapshotStage(meta, offset, data) if data or offset == 0 else None
        self._end += len(data)
        self.counters["transfer.chunks_staged"] += 1
        if self._end == meta.size:
            self._installing = True
            return Received(stage, self._end, True)
        return Received(stage, self._end, False)

    def take(self, meta: SnapshotMeta, offset: int, data: bytes, outbox: Outbox) -> int:
        """``receive`` the chunk and put its effects into ``outbox``: the stage
        part of the next write and, once complete, the ``restore`` request.
        Returns the offset to acknowledge (in the same batch: after the write)."""
        got = self.receive(meta, offset, data)
        if got.stage is not None:
            outbox.stage(got.stage)
        if got.complete:
            outbox.restore(meta)
        return got.ack

    def finished(self, meta: SnapshotMeta) -> bool:
        """The driver installed (or failed to install) ``meta``: the staging area
        is empty either way. True if this receiver was waiting for that."""
        if not self._installing or meta != self._meta:
            return False
        self._meta, self._end, self._installing = None, 0, False
        return True

    def abandon(self) -> None:
        """Forget the snapshot being received (this node no longer needs it).
        What was staged stays until a newer snapshot supersedes it."""
        if not self._installing:
            self._meta, self._end = None, 0
