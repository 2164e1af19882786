"""Reliable broadcast, eager and lazy: agreement even when the sender crashes mid-send."""

from __future__ import annotations

from pyconsensus.broadcast import (
    BroadcastConfig,
    Data,
    EagerReliableBroadcast,
    Heartbeat,
    LazyReliableBroadcast,
    MessageId,
)
from pyconsensus.sim import Harness
from tests.broadcast.support import data_copies, group, payloads

LAZY = BroadcastConfig(heartbeat_ticks=1, suspect_ticks=5, suspect_backoff_ticks=4)


def count_data(h: Harness[EagerReliableBroadcast] | Harness[LazyReliableBroadcast]) -> int:
    return sum(isinstance(m, Data) for rs in h.readies.values() for r in rs for m in r.messages)


# -- eager -------------------------------------------------------------------


def test_eager_relays_a_message_the_first_time_it_delivers_it() -> None:
    h = group(EagerReliableBroadcast, members=(1, 2, 3, 4))
    h.propose(1, b"x")
    h.deliver(to=2, src=1)
    relays = [m for m in data_copies(h) if m.src == 2]
    # Not back to the origin, nor to itself.
    assert sorted(m.dst for m in relays) == [3, 4]
    assert all(m.origin == 1 and m.seq == 1 for m in relays)
    h.deliver(to=3, src=2)  # node 3 gets node 2's relay first: it relays to node 4 only
    assert sorted(m.dst for m in data_copies(h) if m.src == 3) == [4]
    h.deliver(to=3, src=1)  # the origin's copy is now a duplicate: not delivered again
    assert payloads(h.applied[3]) == [b"x"]
    assert h.node(3).counters["ignored.duplicate"] == 1


def test_eager_agreement_when_the_sender_crashes_after_reaching_one_member() -> None:
    h = group(EagerReliableBroadcast, members=(1, 2, 3, 4))
    h.propose(1, b"x")
    h.deliver(to=2, src=1)
    h.drop(src=1)
    h.crash(1)
    h.stabilize()
    for member in (2, 3, 4):
        assert payloads(h.applied[member]) == [b"x"]


def test_eager_relays_are_retransmitted_until_acknowledged() -> None:
    h = group(EagerReliableBroadcast, config=BroadcastConfig(retransmit_ticks=2))
    h.propose(1, b"x")
    h.deliver(to=2, src=1)
    h.drop(src=1)
    h.crash(1)
    h.drop(src=2, types=Data)  # the relay to 3 is lost too
    h.tick(2, 2)
    h.stabilize()
    assert payloads(h.applied[3]) == [b"x"]


def test_eager_costs_n_minus_1_squared_copies_per_broadcast() -> None:
    for n in (3, 5, 7):
        h = group(EagerReliableBroadcast, members=range(1, n + 1))
        h.propose(1, b"x")
        h.stabilize()
        assert count_data(h) == (n - 1) ** 2


# -- lazy --------------------------------------------------------------------


def test_lazy_sends_only_the_origins_copies_while_the_origin_is_alive() -> None:
    for n in (3, 5, 7):
        h = group(LazyReliableBroadcast, members=range(1, n + 1), config=LAZY)
        h.propose(1, b"x")
        h.stabilize()
        assert count_data(h) == n - 1
        assert all(payloads(h.applied[m]) == [b"x"] for m in h.members)


def lose_to_all_but_2() -> Harness[LazyReliableBroadcast]:
    """Node 1 broadcasts, reaches node 2 only, and crashes."""
    h = group(LazyReliableBroadcast, config=LAZY)
    h.tick_all()
    h.stabilize()  # everyone has heard everyone once
    h.propose(1, b"x")
    h.deliver(to=2, src=1, types=Data)
    h.drop(src=1)
    h.crash(1)
    return h


def test_lazy_relays_once_the_failure_detector_suspects_the_origin() -> None:
    h = lose_to_all_but_2()
    for _ in range(LAZY.suspect_ticks - 1):
        h.tick_all()
        assert not [m for m in data_copies(h) if m.src == 2]  # not suspected yet: no relay
        h.stabilize()
    h.tick(2)
    assert h.node(2).detector.suspects(1)
    assert [m.dst for m in data_copies(h) if m.src == 2] == [3]
    h.stabilize()
    assert payloads(h.applied[3]) == [b"x"]


