"""Best-effort broadcast and what every primitive shares: ids, delivery, links, durability."""

from __future__ import annotations

import itertools
from random import Random

import pytest

from pyconsensus.broadcast import (
    Ack,
    BestEffortBroadcast,
    BroadcastConfig,
    Data,
    MessageId,
    ReadUnsupported,
)
from pyconsensus.broadcast.node import INCARNATION_KEY, SEQ_KEY
from pyconsensus.core.errors import ConfigError, ProposalTooLarge, StorageCorruption
from pyconsensus.core.ready import ProposalCommitted, RequestFailed, Write
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Entry, Role
from tests.broadcast.support import data_copies, group, ids, payloads


def test_the_sender_delivers_its_broadcast_at_once_and_answers_the_request() -> None:
    h = group(BestEffortBroadcast)
    rid = h.propose(1, b"x")
    assert h.applied[1] == [Entry(1, MessageId(1, 1).packed, b"x")]
    assert h.replies[1] == [ProposalCommitted(rid, 1)]


def test_every_member_delivers_a_broadcast_of_a_correct_sender() -> None:
    h = group(BestEffortBroadcast)
    h.propose(1, b"x")
    assert sorted(m.dst for m in data_copies(h)) == [2, 3]
    h.stabilize()
    for member in (1, 2, 3):
        assert ids(h.applied[member]) == [MessageId(1, 1)]
        assert payloads(h.applied[member]) == [b"x"]


def test_each_member_numbers_its_deliveries_in_the_order_it_made_them() -> None:
    h = group(BestEffortBroadcast)
    h.propose(1, b"from 1")
    h.propose(3, b"from 3")
    h.deliver(to=2, src=3)
    h.deliver(to=2, src=1)
    assert [(e.index, e.data) for e in h.applied[2]] == [(1, b"from 3"), (2, b"from 1")]


def test_nothing_is_promised_when_the_sender_crashes_mid_send() -> None:
    """Best effort: a copy that had not left when the sender crashed is lost."""
    h = group(BestEffortBroadcast)
    h.propose(1, b"x")
    h.deliver(to=2, src=1)
    h.drop(to=3, src=1)
    h.crash(1)
    for _ in range(50):
        h.tick(2)
        h.tick(3)
        h.stabilize()
    assert payloads(h.applied[2]) == [b"x"]
    assert payloads(h.applied[3]) == []


def test_a_lost_copy_is_sent_again_until_it_is_acknowledged() -> None:
    """Retransmission turns fair-lossy links into reliable ones."""
    h = group(BestEffortBroadcast, config=BroadcastConfig(retransmit_ticks=3))
    h.propose(1, b"x")
    h.deliver(to=2)
    h.drop(to=3)
    h.stabilize()  # node 2's acknowledgement reaches node 1
    h.tick(1, 2)
    assert data_copies(h) == []
    h.tick(1)
    assert [(m.dst, m.data) for m in data_copies(h)] == [(3, b"x")]  # not to 2: it acked
    h.stabilize()
    assert payloads(h.applied[3]) == [b"x"]
    assert h.node(1).idle
    h.tick(1, 100)
    assert data_copies(h) == []


def test_retransmissions_back_off_up_to_a_ceiling() -> None:
    config = BroadcastConfig(retransmit_ticks=2, max_retransmit_ticks=8)
    h = group(BestEffortBroadcast, members=(1, 2), config=config)
    h.propose(1, b"x")
    h.drop()
    sent_at = []
    for tick in range(1, 40):
        h.tick(1)
        if h.drop():
            sent_at.append(tick)
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert sent_at[0] == 2
    assert gaps[:3] == [4, 8, 8]
    assert set(gaps[2:]) == {8}


def test_a_duplicate_copy_is_delivered_once_but_acknowledged_again() -> None:
    """The sender may have missed the first acknowledgement."""
    h = group(BestEffortBroadcast)
    h.propose(1, b"x")
    copy = next(m for m in data_copies(h) if m.dst == 2)
    for _ in range(2):
        h.node(2).receive(copy)
        h.flush(2)
    assert payloads(h.applied[2]) == [b"x"]
    assert h.node(2).counters["ignored.duplicate"] == 1
    acks = [m for m in h.pending if isinstance(m, Ack) and m.src == 2]
    assert len(acks) == 2


