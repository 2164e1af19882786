"""ProposalFates: what each proposal's position says about its outcome."""

from __future__ import annotations

from pyconsensus.core.errors import OutcomeUnknown, ProposalDropped
from pyconsensus.core.fates import ProposalFates
from pyconsensus.core.ready import ProposalCommitted, Reply, RequestFailed
from pyconsensus.core.types import Entry


def _fates() -> tuple[ProposalFates, list[Reply]]:
    fates = ProposalFates()
    fates.placed(1, 1, 10)
    fates.placed(2, 1, 20)
    fates.placed(3, 1, 30)
    return fates, []


def test_a_proposal_whose_entry_commits_is_committed_at_its_index() -> None:
    fates, replies = _fates()
    fates.resolve([Entry(1, 1, b"a")], 1, lambda i: 1, replies.append)
    assert replies == [ProposalCommitted(10, 1)]
    assert sorted(fates.pending) == [2, 3]


def test_a_truncated_proposal_waits_and_is_dropped_if_another_term_commits_there() -> None:
    fates, replies = _fates()
    fates.displace_from(2)  # a new leader's log replaces positions 2 and 3
    assert sorted(fates.pending) == [1] and len(fates.displaced) == 2
    terms = {1: 1, 2: 2}
    fates.resolve([Entry(1, 1, b"a"), Entry(2, 2, b"other")], 2, terms.get, replies.append)
    assert replies == [ProposalCommitted(10, 1), RequestFailed(20, ProposalDropped(2))]
    assert [item[0] for item in fates.displaced] == [3]  # not decided yet


def test_a_truncated_proposal_resent_by_a_leader_that_had_it_still_commits() -> None:
    fates, replies = _fates()
    fates.displace_from(3)
    fates.resolve([Entry(3, 1, b"c")], 3, lambda i: 1, replies.append)
    assert replies == [ProposalCommitted(30, 3)]
    assert not fates.displaced


def test_displaced_positions_lost_in_a_snapshot_have_an_unknown_outcome() -> None:
    fates, replies = _fates()
    fates.displace_from(2)
    fates.unknown_through(2, replies.append)
    assert replies == [RequestFailed(20, OutcomeUnknown(2))]
    fates.resolve([], 3, lambda i: None, replies.append)  # compacted away too
    assert replies[-1] == RequestFailed(30, OutcomeUnknown(3))
    assert fates.pending and not fates.displaced


def test_forget_stops_tracking_and_empty_fates_are_falsy() -> None:
    fates = ProposalFates()
    assert not fates
    fates.placed(5, 2, 1)
    assert fates
    fates.forget(5)
    assert not fates
