"""Malformed, misaddressed and nonsensical messages are dropped and counted;
the node never raises and its state does not change."""

from __future__ import annotations

import itertools
import random
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyconsensus.core.snapshots import SnapshotMeta, checksum
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Entry
from pyconsensus.raft import (
    MESSAGE_TYPES,
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    InstallSnapshot,
    InstallSnapshotResponse,
    RaftNode,
    RequestVote,
)
from tests.raft.support import elected


def _state(node: RaftNode) -> tuple[Any, ...]:
    return (node.status(), list(node.log.entries), node.voted_for, node.has_ready())


META = SnapshotMeta(3, 1, None, 3, checksum(b"abc"))


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (AppendEntries(9, 2, 1, 0, 0, (), 0), "unknown_sender"),
        (AppendEntries(2, 2, 1, 0, 0, (), 0), "unknown_sender"),  # from itself
        (AppendEntries(1, 3, 1, 0, 0, (), 0), "wrong_destination"),
        (AppendEntries(1, 2, -1, 0, 0, (), 0), "bad_term"),
        (AppendEntries(1, 2, 1, -4, 0, (), 0), "bad_index"),
        (AppendEntries(1, 2, 1, 0, 3, (), 0), "bad_term"),  # prev_term beyond term
        (AppendEntries(1, 2, 1, 1, 1, (Entry(5, 1),), 1), "bad_index"),  # not contiguous
        (AppendEntries(1, 2, 1, 1, 1, (Entry(2, 7),), 1), "bad_term"),  # entry from the future
        (AppendEntries(1, 2, 1, 1, 1, (Entry(2, 1), Entry(7, 1), Entry(4, 1)), 1), "bad_index"),
        (AppendEntries(1, 2, 2, 1, 1, (Entry(2, 2), Entry(3, 1)), 1), "bad_term"),  # goes back
        (AppendEntries(1, 2, 1, 1, 1, (Entry(2, 1, "text"),), 1), "malformed"),  # type: ignore[arg-type]
        (AppendEntries(1, 2, 1, 1, 1, [Entry(2, 1)], 1), "malformed"),  # type: ignore[arg-type]
        (AppendEntries(1, 2, "1", 0, 0, (), 0), "bad_term"),  # type: ignore[arg-type]
        (RequestVote(1, 2, 1, 0, 5), "bad_term"),
        (RequestVote(1, 2, 1, -1, 0), "bad_index"),
        (Heartbeat(1, 2, 1, -1), "bad_index"),
        (AppendEntriesResponse(1, 2, 1, True, -2), "bad_index"),
        (InstallSnapshot(1, 2, 1, SnapshotMeta(3, 9, None, 0, ""), 0, b"", True), "bad_index"),
        (InstallSnapshot(1, 2, 1, "snapshot", 0, b"", True), "malformed"),  # type: ignore[arg-type]
        (InstallSnapshot(1, 2, 1, META, 0, b"toolong", True), "bad_chunk"),
        (InstallSnapshot(1, 2, 1, META, 0, b"ab", True), "bad_chunk"),  # not the last chunk
        (InstallSnapshot(1, 2, 1, META, -1, b"a", False), "malformed"),
        (InstallSnapshot(1, 2, 1, META, 0, "abc", True), "malformed"),  # type: ignore[arg-type]
        (InstallSnapshotResponse(1, 2, 1, META, 4), "bad_index"),
        ("hello", "unknown_type"),
        (None, "unknown_type"),
        (Entry(1, 1), "unknown_type"),
    ],
)
def test_bad_message_is_dropped_and_counted(message: object, reason: str) -> None:
    h = elected(3)
    node = h.node(2)
    before = _state(node)
    node.receive(message)
    assert node.counters["dropped." + reason] == 1
    assert _state(node) == before


def test_a_second_leader_in_the_same_term_is_refused() -> None:
    """Election Safety says it cannot happen; if a buggy peer claims it, the
    leader keeps its log and counts the message."""
    h = elected(3)
    leader = h.node(1)
    before = list(leader.log.entries)
    leader.receive(AppendEntries(2, 1, 1, 1, 1, (Entry(2, 1, b"evil"),), 2))
    assert leader.log.entries == before
    assert leader.counters["dropped.second_leader_in_term"] == 1


_ints = st.integers(min_value=-3, max_value=12)
_entries = st.lists(st.builds(Entry, _ints, _ints, st.binary(max_size=4)), max_size=4).map(tuple)
_values: dict[type, st.SearchStrategy[Any]] = {
    int: _ints,
    bool: st.booleans(),
    tuple: _entries,
    SnapshotMeta: st.builds(
        SnapshotMeta, _ints, _ints, st.none(), _ints, st.sampled_from(["", checksum(b"ab")])
    ),
}


def _message_strategy() -> st.SearchStrategy[Any]:
    choices = []
    for cls in MESSAGE_TYPES:
        fields: dict[str, st.SearchStrategy[Any]] = {}
        for field in attrs.fields(cls):
            annotation = str(field.type)
            if "Entry" in annotation:
                fields[field.name] = _entries
            elif "SnapshotMeta" in annotation:
                fields[field.name] = _values[SnapshotMeta]
            elif "bytes" in annotation:
                fields[field.name] = st.binary(max_size=4)
            elif "bool" in annotation:
                fields[field.name] = st.booleans()
            else:
                fields[field.name] = st.integers(min_value=-2, max_value=5)
        choices.append(st.builds(cls, **fields))
    return st.one_of(choices)


@settings(max_examples=300, deadline=None)
@given(st.lists(_message_strategy(), max_size=12))
def test_arbitrary_messages_never_crash_a_node_or_break_its_log(messages: list[Any]) -> None:
    """Whatever arrives, the node keeps a well-formed log and never raises."""
    node = RaftNode(2, [1, 2, 3], MemoryStorage(), random.Random(0))
    for message in messages:
        node.receive(message)
        node.ready()
    entries = node.log.entries
    assert [e.index for e in entries] == list(range(1, len(entries) + 1))
    assert all(a.term <= b.term for a, b in itertools.pairwise(entries))
    assert node.commit <= node.log.last_index
