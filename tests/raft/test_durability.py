"""Persistent state survives restarts; nothing is said before it is durable."""

from __future__ import annotations

import random

import pytest

from pyconsensus.core.errors import StorageCorruption
from pyconsensus.core.ready import Write
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Entry
from pyconsensus.raft import AppendEntriesResponse, RaftNode, RequestVoteResponse
from pyconsensus.raft.node import TERM_KEY, VOTE_KEY
from tests.raft.support import elected


def test_a_restarted_node_recovers_term_vote_and_log() -> None:
    h = elected(3)
    for i in range(3):
        h.propose(1, b"%d" % i)
    h.stabilize()
    before = (h.node(2).term, h.node(2).voted_for, list(h.node(2).log.entries))
    h.crash(2)
    h.restart(2)
    after = (h.node(2).term, h.node(2).voted_for, list(h.node(2).log.entries))
    assert after == before


def test_every_reply_travels_with_the_write_it_depends_on() -> None:
    """Across a whole run, whenever a node grants a vote or acknowledges entries,
    the state that makes it true is durable by the time the message is sent:
    either written in the same batch or earlier."""
    h = elected(5)
    for i in range(20):
        h.propose(1, b"%d" % i)
        if i % 3 == 0:
            h.stabilize()
    h.stabilize()
    for member in h.members:
        durable_last = 0
        for ready in h.readies[member]:
            if ready.write is not None and ready.write.entries:
                durable_last = max(durable_last, ready.write.entries[-1].index)
            for message in ready.messages:
                if isinstance(message, AppendEntriesResponse) and message.success:
                    assert message.index <= durable_last
                if isinstance(message, RequestVoteResponse) and message.granted:
                    stored = h.storages[member].metadata()[TERM_KEY]
                    assert isinstance(stored, int) and stored >= message.term


def test_unsynced_writes_are_lost_on_a_crash() -> None:
    storage = MemoryStorage()
    storage.write(Write(metadata={TERM_KEY: 1}))
    storage.stage(Write(metadata={TERM_KEY: 2}, entries=[Entry(1, 2)]))
    storage.crash()
    node = RaftNode(1, [1, 2, 3], storage, random.Random(0))
    assert (node.term, node.log.last_index) == (1, 0)


@pytest.mark.parametrize(
    ("write", "problem"),
    [
        (Write(metadata={TERM_KEY: -1}), "stored term"),
        (Write(metadata={TERM_KEY: "x"}), "stored term"),
        (Write(metadata={VOTE_KEY: b"me"}), "stored vote"),
        (Write(entries=[Entry(1, 2), Entry(2, 1)]), "term goes backwards"),
        (Write(entries=[Entry(1, 1), Entry(3, 1)]), "hole"),
        (Write(entries=[Entry(2, 1)]), "hole"),
    ],
)
def test_corrupt_durable_state_is_refused_at_startup(write: Write, problem: str) -> None:
    storage = MemoryStorage()
    storage.write(write)
    with pytest.raises(StorageCorruption, match=problem):
        RaftNode(1, [1, 2, 3], storage, random.Random(0))
