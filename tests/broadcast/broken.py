"""Deliberately broken broadcast members: the sweep's checkers must catch them."""

from __future__ import annotations

import attrs

from pyconsensus.broadcast import (
    Ack,
    AtomicBroadcast,
    Data,
    EagerReliableBroadcast,
    LazyReliableBroadcast,
    MessageId,
    SequenceSet,
)
from pyconsensus.broadcast.reliable import Stored
from pyconsensus.core.types import Entry


class NoRelay(EagerReliableBroadcast):
    """Eager reliable broadcast that forgot to relay: best-effort in disguise."""

    def _on_first_delivery(self, message: Data) -> None:
        pass


class NeverRelays(LazyReliableBroadcast):
    """Lazy reliable broadcast that suspects crashed origins but never relays."""

    def _relay(self, mid: MessageId, stored: Stored) -> None:
        pass


class NoDeduplication(EagerReliableBroadcast):
    """Delivers every copy it receives, duplicates included."""

    def _on_data(self, msg: Data) -> None:
        self._outbox.send(Ack(self.id, msg.src, msg.origin, msg.seq))
        first = self._seen[msg.origin].add(msg.seq)
        self._deliver(MessageId(msg.origin, msg.seq), msg.data)
        if first:
            self._on_first_delivery(msg)


class Tampering(EagerReliableBroadcast):
    """Relays a modified payload under the original id."""

    def _on_first_delivery(self, message: Data) -> None:
        super()._on_first_delivery(attrs.evolve(message, data=message.data + b"!"))


class ForgetfulAtomic(AtomicBroadcast):
    """Atomic broadcast that forgets what it delivered: a broadcast the log
    holds twice is delivered twice."""

    def _deliver(self, entry: Entry) -> Entry:
        self._seen = {m: SequenceSet() for m in self.members}
        return super()._deliver(entry)
