"""Hypothesis strategies: let ``@given`` search fault schedules and command sequences.

A fault schedule is plain data (``Scheduled(at_ms, fault)`` items), so
Hypothesis can generate it and, when a run fails, shrink it - dropping faults
and moving them earlier - to the smallest schedule that still breaks your
machine. Scenarios made here set ``shrink_runs=0``: Hypothesis does the
shrinking, and the simulator's own shrinker would only repeat its work.

    @given(scenario=scenarios(), schedule=fault_schedules())
    def test_counter_survives_any_schedule(scenario, schedule):
        expect_ok(CounterWorkload, scenario, schedule)

Needs the ``hypothesis`` package (in the ``testing`` extra).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from random import Random

from hypothesis import strategies as st

from pyconsensus.core.types import NodeId
from pyconsensus.sim.faults import (
    ClockJump,
    Crash,
    CrashLeader,
    Fault,
    Heal,
    IsolateLeader,
    OneWay,
    Partition,
    Restart,
    RestartAll,
    Scheduled,
    SetNetwork,
)
from pyconsensus.sim.workloads import Workload
from pyconsensus.testing.runs import PROTOCOLS, Scenario


def _members(nodes: int) -> list[NodeId]:
    return list(range(1, nodes + 1))


@st.composite
def _partition(draw: st.DrawFn, nodes: int) -> Fault:
    members = _members(nodes)
    side = draw(st.sets(st.sampled_from(members), min_size=1, max_size=nodes - 1))
    rest = tuple(m for m in members if m not in side)
    return Partition((tuple(sorted(side)), rest))


def _menu(nodes: int) -> dict[str, st.SearchStrategy[Fault]]:
    node = st.sampled_from(_members(nodes))
    pair = st.tuples(node, node).filter(lambda p: p[0] != p[1])
    return {
        "heal": st.just(Heal()),
        "restart_all": st.just(RestartAll()),
        "crash": st.builds(Crash, node),
        "restart": st.builds(Restart, node),
        "crash_leader": st.just(CrashLeader()),
        "partition": _partition(nodes),
        "isolate_leader": st.builds(IsolateLeader, st.integers(0, max(0, (nodes - 1) // 2))),
        "one_way": pair.map(lambda p: OneWay(p[0], p[1])),
        "network": st.builds(
            SetNetwork,
            st.sampled_from([0.0, 0.05, 0.2]),
            st.sampled_from([0.0, 0.05]),
            st.booleans(),
        ),
        "clock_jump": st.builds(
            ClockJump,
            st.lists(node, min_size=1, max_size=nodes, unique=True).map(tuple),
            st.integers(5, 30),
        ),
    }


FAULT_KINDS = tuple(_menu(3))
"""The names ``faults(kinds=...)`` accepts, simplest first."""


def faults(nodes: int = 3, kinds: Collection[str] = FAULT_KINDS) -> st.SearchStrategy[Fault]:
    """One fault against a cluster of ``nodes`` (ids ``1..nodes``), of the
    ``kinds`` named (see ``FAULT_KINDS``); simpler kinds come first, so
    Hypothesis shrinks towards them. A narrow menu finds a bug you suspect
    sooner (e.g. ``("crash_leader", "restart_all")`` for restore bugs)."""
    menu = _menu(nodes)
    unknown = sorted(set(kinds) - set(menu))
    if unknown or not kinds:
        raise ValueError(f"unknown fault kinds {unknown}; choose from {list(menu)}")
    return st.one_of([strategy for name, strategy in menu.items() if name in kinds])


def fault_schedules(
    nodes: int = 3,
    duration_ms: int = 2_000,
    max_faults: int = 10,
    kinds: Collection[str] = FAULT_KINDS,
) -> st.SearchStrategy[tuple[Scheduled, ...]]:
    """Schedules of up to ``max_faults`` faults of ``kinds`` within
    ``duration_ms`` (the run heals everything afterwards)."""
    item = st.builds(Scheduled, st.integers(0, max(0, duration_ms - 1)), faults(nodes, kinds))
    return st.lists(item, max_size=max_faults).map(
        lambda items: tuple(sorted(items, key=lambda s: s.at_ms))
    )


def scenarios(
    protocols: Sequence[str] = PROTOCOLS,
    *,
    nodes: int = 3,
    duration_ms: int = 2_000,
    compact_every: int = 32,
) -> st.SearchStrategy[Scenario]:
    """Scenarios over ``protocols`` with any seed (for the clients' choices and
    the network's delays); pair with ``fault_schedules`` for the faults."""
    return st.builds(
        Scenario,
        protocol=st.sampled_from(list(protocols)),
        seed=st.integers(0, 2**16),
        nemesis=st.just(()),
        nodes=st.just(nodes),
        duration_ms=st.just(duration_ms),
        compact_every=st.just(compact_every),
        shrink_runs=st.just(0),
    )


def command_sequences(
    workload: Workload, *, min_size: int = 1, max_size: int = 60
) -> st.SearchStrategy[list[bytes]]:
    """Sequences of commands (never reads) as ``workload.next`` draws them,
    for ``check_determinism``."""

    @st.composite
    def build(draw: st.DrawFn) -> list[bytes]:
        size = draw(st.integers(min_size, max_size))
        rng = Random(draw(st.integers(0, 2**32)))
        commands: list[bytes] = []
        count = 0
        while len(commands) < size and count < size * 20:
            count += 1
            invocation = workload.next(rng, 1, count)
            if not invocation.read:
                commands.append(invocation.payload)
        return commands

    return build()
