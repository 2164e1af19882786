"""What became of each proposal: the bookkeeping that log-based cores share.

A leader that appends a proposal at ``index`` in ``term`` (Raft term, ZAB
epoch) remembers ``index -> (request, term)``. The request's fate is known
once that position commits:

* the committed entry there has the same term: it *is* the proposal
  (Log Matching: one term, one leader, one entry per position) -
  ``ProposalCommitted``;
* it has another term: a later leader overwrote the proposal -
  ``RequestFailed(ProposalDropped)``;
* the position went into a snapshot before this node could see which entry
  committed there - ``RequestFailed(OutcomeUnknown)``.

A truncated position does not decide anything by itself: the proposal is
*displaced* and waits until the position commits again (with the same entry,
re-sent by a leader that had it, or with another one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyconsensus.core.errors import OutcomeUnknown, ProposalDropped
from pyconsensus.core.ready import ProposalCommitted, Reply, RequestFailed
from pyconsensus.core.types import Entry, RequestId


class ProposalFates:
    """Requests waiting for their log position to commit (see the module)."""

    __slots__ = ("displaced", "pending")

    def __init__(self) -> None:
        self.pending: dict[int, tuple[RequestId, int]] = {}
        """index -> (request, term) of proposals still in our log."""
        self.displaced: list[tuple[int, int, RequestId]] = []
        """(index, term, request) of proposals whose position was truncated."""

    def __bool__(self) -> bool:
        return bool(self.pending or self.displaced)

    def placed(self, index: int, term: int, rid: RequestId) -> None:
        """Request ``rid`` was appended at ``index`` in ``term``."""
        self.pending[index] = (rid, term)

    def forget(self, index: int) -> None:
        """Stop tracking the proposal at ``index`` (answered some other way)."""
        self.pending.pop(index, None)

    def displace_from(self, index: int) -> None:
        """The log is about to lose every position from ``index`` on."""
        pending = self.pending
        if pending:
            for placed in [i for i in pending if i >= index]:
                rid, term = pending.pop(placed)
                self.displaced.append((placed, term, rid))

    def unknown_through(self, index: int, reply: Callable[[Reply], None]) -> None:
        """Positions up to ``index`` went into a snapshot: the displaced
        proposals there can no longer be told apart - their outcome is unknown."""
        keep: list[tuple[int, int, RequestId]] = []
        for item in self.displaced:
            if item[0] <= index:
                reply(RequestFailed(item[2], OutcomeUnknown(item[0])))
            else:
                keep.append(item)
        self.displaced = keep

    def resolve(
        self,
        committed: Sequence[Entry],
        commit: int,
        term_at: Callable[[int], int | None],
        reply: Callable[[Reply], None],
    ) -> None:
        """Answer every proposal that ``committed`` (entries up to ``commit``)
        decides; ``term_at`` gives the committed term of a position, ``None``
        if it is compacted away."""
        pending = self.pending
        if pending:
            for entry in committed:
                item = pending.pop(entry.index, None)
                if item is not None:
                    reply(_outcome(item[0], entry.index, item[1], entry.term))
        if self.displaced:
            keep: list[tuple[int, int, RequestId]] = []
            for index, term, rid in self.displaced:
                if index > commit:
                    keep.append((index, term, rid))
                    continue
                actual = term_at(index)
                if actual is None:
                    reply(RequestFailed(rid, OutcomeUnknown(index)))
                else:
                    reply(_outcome(rid, index, term, actual))
            self.displaced = keep


def _outcome(
    rid: RequestId, index: int, proposed_term: int, committed_term: int
) -> ProposalCommitted | RequestFailed:
    if proposed_term == committed_term:
        return ProposalCommitted(rid, index)
    return RequestFailed(rid, ProposalDropped(index))
