"""Atomic broadcast: any consensus core, one delivery interface, one total order."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from random import Random

import pytest

from pyconsensus.broadcast import (
    AtomicBroadcast,
    AtomicBroadcastConfig,
    Forward,
    MessageId,
    SequenceSet,
    core_factory,
)
from pyconsensus.broadcast.atomic import SEQ_KEY, decode_snapshot, encode_snapshot, wrap
from pyconsensus.core.errors import ConfigError, OutcomeUnknown, StorageCorruption
from pyconsensus.core.node import ConsensusNode
from pyconsensus.core.ready import ProposalCommitted, ReadReady, RequestFailed
from pyconsensus.core.snapshots import read_all
from pyconsensus.core.storage import MemoryStorage, Storage
from pyconsensus.core.types import EntryKind, NodeId, Role
from pyconsensus.raft import RaftConfig, RaftNode
from pyconsensus.sim import Harness
from tests.broadcast.support import atomic_group, ids, payloads

HAVE_ZAB = importlib.util.find_spec("pyconsensus.zab") is not None
PROTOCOLS = [
    "raft",
    "paxos",
    pytest.param("zab", marks=pytest.mark.skipif(not HAVE_ZAB, reason="ZAB not merged yet")),
]


def settle(h: Harness[AtomicBroadcast], leader: NodeId = 1, rounds: int = 4) -> None:
    """Let the leader's heartbeats spread what it committed."""
    for _ in range(rounds):
        h.tick(leader)
        h.stabilize()


def elect_any(h: Harness[AtomicBroadcast], max_ticks: int = 500) -> NodeId:
    """Tick everyone until some member leads and all follow it. (ZAB's election
    picks the best vote, not whoever times out first, so ``Harness.elect``
    cannot choose the winner for every protocol.)"""
    for _ in range(max_ticks):
        h.stabilize()
        leaders = [m for m in h.members if h.node(m).status().role is Role.LEADER]
        if len(leaders) == 1 and all(h.node(m).status().leader == leaders[0] for m in h.members):
            return leaders[0]
        h.tick_all()
    raise AssertionError(f"no leader within {max_ticks} ticks")


def shape(h: Harness[AtomicBroadcast], member: NodeId) -> list[tuple[int, EntryKind, bytes]]:
    return [(e.index, e.kind, e.data) for e in h.applied[member]]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_any_member_broadcasts_and_all_deliver_the_same_sequence(protocol: str) -> None:
    """Switching protocols is one argument; the application code does not change."""
    h = atomic_group(protocol)
    leader = elect_any(h)
    rids = {member: h.propose(member, b"from %d" % member) for member in (2, 3, 1)}
    settle(h, leader)
    for member in h.members:
        if member != leader:
            h.tick(member, AtomicBroadcastConfig().forward_retry_ticks)  # harmless if delivered
    settle(h, leader)
    sequences = [shape(h, m) for m in h.members]
    assert sequences[0] == sequences[1] == sequences[2]
    assert sorted(payloads(h.applied[1])) == [b"from 1", b"from 2", b"from 3"]
    # Each origin's request is answered with the position it was delivered at.
    for member, rid in rids.items():
        (reply,) = [r for r in h.replies[member] if r.request_id == rid]
        assert isinstance(reply, ProposalCommitted)
        entry = h.applied[member][reply.index - h.applied[member][0].index]
        assert MessageId.of(entry) == MessageId(member, 1)
        assert entry.data == b"from %d" % member


def test_a_follower_forwards_its_broadcast_to_the_leader() -> None:
    h = atomic_group()
    h.elect(1)
    h.propose(2, b"x")
    assert [(type(m), m.dst) for m in h.pending] == [(Forward, 1)]
    settle(h)
    assert payloads(h.applied[2]) == [b"x"]


