"""Deliberately broken Multi-Paxos variants: the simulator's checkers must catch them."""

from __future__ import annotations

from pyconsensus.core.types import Entry, EntryKind
from pyconsensus.paxos import MultiPaxosNode
from pyconsensus.paxos.leader import Leader


class _CountsUnsyncedSelf(Leader):
    def _launch(self, first: int, last: int) -> None:
        super()._launch(first, last)
        for commander in list(self.commanders.values()):
            if commander.first >= first:
                self.vote(commander, self.me)


class UnsyncedSelfPaxos(MultiPaxosNode):
    """With pipelined writes, counts its own acceptance of a slot towards the
    quorum as soon as it proposes it, before the driver reported it durable: a
    value may then be chosen on one durable acceptance and one that a crash
    loses, and a later ballot may choose another value in its slot."""

    leader_class = _CountsUnsyncedSelf


class _ForgetfulLeader(Leader):
    def recovered_entry(self, slot: int, highest: Entry | None, term: int) -> Entry:
        return Entry(slot, term, b"", EntryKind.NOOP)


class ForgetfulProposer(MultiPaxosNode):
    """Broken on purpose: a new leader ignores the values its promises report
    (and its own) and fills every recovered slot with a no-op."""

    leader_class = _ForgetfulLeader