def test_without_retransmission_nothing_is_acknowledged_and_a_lost_copy_is_lost() -> None:
    h = group(BestEffortBroadcast, config=BroadcastConfig(retransmit_ticks=0))
    h.propose(1, b"x")
    h.drop(to=3)
    h.stabilize()
    assert not any(isinstance(m, Ack) for ready in h.readies[2] for m in ready.messages)
    h.tick(1, 100)
    h.stabilize()
    assert payloads(h.applied[3]) == []


def test_sequence_number_and_incarnation_are_written_before_any_copy_leaves() -> None:
    h = group(BestEffortBroadcast)
    first = h.readies[1][0]
    assert first.write is not None and first.write.metadata == {INCARNATION_KEY: 1}
    h.propose(1, b"x")
    ready = h.readies[1][-1]
    assert ready.write is not None and ready.write.metadata == {SEQ_KEY: 1}
    assert any(isinstance(m, Data) for m in ready.messages)


def test_a_restarted_member_is_a_new_incarnation_that_never_reuses_an_id() -> None:
    h = group(BestEffortBroadcast)
    h.propose(1, b"before")
    h.stabilize()
    h.crash(1)
    h.restart(1)
    node = h.node(1)
    assert node.incarnation == 2
    assert node.status().term == 2
    h.propose(1, b"after")
    # A new process: its own deliveries count from 1 again, its ids go on.
    assert [(e.index, MessageId.of(e)) for e in h.applied[1]] == [(1, MessageId(1, 2))]
    h.stabilize()
    assert ids(h.applied[2]) == [MessageId(1, 1), MessageId(1, 2)]


def test_a_broadcast_whose_write_never_happened_never_left() -> None:
    """Its id may be used again: no copy of it exists anywhere."""
    h = group(BestEffortBroadcast)
    h.node(1).propose(b"lost")  # the driver crashes before handling the batch
    h.crash(1)
    h.restart(1)
    assert h.pending == []
    h.propose(1, b"kept")
    h.stabilize()
    assert ids(h.applied[2]) == [MessageId(1, 1)]
    assert payloads(h.applied[2]) == [b"kept"]


def test_a_broadcast_above_the_size_limit_is_refused() -> None:
    h = group(BestEffortBroadcast, config=BroadcastConfig(max_payload_bytes=4))
    rid = h.propose(1, b"12345")
    assert h.replies[1] == [RequestFailed(rid, ProposalTooLarge(5, 4))]
    assert h.applied[1] == [] and h.pending == []
    with pytest.raises(TypeError):
        h.node(1).propose("text")  # type: ignore[arg-type]


def test_reads_are_refused_with_a_typed_error() -> None:
    h = group(BestEffortBroadcast)
    rid = h.read(1)
    assert h.replies[1] == [RequestFailed(rid, ReadUnsupported())]


def test_status_and_compaction() -> None:
    h = group(BestEffortBroadcast)
    h.propose(1, b"x")
    status = h.node(1).status()
    assert (status.role, status.leader, status.commit_index, status.applied_index) == (
        Role.FOLLOWER,
        None,
        1,
        1,
    )
    h.node(1).compact(1, SnapshotMeta(1, 0, None, 0, ""))  # nothing is kept: nothing to discard
    with pytest.raises(ValueError):
        h.node(1).compact(2, SnapshotMeta(2, 0, None, 0, ""))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"retransmit_ticks": -1},
        {"retransmit_ticks": 30, "max_retransmit_ticks": 20},
        {"heartbeat_ticks": 10, "suspect_ticks": 10},
        {"suspect_ticks": 0},
        {"max_payload_bytes": 0},
        {"suspect_backoff_ticks": "5"},
    ],
)
def test_nonsensical_configuration_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        BroadcastConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("node_id", "members"), [(4, [1, 2, 3]), (1, [1, -2]), (1, [1, 2**32])])
def test_bad_membership_is_refused(node_id: int, members: list[int]) -> None:
    with pytest.raises(ConfigError):
        BestEffortBroadcast(node_id, members, MemoryStorage(), Random(0))


@pytest.mark.parametrize("key", [INCARNATION_KEY, SEQ_KEY])
def test_garbage_in_storage_is_reported_not_trusted(key: str) -> None:
    storage = MemoryStorage()
    storage.write(Write(metadata={key: b"seven"}))
    with pytest.raises(StorageCorruption):
        BestEffortBroadcast(1, [1, 2], storage, Random(0))