def test_lazy_relays_at_once_when_the_origin_restarts_before_its_timeout() -> None:
    h = lose_to_all_but_2()
    h.restart(1)
    h.tick(1)  # the new incarnation announces itself
    h.deliver(to=2, src=1, types=Heartbeat)
    assert not h.node(2).detector.suspects(1)
    assert [m.dst for m in data_copies(h) if m.src == 2] == [3]
    h.stabilize()
    assert payloads(h.applied[3]) == [b"x"]


def test_lazy_relays_a_copy_that_arrives_after_its_origin_was_suspected() -> None:
    h = group(LazyReliableBroadcast, config=LAZY)
    h.propose(1, b"x")
    late = h.drop(to=2, src=1, types=Data)[0]
    h.drop(src=1)
    h.crash(1)
    for _ in range(LAZY.suspect_ticks):
        h.tick_all()
        h.stabilize()
    assert h.node(2).detector.suspects(1)
    h.node(2).receive(late)
    h.flush(2)
    assert [m.dst for m in data_copies(h) if m.src == 2] == [3]


def test_a_wrong_suspicion_costs_a_round_of_relays_never_correctness() -> None:
    h = group(LazyReliableBroadcast, config=LAZY)
    h.propose(1, b"x")
    h.stabilize()
    h.cut(1, 2)  # node 2 stops hearing node 1, which is alive
    for _ in range(LAZY.suspect_ticks):
        h.tick_all()
        h.stabilize()
    assert h.node(2).detector.suspects(1)
    assert h.node(3).counters["ignored.duplicate"] == 1  # node 2's relay of x
    h.heal()
    h.tick(1)
    h.stabilize()
    detector = h.node(2).detector
    assert not detector.suspects(1)
    assert detector.timeout(1) == LAZY.suspect_ticks + LAZY.suspect_backoff_ticks
    assert [payloads(h.applied[m]) for m in h.members] == [[b"x"]] * 3


def test_lazy_forgets_messages_once_their_origin_reports_them_stable() -> None:
    h = group(LazyReliableBroadcast, config=LAZY)
    for k in range(5):
        h.propose(1, b"m%d" % k)
    h.stabilize()  # every copy acknowledged
    assert len(h.node(2).stored) == 5
    h.tick(1)  # the heartbeat says: stable up to 5
    h.stabilize()
    assert h.node(2).stored == {}
    assert h.node(2).counters["forgotten.stable"] == 5


def test_lazy_keeps_what_is_not_stable_yet() -> None:
    h = group(LazyReliableBroadcast, config=LAZY)
    h.propose(1, b"a")
    h.stabilize()
    h.propose(1, b"b")
    h.drop(to=3, types=Data)  # b is unacknowledged by 3
    h.stabilize()
    h.tick(1)
    h.stabilize()
    assert list(h.node(2).stored) == [MessageId(1, 2)]


def test_lazy_forgets_a_relayed_message_once_every_member_acknowledged_the_relay() -> None:
    h = lose_to_all_but_2()
    for _ in range(LAZY.suspect_ticks):
        h.tick_all()
        h.stabilize()
    node = h.node(2)
    assert node.counters["relayed"] == 1
    assert node.stored == {}
    assert node.idle


def test_a_group_of_one_delivers_to_itself_and_sends_nothing() -> None:
    for variant in (EagerReliableBroadcast, LazyReliableBroadcast):
        h = group(variant, members=(1,))
        h.propose(1, b"x")
        h.tick(1, 50)
        assert payloads(h.applied[1]) == [b"x"]
        assert h.pending == []


def test_in_a_group_of_two_there_is_nobody_to_relay_to() -> None:
    h = group(EagerReliableBroadcast, members=(1, 2))
    h.propose(1, b"x")
    h.stabilize()
    assert count_data(h) == 1
    assert payloads(h.applied[2]) == [b"x"]
