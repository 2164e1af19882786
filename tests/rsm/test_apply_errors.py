"""Deterministic application errors: ``ApplyError`` is a replicated result.

A state machine refuses a command by raising ``ApplyError``: every replica
records the same error as the command's answer (so a retry is de-duplicated
to it, and snapshots carry it), and the client gets the error back. An
optional ``validate_command`` refuses a command before it is logged. Any other
exception from ``apply`` stops the node with one line naming the entry.
"""

from __future__ import annotations

import functools
import random

import pytest

from pyconsensus.core.node import ConsensusNode
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.raft import RaftNode
from pyconsensus.rsm import (
    ApplyError,
    Completed,
    Failed,
    Outcome,
    ReplicatedStateMachine,
    SessionCommand,
    SessionTable,
    StateMachineFailed,
    kv,
)
from pyconsensus.sim import SimConfig, Simulation
from pyconsensus.sim.checkers.raft import SPEC
from tests.rsm.picky import Picky

STORAGE: dict[int, MemoryStorage] = {}


def _single() -> tuple[RaftNode, ReplicatedStateMachine]:
    """A one-node Raft cluster (it elects itself) with a picky state machine."""
    storage = MemoryStorage()
    node = RaftNode(1, [1], storage, random.Random(1))
    STORAGE[id(node)] = storage
    return node, ReplicatedStateMachine(node, Picky())


def _run(node: ConsensusNode, rsm: ReplicatedStateMachine) -> list[Outcome]:
    """Tick ``node`` 50 times, carrying out every batch; the outcomes."""
    storage = STORAGE[id(node)]
    outcomes: list[Outcome] = []
    for _ in range(50):
        node.tick()
        while node.has_ready():
            ready = node.ready()
            if ready.write is not None:
                storage.write(ready.write)
            outcomes.extend(rsm.handle(ready))
    return outcomes


def test_an_apply_error_is_the_commands_answer_and_the_state_is_unchanged() -> None:
    node, rsm = _single()
    _run(node, rsm)
    rsm.submit(SessionCommand(7, 1, kv.put(b"k", b"good")))
    rsm.submit(SessionCommand(7, 2, kv.put(b"k", b"bad"), 1))
    outcomes = _run(node, rsm)
    assert isinstance(outcomes[0], Completed)
    refused = outcomes[1]
    assert isinstance(refused, Failed) and isinstance(refused.error, ApplyError)
    assert str(refused.error) == "values may not be bad"
    assert refused.error.index == rsm.applied
    assert kv.decode_get(rsm.machine.query(kv.get(b"k"))) == b"good"
    assert rsm.counters["commands.refused"] == 1


def test_a_retried_refused_command_gets_the_same_error_without_applying_again() -> None:
    node, rsm = _single()
    _run(node, rsm)
    rsm.submit(SessionCommand(7, 1, kv.put(b"k", b"bad")))
    first = _run(node, rsm)
    rsm.submit(SessionCommand(7, 1, kv.put(b"k", b"bad")))
    again = _run(node, rsm)
    assert isinstance(first[0], Failed) and isinstance(again[0], Failed)
    assert str(first[0].error) == str(again[0].error)
    assert rsm.counters["commands.refused"] == 1
    assert rsm.counters["commands.duplicate"] == 1


def test_a_refused_answer_survives_a_snapshot_of_the_session_table() -> None:
    node, rsm = _single()
    _run(node, rsm)
    rsm.submit(SessionCommand(7, 1, kv.put(b"k", b"bad")))
    rsm.submit(SessionCommand(7, 2, kv.put(b"k", b"ok"), 1))
    _run(node, rsm)
    table, _ = SessionTable.decode(rsm.sessions.encode(), 0, 16)
    assert table.failed(7, 1) and not table.failed(7, 2)
    assert table.answer(7, 1) == b"values may not be bad"
    assert table.applied_index(7, 1) == rsm.sessions.applied_index(7, 1)


def test_the_validation_hook_refuses_a_command_before_it_is_logged() -> None:
    node, rsm = _single()
    _run(node, rsm)
    last = node.status().last_index
    with pytest.raises(ApplyError, match="before it is logged"):
        rsm.submit(SessionCommand(7, 1, kv.put(b"k", b"never")))
    assert node.status().last_index == last
    assert rsm.pending() == 0


def test_an_unexpected_exception_stops_with_one_line_naming_the_entry() -> None:
    node, rsm = _single()
    _run(node, rsm)
    rsm.submit(SessionCommand(7, 1, kv.put(b"k", b"bug")))
    with pytest.raises(StateMachineFailed) as caught:
        _run(node, rsm)
    error = caught.value
    assert error.index == node.status().commit_index
    assert f"entry {error.index}" in str(error) and "RuntimeError: a bug in apply" in str(error)
    assert "\n" not in str(error)
    assert rsm.applied == error.index - 1  # the entry was not applied


def test_every_replica_records_the_same_refusal() -> None:
    """In the simulator, with a leader crash on the way: the error result is
    replicated like any other, so every replica's session table agrees."""
    sim = Simulation(
        SPEC,
        5,
        SimConfig(compact_every=4),
        app=lambda node: ReplicatedStateMachine(node, Picky(), compact_every=4),
    )
    sim.run_until(1_000)
    outcomes: dict[int, Outcome] = {}
    for seq in range(1, 13):
        value = b"bad" if seq % 3 == 0 else b"v%d" % seq
        leader = sim.leader()
        assert leader is not None
        command = SessionCommand(9, seq, kv.put(b"k%d" % seq, value), seq)
        sim.submit(leader, command, functools.partial(outcomes.__setitem__, seq))
        sim.run_for(200)
    sim.run_for(2_000)
    refused = {seq for seq, o in outcomes.items() if isinstance(o, Failed)}
    assert refused == {3, 6, 9, 12}
    assert all(isinstance(outcomes[s].error, ApplyError) for s in refused)  # type: ignore[union-attr]
    apps = [app for app in sim.apps.values() if app is not None]
    assert len(apps) == 3
    assert len({app.applied for app in apps}) == 1
    assert len({app.sessions.encode() for app in apps}) == 1
    assert len({app.machine.snapshot() for app in apps}) == 1
