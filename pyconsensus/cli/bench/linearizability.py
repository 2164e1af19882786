"""``pyconsensus bench lin``: how fast the linearizability checker is.

A long run of a 3-node cluster under faults, with session clients of the
key-value store, records a history of ``operations`` operations; then the
checker's wall time on it is measured. This module may read the clock.
"""

from __future__ import annotations

import time
from random import Random

import attrs

from pyconsensus.sim.history import History, counts
from pyconsensus.sim.linearizability import KVModel, check
from pyconsensus.sim.nemesis import expand, nemesis_schedule
from pyconsensus.sim.session_client import SessionClient
from pyconsensus.sim.simulation import SimConfig, Simulation
from pyconsensus.sim.specs import get_spec
from pyconsensus.sim.workloads import KVWorkload


@attrs.frozen(slots=True)
class LinResult:
    protocol: str
    operations: int
    ok: int
    failed: int
    indeterminate: int
    keys: int
    clients: int
    virtual_s: float
    simulate_s: float
    check_s: float
    explored: int
    valid: bool | None


@attrs.frozen(slots=True)
class HistoryRun:
    """A 3-node cluster under ``nemesis`` with ``clients`` session clients of a
    key-value store over ``keys`` keys, run until ``operations`` were invoked."""

    protocol: str = "raft"
    operations: int = 10_000
    clients: int = 10
    keys: int = 8
    seed: int = 1
    nemesis: str = "all"

    def record(self) -> tuple[History, Simulation]:
        """Run the cluster; its clients' history and the finished simulation."""
        spec = get_spec(self.protocol)
        horizon = 3_600_000  # faults are scheduled for an hour; the run stops far sooner
        schedule = nemesis_schedule(
            Random(f"{self.seed}:bench"),
            [1, 2, 3],
            horizon,
            expand(self.nemesis.split(",")),
            mean_gap_ms=800,
        )
        workload = KVWorkload(self.keys)
        sim = Simulation(
            spec,
            self.seed,
            SimConfig(nodes=3, compact_every=256),
            schedule,
            app=lambda node: workload.replicate(node, 256),
        )
        history = History()
        clients = [SessionClient(sim, c, workload, history) for c in range(1, self.clients + 1)]
        for client in clients:
            client.start()
        while len(history) < self.operations:
            sim.run_for(100)
        for client in clients:
            client.stop()
        sim.run_for(2_000)  # let operations in flight finish
        return history, sim


def linearizability_check(run: HistoryRun) -> LinResult:
    """Build a history (timed separately), then time the checker on it."""
    started = time.perf_counter()
    history, sim = run.record()
    simulated = time.perf_counter() - started
    ops = history.operations()
    started = time.perf_counter()
    result = check(ops, KVModel())  # the default budget, as sweeps use it
    checked = time.perf_counter() - started
    tally = counts(ops)
    return LinResult(
        protocol=run.protocol,
        operations=len(ops),
        ok=tally["ok"],
        failed=tally["fail"],
        indeterminate=tally["info"],
        keys=run.keys,
        clients=run.clients,
        virtual_s=sim.now / 1000,
        simulate_s=simulated,
        check_s=checked,
        explored=result.explored,
        valid=result.valid,
    )


def format_lin(results: list[LinResult]) -> str:
    lines = [
        "protocol  operations  ok/fail/info        keys  clients  virtual s  simulate s  "
        "check s  explored  linearizable"
    ]
    for r in results:
        tally = f"{r.ok}/{r.failed}/{r.indeterminate}"
        lines.append(
            f"{r.protocol:<8}  {r.operations:>10}  {tally:<18}  {r.keys:>4}  {r.clients:>7}  "
            f"{r.virtual_s:>9.1f}  {r.simulate_s:>10.2f}  {r.check_s:>7.2f}  "
            f"{r.explored:>8}  {r.valid}"
        )
    return "\n".join(lines)
