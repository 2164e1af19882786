"""The shared contract as ``MultiPaxosNode`` implements it: construction, storage,
proposals, compaction and status."""

from __future__ import annotations

from random import Random

import pytest

from pyconsensus.core.errors import ConfigError, ProposalTooLarge, StorageCorruption
from pyconsensus.core.ready import Write
from pyconsensus.core.snapshots import write_snapshot
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Entry, Role
from pyconsensus.paxos import PROMISED_KEY, Ballot, MultiPaxosNode, PaxosConfig
from pyconsensus.paxos.ballot import MAX_NODE_ID
from pyconsensus.paxos.slots import SlotLog
from tests.paxos.support import cluster, error_of, start_phase1


def node_with(storage: MemoryStorage, node_id: int = 1) -> MultiPaxosNode:
    return MultiPaxosNode(node_id, [1, 2, 3], storage, Random(0))


@pytest.mark.parametrize(
    ("node_id", "members"),
    [(4, [1, 2, 3]), (1, [1, -2, 3]), (1, [1, MAX_NODE_ID + 1]), (1, [1, "2"])],
)
def test_bad_membership_is_refused(node_id: int, members: list[object]) -> None:
    with pytest.raises(ConfigError):
        MultiPaxosNode(node_id, members, MemoryStorage(), Random(0))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"election_ticks": 0},
        {"heartbeat_ticks": 10},
        {"retry_ticks": -1},
        {"max_backoff_exponent": -1},
        {"max_entries_per_message": 0},
    ],
)
def test_bad_config_is_refused(changes: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        PaxosConfig(**changes)  # type: ignore[arg-type]


def test_node_recovers_promise_and_accepted_slots_with_holes_from_storage() -> None:
    storage = MemoryStorage()
    ballot = Ballot(4, 2)
    storage.write(
        Write(
            metadata={PROMISED_KEY: ballot.packed},
            entries=[Entry(3, ballot.packed, b"c"), Entry(5, Ballot(2, 1).packed, b"e")],
        )
    )
    node = node_with(storage)
    assert node.promised == ballot
    assert [node.log.get(s) is not None for s in range(1, 6)] == [False, False, True, False, True]
    assert node.status().term == ballot.packed
    assert node.status().last_index == 5


def test_node_resumes_from_its_snapshot() -> None:
    storage = MemoryStorage()
    meta = write_snapshot(storage.snapshots, 8, Ballot(1, 1).packed, b"state")
    storage.write(Write(metadata={PROMISED_KEY: Ballot(1, 1).packed}, snapshot=meta))
    node = node_with(storage)
    ready = node.ready()
    assert ready.restore == meta
    assert node.learned == node.applied == node.log.base == 8


@pytest.mark.parametrize(
    "write",
    [
        Write(metadata={PROMISED_KEY: "high"}),
        Write(metadata={PROMISED_KEY: -1}),
        Write(
            metadata={PROMISED_KEY: Ballot(1, 1).packed}, entries=[Entry(1, Ballot(2, 1).packed)]
        ),
    ],
)
def test_corrupt_storage_is_refused(write: Write) -> None:
    storage = MemoryStorage()
    storage.write(write)
    with pytest.raises(StorageCorruption):
        node_with(storage)


def test_proposal_must_be_bytes_and_within_the_size_limit() -> None:
    h = cluster(config=PaxosConfig(max_entry_bytes=4))
    h.elect(1)
    with pytest.raises(TypeError):
        h.node(1).propose("text")  # type: ignore[arg-type]
    error = error_of(h, 1, h.propose(1, b"12345"))
    assert isinstance(error, ProposalTooLarge) and error.limit == 4


def test_compaction_keeps_later_slots_and_refuses_unapplied_ones() -> None:
    h = cluster()
    h.elect(1)
    for data in (b"a", b"b", b"c"):
        h.propose(1, data)
    h.stabilize()
    node = h.node(2)
    with pytest.raises(ValueError, match="applied"):
        h.compact(2, node.applied + 1, b"s")
    h.compact(2, 2, b"state@2")
    h.flush(2)
    h.compact(2, 1, b"older")  # at or below the snapshot: nothing to do
    assert node.snapshot is not None and node.snapshot.index == 2
    assert node.log.base == 2 and node.log.get(3) is not None
    assert h.storages[2].snapshot() == node.snapshot
    assert [e.index for e in h.storages[2].entries(1, 10)] == [3]


def test_status_maps_paxos_roles_onto_the_shared_vocabulary() -> None:
    h = cluster()
    assert h.node(1).status().role is Role.FOLLOWER
    ballot = start_phase1(h, 1)
    status = h.node(1).status()
    assert status.role is Role.CANDIDATE and status.leader is None
    h.stabilize()
    status = h.node(1).status()
    assert status.role is Role.LEADER
    assert status.leader == 1 and status.term == ballot.packed
    assert h.node(2).status().leader == 1


def test_slot_log_puts_runs_anywhere_above_its_base() -> None:
    log = SlotLog(base=10)
    log.put([Entry(14, 1), Entry(15, 1)])
    log.put([Entry(12, 2)])
    log.put([Entry(15, 3), Entry(16, 3)])
    assert [e.index if e else None for e in log.slots] == [None, 12, None, 14, 15, 16]
    assert [e.term for e in log.entries_from(13)] == [1, 3, 3]
    with pytest.raises(ValueError, match="base"):
        log.put([Entry(10, 1)])
    log.compact_to(14, 1)
    assert log.base == 14 and log.last_index == 16 and log.get(14) is None
