"""The heartbeat failure detector: complete, and eventually accurate."""

from __future__ import annotations

from pyconsensus.broadcast import FailureDetector


def test_a_silent_peer_is_suspected_when_its_timeout_elapses() -> None:
    fd = FailureDetector([2, 3], timeout_ticks=3, backoff_ticks=2)
    assert fd.tick() == [] and fd.tick() == []
    fd.heard_from(3, 1)
    assert fd.tick() == [2]
    assert fd.suspects(2) and not fd.suspects(3)
    assert fd.tick() == []  # reported once, suspected still
    assert fd.suspects(2)


def test_a_wrong_suspicion_is_withdrawn_and_makes_the_detector_more_patient() -> None:
    fd = FailureDetector([2], timeout_ticks=2, backoff_ticks=3)
    fd.heard_from(2, 1)
    fd.tick()
    fd.tick()
    assert fd.suspects(2)
    assert fd.heard_from(2, 1) is False
    assert not fd.suspects(2)
    assert fd.false_suspicions == 1
    assert fd.timeout(2) == 5
    assert [fd.tick() for _ in range(5)] == [[], [], [], [], [2]]


def test_a_newer_incarnation_proves_the_older_ones_crashed() -> None:
    """A member that restarts faster than any timeout is still noticed."""
    fd = FailureDetector([2], timeout_ticks=10, backoff_ticks=5)
    fd.heard_from(2, 1)
    assert not fd.crashed(2, 1)
    assert fd.heard_from(2, 2) is True
    assert fd.crashed(2, 1) and not fd.crashed(2, 2)
    assert fd.timeout(2) == 10  # that was no false suspicion


def test_news_from_an_older_incarnation_is_no_sign_of_life() -> None:
    fd = FailureDetector([2], timeout_ticks=2, backoff_ticks=5)
    fd.heard_from(2, 3)
    fd.tick()
    assert fd.heard_from(2, 2) is False
    assert fd.tick() == [2]
    assert fd.incarnation(2) == 3


def test_an_incarnation_learnt_second_hand_does_not_count_as_a_heartbeat() -> None:
    fd = FailureDetector([2], timeout_ticks=2, backoff_ticks=5)
    assert fd.learn_incarnation(2, 4) is True
    assert fd.learn_incarnation(2, 4) is False
    assert fd.crashed(2, 3)
    fd.tick()
    assert fd.tick() == [2]
