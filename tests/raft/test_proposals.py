"""What happens to a proposal: every one gets exactly one definite answer while
its node stays up - committed, refused, or definitely dropped."""

from __future__ import annotations

import pytest

from pyconsensus.core.errors import NotLeader, ProposalDropped, ProposalTooLarge
from pyconsensus.core.ready import ProposalCommitted, RequestFailed
from pyconsensus.raft import AppendEntries
from tests.raft.support import PAPER, elected


def test_a_follower_refuses_proposals_with_a_leader_hint() -> None:
    h = elected(3)
    rid = h.propose(3, b"x")
    assert h.replies[3] == [RequestFailed(rid, NotLeader(1))]


def test_an_oversized_proposal_is_refused() -> None:
    h = elected(3, max_entry_bytes=8)
    rid = h.propose(1, b"123456789")
    assert h.replies[1] == [RequestFailed(rid, ProposalTooLarge(9, 8))]
    assert h.node(1).log.last_index == 1


def test_a_proposal_must_be_bytes() -> None:
    h = elected(3)
    with pytest.raises(TypeError, match="must be bytes"):
        h.node(1).propose("text")  # type: ignore[arg-type]


def test_a_proposal_overwritten_by_a_new_leader_fails_definitely() -> None:
    """The entry was replaced at its index by a newer leader's entry, which
    then committed: the proposal can never commit, and the client is told."""
    h = elected(3, **PAPER)
    h.isolate(1)
    rid = h.propose(1, b"doomed")
    h.heal()
    h.isolate(1)
    h.elect(2)
    h.propose(2, b"winner")
    h.stabilize()
    h.heal()
    h.tick(2)
    h.stabilize()
    assert RequestFailed(rid, ProposalDropped(2)) in h.replies[1]


def test_a_deposed_leaders_proposal_committed_by_its_successor_is_acknowledged() -> None:
    """The old leader replicated the entry to a majority but stepped down before
    learning it committed; when the new leader commits it, the old leader
    still answers the client with success."""
    h = elected(3, **PAPER)
    rid = h.propose(1, b"survivor")
    h.deliver(types=AppendEntries, to=2)  # on nodes 1 and 2; nobody knows it committed
    h.drop()
    h.isolate(1)
    h.elect(2)  # node 2's log has the entry, so it wins and commits it
    h.heal()
    h.tick(2)
    h.stabilize()
    assert ProposalCommitted(rid, 2) in h.replies[1]
    assert [e.data for e in h.applied[1]][:2] == [b"", b"survivor"]


def test_each_proposal_is_answered_once() -> None:
    h = elected(3)
    rids = [h.propose(1, b"%d" % i) for i in range(10)]
    h.stabilize()
    h.tick_all()
    h.stabilize()
    answered = [r.request_id for r in h.replies[1]]
    assert sorted(answered) == rids