def test_a_broadcast_made_while_no_leader_is_known_waits_for_one() -> None:
    h = atomic_group()
    h.propose(2, b"x")
    assert h.pending == []
    assert h.node(2).counters["forward.waiting_for_leader"] == 1
    h.elect(1)
    h.tick(2)
    assert any(isinstance(m, Forward) for m in h.pending)
    settle(h)
    assert payloads(h.applied[2]) == [b"x"]


def test_a_lost_forward_is_sent_again_after_the_retry_timeout() -> None:
    config = AtomicBroadcastConfig(forward_retry_ticks=5)
    h = atomic_group(config=config)
    h.elect(1)
    h.propose(2, b"x")
    h.drop(types=Forward)
    h.tick(2, 4)
    assert h.pending == []
    h.tick(2)
    assert [type(m) for m in h.pending] == [Forward]
    settle(h)
    assert payloads(h.applied[3]) == [b"x"]


def test_a_broadcast_ordered_twice_is_delivered_once_everywhere() -> None:
    """Two leaders may both order a broadcast that was handed over twice; the
    second copy becomes a no-op at the same position on every member."""
    h = atomic_group()
    h.elect(1)
    core = h.node(1).core
    core.propose(wrap(MessageId(2, 7), b"x"))
    core.propose(wrap(MessageId(2, 7), b"x"))
    h.flush(1)
    settle(h)
    tail = [(e.kind, e.data) for e in h.applied[3][-2:]]
    assert tail == [(EntryKind.NORMAL, b"x"), (EntryKind.NOOP, b"")]
    assert shape(h, 1) == shape(h, 2) == shape(h, 3)
    assert h.node(3).counters["suppressed.duplicate"] == 1


def test_the_delivered_ids_travel_inside_snapshots() -> None:
    """A member that catches up from a snapshot suppresses exactly what the
    others suppressed after it."""
    h = atomic_group()
    h.elect(1)
    h.isolate(3)
    h.propose(1, b"a")
    settle(h)
    index = h.applied[1][-1].index
    h.compact(1, index, b"app state")
    h.node(1).core.propose(wrap(MessageId(1, 1), b"a"))  # a late duplicate of a
    h.flush(1)
    settle(h)
    h.heal()
    settle(h, rounds=10)
    restores = [r.restore for r in h.readies[3] if r.restore is not None]
    assert [(s.index, read_all(h.node(3).payload(s))) for s in restores] == [(index, b"app state")]
    assert [(e.kind, e.data) for e in h.applied[3]] == [(EntryKind.NOOP, b"")]
    assert h.applied[3][-1] == h.applied[1][-1]


def test_a_snapshot_holds_the_ids_delivered_up_to_its_own_index() -> None:
    h = atomic_group()
    h.elect(1)
    for payload in (b"a", b"b", b"c"):
        h.propose(1, payload)
    settle(h)
    at_b = next(e.index for e in h.applied[1] if e.data == b"b")
    h.compact(1, at_b, b"state")
    h.flush(1)
    snapshot = h.storages[1].snapshot()
    assert snapshot is not None and snapshot.index == at_b
    seen, data = decode_snapshot(read_all(h.storages[1].snapshots.open(snapshot)), h.members)
    assert data == b"state"
    assert seen[1] == SequenceSet([(1, 2)])  # a and b, not c


def test_own_broadcast_inside_an_installed_snapshot_is_answered_as_unknown() -> None:
    """Like Raft, the facade does not name an index it never saw."""
    h = atomic_group()
    h.elect(1)
    rid = h.propose(3, b"x")
    h.deliver(types=Forward)
    h.isolate(3)
    settle(h)
    h.compact(1, h.applied[1][-1].index, b"state")
    h.heal()
    settle(h, rounds=10)
    assert h.replies[3] == [RequestFailed(rid, OutcomeUnknown(h.applied[1][-1].index))]


def test_a_restarted_member_replays_the_same_sequence() -> None:
    h = atomic_group()
    h.elect(1)
    for member in (1, 2, 3):
        h.propose(member, b"m%d" % member)
    core = h.node(1).core
    core.propose(wrap(MessageId(2, 1), b"m2"))  # and a duplicate
    h.flush(1)
    settle(h)
    before = shape(h, 2)
    h.crash(2)
    h.restart(2)
    settle(h)
    assert shape(h, 2) == before


