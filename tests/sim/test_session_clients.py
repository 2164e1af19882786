"""Simulated session clients: what goes into the history, and the statistics."""

from __future__ import annotations

from pyconsensus.sim import RunConfig, SimConfig, Simulation, run_seed
from pyconsensus.sim.checkers.raft import SPEC
from pyconsensus.sim.faults import Crash, Heal, Partition, Scheduled
from pyconsensus.sim.history import FAIL, INFO, OK, History
from pyconsensus.sim.session_client import SessionClient, SessionClientConfig
from pyconsensus.sim.workloads import KVWorkload

KV = RunConfig(workload="kv", check_linearizability=True)


def kv_sim(
    seed: int, schedule: list[Scheduled], clients: int = 1
) -> tuple[Simulation, History, list[SessionClient]]:
    workload = KVWorkload(keys=2)
    sim = Simulation(
        SPEC,
        seed,
        SimConfig(compact_every=16),
        schedule,
        app=lambda node: workload.replicate(node, 16),
    )
    history = History()
    started = []
    for client_id in range(1, clients + 1):
        client = SessionClient(sim, client_id, workload, history, SessionClientConfig())
        client.start()
        started.append(client)
    return sim, history, started


def test_a_fault_free_run_completes_every_operation() -> None:
    sim, history, clients = kv_sim(1, [])
    sim.run_until(2_000)
    clients[0].stop()
    sim.run_for(500)
    ops = history.operations()
    assert len(ops) > 30
    assert {op.status for op in ops} == {OK}
    assert all(op.complete_ms is not None and op.invoke_ms <= op.complete_ms for op in ops)


def test_with_every_node_down_operations_definitely_fail() -> None:
    """Nothing could be sent anywhere: no attempt can have taken effect."""
    crash = [Scheduled(600, Crash(n)) for n in (1, 2, 3)]
    sim, history, _ = kv_sim(2, crash, clients=3)
    sim.run_until(6_000)
    stalled = [op for op in history.operations() if 600 < op.invoke_ms < 4_000]
    assert stalled
    assert {op.status for op in stalled} == {FAIL}


def test_writes_caught_by_a_leader_losing_its_majority_end_indeterminate() -> None:
    """The leader accepted the commands but cannot commit them: the clients
    time out, not knowing whether they will ever take effect."""
    sim, history, _ = kv_sim(4, [], clients=3)
    sim.run_until(500)
    leader = sim.leader()
    assert leader is not None
    for node in sim.members:
        if node != leader:
            sim.apply_fault(Crash(node))
    sim.run_until(6_000)
    after = [op for op in history.operations() if 500 <= op.invoke_ms < 3_000]
    writes = {op.status for op in after if op.f != "get"}
    assert INFO in writes
    assert OK not in {op.status for op in after}


def test_operations_resume_after_a_partition_heals() -> None:
    schedule = [Scheduled(500, Partition(((1,), (2,), (3,))))]
    sim, history, _ = kv_sim(3, schedule)
    sim.run_until(1_500)
    sim.apply_fault(Heal())
    sim.run_until(3_000)
    late = [op for op in history.operations() if op.invoke_ms > 2_000]
    assert any(op.status == OK for op in late)


def test_unavailability_is_the_longest_gap_without_a_successful_operation() -> None:
    calm = run_seed(SPEC, 5, RunConfig(workload="kv", faults=frozenset()))
    stormy = run_seed(
        SPEC,
        5,
        RunConfig(workload="kv", nemesis=("crash-majority",), mean_fault_gap_ms=800),
    )
    assert 0 < calm.stats.longest_unavailable_ms < 400  # the first election, then steady
    assert stormy.stats.longest_unavailable_ms > calm.stats.longest_unavailable_ms + 300


def test_the_history_statistics_add_up() -> None:
    result = run_seed(SPEC, 8, KV)
    stats = result.stats
    assert stats.ops_ok + stats.ops_failed + stats.ops_indeterminate == len(result.history)
    assert result.linearizability is not None and result.linearizability.valid
