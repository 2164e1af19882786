"""Typed membership changes: what each asks for, and how it is reached."""

from __future__ import annotations

import pytest

from pyconsensus.core.changes import (
    AddLearner,
    AddVoter,
    PromoteLearner,
    RemoveMember,
    ReplaceMember,
    parse_change,
    roles,
    target,
    transition,
)
from pyconsensus.core.errors import MembershipChangeRefused
from pyconsensus.core.membership import Membership
from pyconsensus.core.types import MemberRole

THREE = Membership({1, 2, 3}, learners={4})


@pytest.mark.parametrize(
    ("change", "wanted"),
    [
        (AddVoter(5), Membership({1, 2, 3, 5}, learners={4})),
        (AddVoter(4), Membership({1, 2, 3, 4})),  # a learner promoted at once
        (AddLearner(5), Membership({1, 2, 3}, learners={4, 5})),
        (PromoteLearner(4), Membership({1, 2, 3, 4})),
        (RemoveMember(2), Membership({1, 3}, learners={4})),
        (RemoveMember(4), Membership({1, 2, 3})),
        (ReplaceMember(3, 5), Membership({1, 2, 5}, learners={4})),
    ],
)
def test_a_change_asks_for_the_configuration_it_names(change: object, wanted: Membership) -> None:
    assert target(THREE, change) == wanted  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (AddVoter(1), "already a voter"),
        (AddLearner(4), "already a member"),
        (PromoteLearner(2), "not a learner"),
        (RemoveMember(9), "not a member"),
        (ReplaceMember(4, 5), "not a voter"),
        (ReplaceMember(1, 2), "already a member"),
    ],
)
def test_a_change_that_makes_no_sense_is_refused(change: object, reason: str) -> None:
    with pytest.raises(MembershipChangeRefused, match=reason):
        target(THREE, change)  # type: ignore[arg-type]


def test_the_last_voter_cannot_be_removed() -> None:
    with pytest.raises(MembershipChangeRefused, match="last voter"):
        target(Membership({1}), RemoveMember(1))


def test_one_voter_changing_is_reached_directly() -> None:
    wanted = target(THREE, AddVoter(5))
    assert transition(THREE, wanted) == wanted


def test_two_voters_changing_go_through_a_joint_configuration() -> None:
    wanted = target(THREE, ReplaceMember(3, 5))
    joint = transition(THREE, wanted)
    assert joint == Membership({1, 2, 5}, voters_outgoing={1, 2, 3}, learners={4}, auto_leave=True)
    assert joint.left_joint() == wanted


def test_a_demoted_voter_keeps_voting_in_the_outgoing_half_until_the_leave() -> None:
    wanted = Membership({1, 4, 5}, learners={2})  # 2 becomes a learner, 3 goes
    joint = transition(Membership({1, 2, 3}), wanted)
    assert joint.learners_next == {2} and 2 in joint.voters_outgoing
    assert dict(roles(joint)) == {
        1: MemberRole.VOTER,
        2: MemberRole.DEMOTING_VOTER,
        3: MemberRole.LEAVING_VOTER,
        4: MemberRole.JOINING_VOTER,
        5: MemberRole.JOINING_VOTER,
    }
    assert joint.left_joint() == wanted


def test_a_joint_configuration_must_be_left_before_the_next_change() -> None:
    joint = Membership({1, 2, 5}, voters_outgoing={1, 2, 3}, auto_leave=True)
    with pytest.raises(MembershipChangeRefused, match="joint"):
        target(joint, AddLearner(6))


@pytest.mark.parametrize(
    ("words", "change"),
    [
        (["add-voter", "4"], AddVoter(4)),
        (["add-learner", "4"], AddLearner(4)),
        (["promote", "4"], PromoteLearner(4)),
        (["remove", "3"], RemoveMember(3)),
        (["replace", "3", "4"], ReplaceMember(3, 4)),
    ],
)
def test_parse_change_reads_what_an_operator_types(words: list[str], change: object) -> None:
    assert parse_change(words) == change


@pytest.mark.parametrize(
    "words", [[], ["grow", "4"], ["remove"], ["replace", "3"], ["remove", "x"]]
)
def test_parse_change_names_the_problem(words: list[str]) -> None:
    with pytest.raises(ValueError):
        parse_change(words)
