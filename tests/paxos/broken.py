"""Deliberately broken Multi-Paxos variants: the simulator's checkers must catch them."""

from __future__ import annotations

from pyconsensus.core.types import Entry, EntryKind
from pyconsensus.paxos import MultiPaxosNode


class UnsyncedSelfPaxos(MultiPaxosNode):
    """With pipelined writes, counts its own acceptance of a slot towards the
    quorum as soon as it proposes it, before the driver reported it durable: a
    value may then be chosen on one durable acceptance and one that a crash
    loses, and a later ballot may choose another value in its slot."""

    def _launch(self, first: int, last: int) -> None:
        super()._launch(first, last)
        for commander in list(self._commanders.values()):
            if commander.first >= first:
                self._vote(commander, self.id)


class ForgetfulProposer(MultiPaxosNode):
    """Broken on purpose: a new leader ignores the values its promises report
    (and its own) and fills every recovered slot with a no-op."""

    def _recovered_entry(self, slot: int, highest: Entry | None, term: int) -> Entry:
        return Entry(slot, term, b"", EntryKind.NOOP)
