"""Reliable broadcast: if any correct member delivers m, every correct member does.

Guarantees (among members that never crash): validity, no duplication and no
creation as for best-effort broadcast, plus

- **Agreement**: if a correct member delivers m, every correct member delivers m
  - even when m's origin crashed after sending it to only some members.

Both variants need reliable links between correct members; over fair-lossy
links that means retransmission until acknowledged (the default,
``BroadcastConfig.retransmit_ticks > 0``), for relayed copies as well as the
origin's. Neither makes the guarantee *uniform*: an origin delivers its own
broadcast at once, so if it crashes before any copy leaves, it alone (a
crashed member) delivered it.

**Eager** (``EagerReliableBroadcast``): every member relays a message to the
others the first time it delivers it. Simple and fast to recover (no waiting
for a timeout), but each broadcast costs (N - 1)^2 messages in a group of N:
N - 1 from the origin plus N - 2 relays from each of the N - 1 receivers
(twice that with acknowledgements).

**Lazy** (``LazyReliableBroadcast``): a member relays the messages of an
origin only once it suspects that origin crashed, using a failure detector
fed by heartbeats (``FailureDetector``). Failure-free cost: N - 1 messages
per broadcast (2(N - 1) with acknowledgements) plus heartbeats, N(N - 1) per
heartbeat period whatever the traffic. Safety needs only the detector's
completeness (every crashed origin is eventually suspected): a wrong
suspicion costs a round of relays, never correctness. Members keep the
messages they delivered until the origin reports them stable (acknowledged
by every member) in its heartbeats.
"""

from __future__ import annotations

import attrs

from pyconsensus.broadcast.detector import FailureDetector
from pyconsensus.broadcast.ids import MessageId
from pyconsensus.broadcast.messages import Data, Heartbeat
from pyconsensus.broadcast.node import BroadcastNode
from pyconsensus.core.types import NodeId


class EagerReliableBroadcast(BroadcastNode):
    """Eager reliable broadcast: relay every message on its first delivery."""

    def _on_first_delivery(self, message: Data) -> None:
        # The origin and the member we got it from already hold it.
        skip = (message.origin, message.src)
        targets = [p for p in self.peers if p not in skip]
        self._send_reliably(message, targets)
        self.counters["relayed"] += 1


@attrs.define(slots=True)
class Stored:
    """A delivered message kept in case its origin crashes and it must be relayed."""

    incarnation: int
    data: bytes
    relayed: bool = False


class LazyReliableBroadcast(BroadcastNode):
    """Lazy reliable broadcast: relay an origin's messages once it is suspected."""

    def _on_start(self) -> None:
        self.detector = FailureDetector(
            self.peers, self.config.suspect_ticks, self.config.suspect_backoff_ticks
        )
        self.stored: dict[MessageId, Stored] = {}
        self._heartbeat_elapsed = self.config.heartbeat_ticks  # announce ourselves at once

    # -- failure detection -------------------------------------------------

    def _on_tick(self) -> None:
        self._heartbeat_elapsed += 1
        if self._heartbeat_elapsed >= self.config.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            stable = self._stable()
            for peer in self.peers:
                self._outbox.send(Heartbeat(self._id, peer, self.incarnation, stable))
        for origin in self.detector.tick():
            self.counters["suspected"] += 1
            self._relay_from(origin)

    def _on_heartbeat(self, message: Heartbeat) -> None:
        origin = message.src
        if self.detector.heard_from(origin, message.incarnation):
            self._relay_from(origin)  # its earlier incarnations are gone
        if message.incarnation == self.detector.incarnation(origin) and message.stable:
            self._forget_stable(origin, message.incarnation, message.stable)

    def _learn_incarnation(self, origin: NodeId, incarnation: int) -> None:
        if origin != self._id and self.detector.learn_incarnation(origin, incarnation):
            self._relay_from(origin)

    # -- relaying ----------------------------------------------------------

    def _on_first_delivery(self, message: Data) -> None:
        mid = MessageId(message.origin, message.seq)
        stored = Stored(message.incarnation, message.data)
        self.stored[mid] = stored
        if self.detector.crashed(message.origin, message.incarnation):
            self._relay(mid, stored)

    def _relay_from(self, origin: NodeId) -> None:
        """Relay every kept message of ``origin`` whose incarnation is suspected."""
        crashed = self.detector.crashed
        for mid, stored in list(self.stored.items()):
            if mid.origin == origin and not stored.relayed and crashed(origin, stored.incarnation):
                self._relay(mid, stored)

    def _relay(self, mid: MessageId, stored: Stored) -> None:
        stored.relayed = True
        message = Data(self._id, self._id, mid.origin, mid.seq, stored.incarnation, stored.data)
        targets = [p for p in self.peers if p != mid.origin]
        self._send_reliably(message, targets)
        self.counters["relayed"] += 1
        if not self.config.retransmit_ticks or not targets:
            self._on_acknowledged(mid)  # nothing more this member can do for it

    # -- forgetting --------------------------------------------------------

    def _stable(self) -> int:
        """The highest own sequence number up to which every broadcast of this
        incarnation was acknowledged by every member (0, "unknown", when
        acknowledgements are off: then members keep every message)."""
        if not self.config.retransmit_ticks:
            return 0
        own = [mid.seq for mid in self.unacked if mid.origin == self._id]
        return min(own) - 1 if own else self.seq

    def _forget_stable(self, origin: NodeId, incarnation: int, stable: int) -> None:
        forget = [
            mid
            for mid, stored in self.stored.items()
            if mid.origin == origin and mid.seq <= stable and stored.incarnation == incarnation
        ]
        for mid in forget:
            del self.stored[mid]
        self.counters["forgotten.stable"] += len(forget)

    def _on_acknowledged(self, mid: MessageId) -> None:
        stored = self.stored.get(mid)
        if stored is not None and stored.relayed:
            # Every member acknowledged our relay: nobody needs it from us again.
            del self.stored[mid]
            self.counters["forgotten.relayed"] += 1
