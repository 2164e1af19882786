"""Quorum math: majorities and joint majorities."""

from __future__ import annotations

import pytest

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.quorum import JointQuorum, MajorityQuorum, VoteResult, majority


def test_a_majority_is_more_than_half() -> None:
    assert [majority(range(n)).size for n in range(1, 8)] == [1, 2, 2, 3, 3, 4, 4]


def test_is_quorum_counts_only_voters() -> None:
    q = majority([1, 2, 3])
    assert q.is_quorum([1, 2])
    assert not q.is_quorum([1, 9, 8])


@pytest.mark.parametrize(
    ("votes", "result"),
    [
        ({1: True}, VoteResult.PENDING),
        ({1: True, 2: True}, VoteResult.WON),
        ({1: True, 2: False}, VoteResult.PENDING),
        ({1: True, 2: False, 3: False}, VoteResult.LOST),
        ({1: True, 4: True, 5: True}, VoteResult.PENDING),  # non-voters do not count
    ],
)
def test_vote_result(votes: dict[int, bool], result: VoteResult) -> None:
    assert majority([1, 2, 3]).vote_result(votes) is result


def test_committed_index_is_the_highest_index_a_majority_holds() -> None:
    q = majority([1, 2, 3, 4, 5])
    assert q.committed_index({1: 9, 2: 7, 3: 7, 4: 2, 5: 1}) == 7
    assert q.committed_index({1: 9, 2: 8}) == 0  # missing voters hold nothing


def test_joint_quorum_needs_both_majorities() -> None:
    joint = JointQuorum(majority([1, 2, 3]), majority([3, 4, 5]))
    assert not joint.is_quorum([1, 2])
    assert joint.is_quorum([1, 3, 4])
    assert joint.vote_result({1: True, 2: True, 4: False, 5: False}) is VoteResult.LOST
    assert joint.committed_index({1: 5, 2: 5, 3: 4, 4: 1, 5: 1}) == 1
    assert joint.voters == frozenset({1, 2, 3, 4, 5})


def test_an_empty_quorum_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError):
        MajorityQuorum(frozenset())


def test_a_repeated_id_counts_once() -> None:
    q = majority([1, 2, 3])
    assert not q.is_quorum([1, 1])
    assert not q.is_quorum([2, 2, 2, 9])
    assert q.is_quorum([1, 1, 3])
    joint = JointQuorum(majority([1, 2, 3]), majority([3, 4, 5]))
    assert not joint.is_quorum([3, 3, 3])
