"""Durability: the accepted epoch, the current epoch and the history survive a
restart exactly as written; storage that breaks ZAB's invariants is refused."""

from __future__ import annotations

from random import Random
from typing import Any

import pytest

from pyconsensus.core.errors import ConfigError, StorageCorruption
from pyconsensus.core.ready import Write
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Entry, MetaValue
from pyconsensus.zab import (
    ACCEPTED_EPOCH_KEY,
    CURRENT_EPOCH_KEY,
    PeerState,
    ZabConfig,
    ZabNode,
    Zxid,
)
from tests.zab.support import give_up_leadership, settle, zab_cluster


def test_epochs_and_history_survive_a_restart() -> None:
    h = zab_cluster()
    leader = settle(h)
    h.propose(leader, b"x")
    h.stabilize()
    give_up_leadership(h, leader)  # a second epoch
    leader = settle(h)
    h.propose(leader, b"y")
    h.stabilize()
    for member in h.members:
        node = h.node(member)
        state = (node.accepted_epoch, node.current_epoch, node.history.last_zxid)
        h.crash(member)
        h.restart(member)
        restarted = h.node(member)
        assert (
            restarted.accepted_epoch,
            restarted.current_epoch,
            restarted.history.last_zxid,
        ) == state
        assert state == (2, 2, Zxid(2, 2))


def test_a_restarted_server_starts_looking_and_recovers_its_snapshot() -> None:
    h = zab_cluster()
    leader = settle(h)
    for k in range(4):
        h.propose(leader, b"%d" % k)
    h.stabilize()
    meta = h.compact(2, 3, b"state@3")
    h.flush(2)
    h.crash(2)
    before = len(h.readies[2])
    h.restart(2)
    node = h.node(2)
    assert node.state is PeerState.LOOKING
    assert (node.history.base_index, node.history.last_index) == (3, 4)
    assert node.commit == node.applied == 3
    assert h.readies[2][before].restore == meta


def test_a_new_epoch_survives_a_restart_of_every_server() -> None:
    h = zab_cluster()
    settle(h)
    for member in h.members:
        h.crash(member)
    h.pending.clear()
    for member in h.members:
        h.restart(member)
    leader = settle(h)
    # Each epoch is above every epoch accepted before the restart.
    assert h.node(leader).current_epoch == 2


def storage_with(metadata: dict[str, MetaValue], entries: list[Entry]) -> MemoryStorage:
    storage = MemoryStorage()
    storage.write(Write(metadata=metadata, entries=entries))
    return storage


@pytest.mark.parametrize(
    ("metadata", "entries", "complaint"),
    [
        ({ACCEPTED_EPOCH_KEY: "one"}, [], "not non-negative integers"),
        ({ACCEPTED_EPOCH_KEY: 1, CURRENT_EPOCH_KEY: -1}, [], "not non-negative integers"),
        ({ACCEPTED_EPOCH_KEY: 1, CURRENT_EPOCH_KEY: 2}, [], "above the accepted epoch"),
        (
            {ACCEPTED_EPOCH_KEY: 1, CURRENT_EPOCH_KEY: 1},
            [Entry(1, 1), Entry(3, 1)],
            "hole",
        ),
        (
            {ACCEPTED_EPOCH_KEY: 2, CURRENT_EPOCH_KEY: 2},
            [Entry(1, 2), Entry(2, 1)],
            "backwards",
        ),
        ({ACCEPTED_EPOCH_KEY: 2, CURRENT_EPOCH_KEY: 1}, [Entry(1, 2)], "beyond the current"),
    ],
)
def test_storage_that_breaks_the_invariants_is_refused(
    metadata: dict[str, MetaValue], entries: list[Entry], complaint: str
) -> None:
    storage = storage_with(metadata, entries)
    with pytest.raises(StorageCorruption, match=complaint):
        ZabNode(1, [1, 2, 3], storage, Random(0))


def test_members_must_include_the_node_and_be_non_negative_ids() -> None:
    with pytest.raises(ConfigError):
        ZabNode(4, [1, 2, 3], MemoryStorage(), Random(0))
    with pytest.raises(ConfigError):
        ZabNode(1, [1, -2, 3], MemoryStorage(), Random(0))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"notify_ticks": 0},
        {"finalize_ticks": -1},
        {"heartbeat_ticks": 10, "sync_ticks": 10},
        {"sync_ticks": 30, "init_ticks": 20},
        {"max_entries_per_message": 0},
    ],
)
def test_inconsistent_configurations_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ZabConfig(**kwargs)