def test_the_sequence_number_is_durable_and_written_before_the_forward() -> None:
    h = atomic_group()
    h.elect(1)
    h.propose(2, b"x")
    ready = h.readies[2][-1]
    assert ready.write is not None and ready.write.metadata[SEQ_KEY] == 1
    assert any(isinstance(m, Forward) for m in ready.messages)
    settle(h)
    h.crash(2)
    h.restart(2)
    h.propose(2, b"y")  # no leader known yet after the restart...
    settle(h)
    h.tick(2)  # ...until a heartbeat came: handed over at the next tick
    settle(h)
    assert ids(h.applied[1])[-2:] == [MessageId(2, 1), MessageId(2, 2)]


def test_reads_go_through_the_core() -> None:
    h = atomic_group()
    h.elect(1)
    h.propose(1, b"x")
    settle(h)
    rid = h.read(1)
    settle(h)
    assert [r for r in h.replies[1] if isinstance(r, ReadReady)] == [
        ReadReady(rid, h.applied[1][-1].index)
    ]
    rid = h.read(2)
    assert isinstance(h.replies[2][-1], RequestFailed) and h.replies[2][-1].request_id == rid


def test_an_entry_that_is_no_broadcast_is_delivered_as_a_noop() -> None:
    h = atomic_group()
    h.elect(1)
    h.node(1).core.propose(b"raw bytes")
    h.flush(1)
    settle(h)
    assert h.applied[2][-1].kind is EntryKind.NOOP
    assert h.node(2).counters["dropped.malformed_entry"] == 1


def test_a_broadcast_above_the_size_limit_is_refused() -> None:
    h = atomic_group(config=AtomicBroadcastConfig(max_payload_bytes=3))
    rid = h.propose(1, b"1234")
    assert isinstance(h.replies[1][-1], RequestFailed) and h.replies[1][-1].request_id == rid
    with pytest.raises(TypeError):
        h.node(1).propose(None)  # type: ignore[arg-type]


# -- choosing the core ---------------------------------------------------------


def test_an_unknown_protocol_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown protocol"):
        core_factory("pbft")


def test_a_node_factory_stands_in_for_a_protocol_name() -> None:
    built: list[NodeId] = []

    def factory(
        node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random
    ) -> ConsensusNode:
        built.append(node_id)
        return RaftNode(node_id, members, storage, rng, RaftConfig(pre_vote=False))

    node = AtomicBroadcast(1, [1, 2, 3], MemoryStorage(), Random(0), protocol=factory)
    assert built == [1] and node.protocol == "custom"
    with pytest.raises(ConfigError):
        core_factory(factory, RaftConfig())


def test_core_config_reaches_the_core() -> None:
    node = AtomicBroadcast(
        1, [1, 2, 3], MemoryStorage(), Random(0), core_config=RaftConfig(election_ticks=5)
    )
    assert isinstance(node.core, RaftNode) and node.core.config.election_ticks == 5


@pytest.mark.parametrize(
    "blob",
    [
        b"garbage",
        b"pcab1\x00\x00",
        encode_snapshot({9: SequenceSet([(1, 2)])}, b""),
        b"pcab1\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01" + b"\x00" * 16,
    ],
)
def test_an_unreadable_snapshot_is_storage_corruption(blob: bytes) -> None:
    with pytest.raises(StorageCorruption):
        decode_snapshot(blob, [1, 2, 3])


def test_snapshot_encoding_round_trips() -> None:
    seen = {1: SequenceSet([(1, 4), (6, 9)]), 2: SequenceSet(), 3: SequenceSet([(2, 2)])}
    assert decode_snapshot(encode_snapshot(seen, b"app"), [1, 2, 3]) == (seen, b"app")
