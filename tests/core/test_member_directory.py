"""The configuration's directory: each member's incarnation and address (issue 14, item 5)."""

from __future__ import annotations

import pytest

from pyconsensus.core.changes import (
    AddLearner,
    AddVoter,
    RecordIdentity,
    RemoveMember,
    ReplaceMember,
    target,
    transition,
)
from pyconsensus.core.errors import ConfigError, MembershipChangeRefused
from pyconsensus.core.membership import MemberInfo, Membership

ONE = MemberInfo(1, "aa11", "127.0.0.1:7101")
THREE = Membership({1, 2, 3}, directory=[ONE])


def test_a_membership_without_a_directory_encodes_as_before() -> None:
    text = "voters=1,2,3;outgoing=;learners=;learners_next=;auto_leave=0"
    assert Membership({1, 2, 3}).encode() == text
    assert Membership.decode(text) == Membership({1, 2, 3})


def test_the_directory_round_trips_through_the_encoding() -> None:
    text = THREE.encode()
    assert text.endswith(";directory=1@aa11@127.0.0.1:7101")
    assert Membership.decode(text) == THREE


@pytest.mark.parametrize(
    "text",
    [
        "voters=1;outgoing=;learners=;learners_next=;auto_leave=0;directory=",
        "voters=1;outgoing=;learners=;learners_next=;auto_leave=0;directory=9@a@b",
        "voters=1;outgoing=;learners=;learners_next=;auto_leave=0;directory=1@a",
        "voters=1;outgoing=;learners=;learners_next=;auto_leave=0;directory=1@a b@c",
        "voters=1;outgoing=;directory=1@a@b;learners=;learners_next=;auto_leave=0",
    ],
)
def test_a_malformed_directory_does_not_decode(text: str) -> None:
    with pytest.raises(ValueError):
        Membership.decode(text)


def test_a_directory_entry_of_a_non_member_is_refused() -> None:
    with pytest.raises(ConfigError):
        Membership({1}, directory=[MemberInfo(2)])


def test_an_added_member_brings_its_identity_into_the_directory() -> None:
    wanted = target(THREE, AddLearner(4, incarnation="bb", address="127.0.0.1:7104"))
    assert wanted.info(4) == MemberInfo(4, "bb", "127.0.0.1:7104")
    assert wanted.info(1) == ONE
    promoted = target(wanted, AddVoter(4))
    assert promoted.info(4) == MemberInfo(4, "bb", "127.0.0.1:7104")


def test_a_removed_member_leaves_the_directory() -> None:
    assert target(THREE, RemoveMember(1)).directory == ()


def test_a_replacement_keeps_the_directory_through_the_joint_configuration() -> None:
    wanted = target(THREE, ReplaceMember(1, 4, address="127.0.0.1:7104"))
    joint = transition(THREE, wanted)
    assert joint.is_joint
    assert joint.info(1) == ONE  # still an outgoing voter
    assert joint.info(4) == MemberInfo(4, "", "127.0.0.1:7104")
    left = joint.left_joint()
    assert left.info(1) is None
    assert left.info(4) == MemberInfo(4, "", "127.0.0.1:7104")


def test_recording_an_identity_changes_nobody_s_role() -> None:
    recorded = target(THREE, RecordIdentity(MemberInfo(2, "cc", "127.0.0.1:7102")))
    assert recorded.voters == THREE.voters
    assert recorded.info(2) == MemberInfo(2, "cc", "127.0.0.1:7102")
    assert transition(THREE, recorded) == recorded


def test_an_identity_is_recorded_for_members_only() -> None:
    with pytest.raises(MembershipChangeRefused, match="not a member"):
        target(THREE, RecordIdentity(MemberInfo(7, "cc")))
