"""What no correct member sends is dropped, counted, and changes nothing."""

from __future__ import annotations

import pytest

from pyconsensus.broadcast import (
    Ack,
    AtomicBroadcast,
    AtomicBroadcastConfig,
    BestEffortBroadcast,
    BroadcastConfig,
    BroadcastNode,
    Data,
    EagerReliableBroadcast,
    Forward,
    Heartbeat,
    LazyReliableBroadcast,
)
from tests.broadcast.support import atomic_group, group

# Member 1 of the group {1, 2, 3} receives these; the payload limit is 8 bytes.
BAD: list[tuple[object, str]] = [
    ("hello", "unknown_type"),
    (None, "unknown_type"),
    (Forward(2, 1, 1, b"x"), "unknown_type"),  # only atomic broadcast forwards
    (Data(2, 9, 2, 1, 1, b"x"), "wrong_destination"),
    (Data(7, 1, 2, 1, 1, b"x"), "unknown_sender"),
    (Data(1, 1, 2, 1, 1, b"x"), "unknown_sender"),  # from itself
    (Data(2, 1, 9, 1, 1, b"x"), "unknown_origin"),
    (Data(2, 1, 1, 1, 1, b"x"), "own_message"),
    (Data(2, 1, 2, 0, 1, b"x"), "bad_sequence"),
    (Data(2, 1, 2, -1, 1, b"x"), "bad_sequence"),
    (Data(2, 1, 2, "1", 1, b"x"), "bad_sequence"),  # type: ignore[arg-type]
    (Data(2, 1, 2, True, 1, b"x"), "bad_sequence"),
    (Data(2, 1, 2, 1, 0, b"x"), "bad_incarnation"),
    (Data(2, 1, 2, 1, None, b"x"), "bad_incarnation"),  # type: ignore[arg-type]
    (Data(2, 1, 2, 1, 1, "x"), "malformed"),  # type: ignore[arg-type]
    (Data(2, 1, [2], 1, 1, b"x"), "malformed"),  # type: ignore[arg-type]
    (Data(2, 1, 2, 1, 1, b"123456789"), "too_large"),
    (Ack(2, 1, 9, 1), "unknown_origin"),
    (Ack(2, 1, 1, 0), "bad_sequence"),
    (Ack(4, 1, 1, 1), "unknown_sender"),
    (Heartbeat(2, 1, 0, 0), "bad_incarnation"),
    (Heartbeat(2, 1, 1, -1), "bad_sequence"),
    (Heartbeat(2, 1, 1, "0"), "bad_sequence"),  # type: ignore[arg-type]
    (Heartbeat(2, 3, 1, 0), "wrong_destination"),
]

VARIANTS = [BestEffortBroadcast, EagerReliableBroadcast, LazyReliableBroadcast]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("message", "reason"), BAD)
def test_bad_messages_are_dropped_and_counted(
    variant: type[BroadcastNode], message: object, reason: str
) -> None:
    h = group(variant, config=BroadcastConfig(max_payload_bytes=8))
    node = h.node(1)
    before = (node.delivered, dict(node.unacked), node.seq)
    node.receive(message)
    assert node.counters["dropped." + reason] == 1
    assert sum(v for k, v in node.counters.items() if k.startswith("dropped.")) == 1
    assert (node.delivered, dict(node.unacked), node.seq) == before
    assert not node.has_ready()


@pytest.mark.parametrize("variant", VARIANTS)
def test_an_acknowledgement_for_nothing_sent_is_ignored(variant: type[BroadcastNode]) -> None:
    h = group(variant)
    node = h.node(1)
    node.receive(Ack(2, 1, 3, 7))
    assert node.counters["ignored.stale_ack"] == 1
    assert not node.has_ready()


def test_members_without_a_failure_detector_ignore_heartbeats() -> None:
    h = group(EagerReliableBroadcast)
    h.node(1).receive(Heartbeat(2, 1, 1, 0))
    assert h.node(1).counters["ignored.heartbeat"] == 1


BAD_FORWARDS: list[tuple[object, str]] = [
    (Forward(2, 9, 1, b"x"), "wrong_destination"),
    (Forward(7, 1, 1, b"x"), "unknown_sender"),
    (Forward(1, 1, 1, b"x"), "unknown_sender"),
    (Forward(2, 1, 0, b"x"), "bad_sequence"),
    (Forward(2, 1, 1.5, b"x"), "bad_sequence"),  # type: ignore[arg-type]
    (Forward(2, 1, 1, "x"), "malformed"),  # type: ignore[arg-type]
    (Forward(2, 1, 1, b"x" * 100), "too_large"),
    (Forward([2], 1, 1, b"x"), "malformed"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("message", "reason"), BAD_FORWARDS)
def test_bad_forwards_are_dropped_and_counted(message: object, reason: str) -> None:
    h = atomic_group(config=AtomicBroadcastConfig(max_payload_bytes=50))
    h.elect(1)
    node = h.node(1)
    node.receive(message)
    assert node.counters["dropped." + reason] == 1
    assert not node.has_ready()


def test_the_facade_hands_everything_else_to_its_core() -> None:
    h = atomic_group()
    node: AtomicBroadcast = h.node(1)
    node.receive("hello")
    node.receive(Data(2, 1, 2, 1, 1, b"x"))
    assert node.counters["dropped.unknown_type"] == 2  # counted by the Raft core
