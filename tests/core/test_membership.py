"""The membership value: who votes, who only learns, and what a quorum is."""

from __future__ import annotations

import pytest

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.membership import Membership, cluster_membership
from pyconsensus.core.quorum import JointQuorum, MajorityQuorum, VoteResult


def test_a_plain_configuration_is_a_majority_of_its_voters() -> None:
    membership = Membership({1, 2, 3})
    assert not membership.is_joint
    assert membership.quorum() == MajorityQuorum(frozenset({1, 2, 3}))
    assert membership.ordered() == (1, 2, 3)


def test_a_joint_configuration_needs_a_majority_of_both_halves() -> None:
    joint = Membership({3, 4, 5}, voters_outgoing={1, 2, 3})
    assert joint.is_joint
    quorum = joint.quorum()
    assert isinstance(quorum, JointQuorum)
    assert not quorum.is_quorum([4, 5])  # the new half alone
    assert not quorum.is_quorum([1, 2])  # the old half alone
    assert quorum.is_quorum([1, 3, 4])
    assert quorum.vote_result({3: True, 4: True, 1: False, 2: False}) is VoteResult.LOST


def test_peers_are_every_other_member_learners_included() -> None:
    membership = Membership({1, 2, 3}, voters_outgoing={1, 2, 4}, learners={7}, learners_next={4})
    assert membership.peers_of(1) == (2, 3, 4, 7)
    assert membership.members == frozenset({1, 2, 3, 4, 7})
    assert membership.all_voters == frozenset({1, 2, 3, 4})
    assert membership.is_voter(4) and not membership.is_voter(7)


def test_learners_never_count_towards_a_quorum() -> None:
    membership = Membership({1, 2, 3}, learners={4, 5, 6})
    assert not membership.quorum().is_quorum([1, 4, 5, 6])


def test_leaving_a_joint_configuration_demotes_learners_next() -> None:
    joint = Membership({1, 2, 3}, voters_outgoing={1, 2, 4}, learners_next={4}, auto_leave=True)
    assert joint.left_joint() == Membership({1, 2, 3}, learners={4})


@pytest.mark.parametrize(
    "make",
    [
        lambda: Membership(set()),
        lambda: Membership({1, -2}),
        lambda: Membership({1, 2}, learners={2}),  # a learner that votes
        lambda: Membership({1, 2}, voters_outgoing={3}, learners={3}),
        lambda: Membership({1, 2}, voters_outgoing={1, 3}, learners_next={2}),  # stays a voter
        lambda: Membership({1, 2}, learners_next={3}),  # not joint
        lambda: Membership({1, 2}, auto_leave=True),  # not joint
    ],
)
def test_an_inconsistent_membership_is_refused(make: object) -> None:
    with pytest.raises(ConfigError):
        make()  # type: ignore[operator]


def test_the_encoding_round_trips_and_is_canonical() -> None:
    joint = Membership({3, 1, 2}, voters_outgoing={1, 2, 4}, learners={9}, learners_next={4})
    text = joint.encode()
    assert text == "voters=1,2,3;outgoing=1,2,4;learners=9;learners_next=4;auto_leave=0"
    assert Membership.decode(text) == joint
    assert Membership.decode(Membership({5}).encode()) == Membership({5})


@pytest.mark.parametrize(
    "text",
    [
        "",
        "voters=1,2",
        "voters=1,x;outgoing=;learners=;learners_next=;auto_leave=0",
        "voters=;outgoing=;learners=;learners_next=;auto_leave=0",
        "voters=1;outgoing=;learners=;learners_next=;auto_leave=2",
        "outgoing=;voters=1;learners=;learners_next=;auto_leave=0",
    ],
)
def test_decoding_anything_else_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        Membership.decode(text)


def test_cluster_membership_checks_what_every_constructor_checked() -> None:
    assert cluster_membership(2, [3, 1, 2, 2]) == Membership({1, 2, 3})
    with pytest.raises(ConfigError, match=r"node 4 is not among the members \[1, 2, 3\]"):
        cluster_membership(4, [1, 2, 3])
    with pytest.raises(ConfigError, match="must be non-negative integers"):
        cluster_membership(1, [1, -1])
    with pytest.raises(ConfigError, match="must be non-negative integers"):
        cluster_membership(3, [3, True])
    with pytest.raises(ConfigError, match=r"integers in \[0, 7\]"):
        cluster_membership(1, [1, 8], max_id=7)
