"""Seeded runs of your own workload, as test assertions.

``Scenario`` says what to simulate (protocol, nemesis, seed, cluster size);
``expect_ok`` runs it with your ``Workload`` and, if any safety property,
liveness or linearizability breaks, shrinks the fault schedule, replays the
smallest failing run with a trace and raises ``SimulationFailed`` carrying the
seed, the replay (JSON text) and the picture (HTML text). Nothing here
touches files: the pytest plugin writes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from pyconsensus.sim.diagram import render_html
from pyconsensus.sim.faults import Scheduled, heal_everything
from pyconsensus.sim.nemesis import describe
from pyconsensus.sim.replay import Replay, dumps, loads, run_replay
from pyconsensus.sim.shrink import shrink
from pyconsensus.sim.specs import ProtocolSpec, get_spec
from pyconsensus.sim.sweep import RunConfig, RunResult, WorkloadFactory, run_seed
from pyconsensus.testing.errors import SimulationFailed

PROTOCOLS = ("raft", "zab", "paxos")
"""The consensus protocols a replicated state machine can run on."""


@attrs.frozen(slots=True)
class Scenario:
    """One simulated run of a client workload.

    ``duration_ms`` of clients under the ``nemesis`` (names from
    ``pyconsensus.sim.nemesis``, e.g. ``("all",)``, ``("partitions",
    "crashes")``, ``()`` for none), then everything heals and the cluster has
    ``liveness_timeout_ms`` to make progress again. ``compact_every`` makes
    the nodes snapshot often, so ``snapshot``/``restore`` are exercised.
    ``shrink_runs`` bounds the reruns spent shrinking a failure.
    """

    protocol: str = "raft"
    seed: int = 0
    nemesis: tuple[str, ...] = ("all",)
    nodes: int = 3
    clients: int = 3
    duration_ms: int = 2_000
    liveness_timeout_ms: int = 5_000
    compact_every: int = 32
    options: Mapping[str, str] = attrs.field(factory=dict)
    shrink_runs: int = 40

    def spec(self) -> ProtocolSpec:
        return get_spec(self.protocol).with_options(self.options)

    def run_config(self) -> RunConfig:
        return RunConfig(
            nodes=self.nodes,
            clients=self.clients,
            duration_ms=self.duration_ms,
            liveness_timeout_ms=self.liveness_timeout_ms,
            compact_every=self.compact_every,
            workload="custom",
            check_linearizability=True,
            nemesis=self.nemesis,
        )

    def describe(self) -> str:
        nemesis = ",".join(self.nemesis) or "none"
        return f"{self.protocol} seed {self.seed} nemesis {nemesis} ({self.nodes} nodes)"


def run_scenario(
    workload: WorkloadFactory,
    scenario: Scenario,
    schedule: Sequence[Scheduled] | None = None,
    *,
    trace: bool = False,
) -> RunResult:
    """Run ``scenario`` once. ``schedule`` (faults before ``duration_ms``)
    replaces the seed's own; everything heals at ``duration_ms`` either way."""
    if schedule is not None:
        members = list(range(1, scenario.nodes + 1))
        tail = [Scheduled(scenario.duration_ms, f) for f in heal_everything(members)]
        body = [item for item in schedule if item.at_ms < scenario.duration_ms]
        schedule = sorted([*body, *tail], key=lambda item: item.at_ms)
    return run_seed(
        scenario.spec(),
        scenario.seed,
        scenario.run_config(),
        tuple(schedule) if schedule is not None else None,
        workload=workload,
        trace=trace,
    )


def expect_ok(
    workload: WorkloadFactory,
    scenario: Scenario,
    schedule: Sequence[Scheduled] | None = None,
) -> RunResult:
    """Run ``scenario``; return the result if nothing broke, else raise
    ``SimulationFailed`` (shrunk, with replay and picture)."""
    result = run_scenario(workload, scenario, schedule)
    if result.ok:
        return result
    raise failure_of(workload, scenario, result)


def failure_of(
    workload: WorkloadFactory, scenario: Scenario, result: RunResult
) -> SimulationFailed:
    """Shrink ``result`` (a failed run of ``scenario``), replay the smallest
    failing schedule with a trace, and describe it."""
    violation = result.violation
    assert violation is not None
    shrunk = shrink(
        scenario.spec(),
        scenario.seed,
        scenario.run_config(),
        result.schedule,
        violation,
        max_runs=scenario.shrink_runs,
        workload=workload,
    )
    traced = run_seed(
        scenario.spec(),
        scenario.seed,
        shrunk.config,
        shrunk.schedule,
        workload=workload,
        trace=True,
    )
    final = traced.violation if traced.violation is not None else violation
    replay = Replay(
        scenario.protocol,
        scenario.seed,
        shrunk.config,
        shrunk.schedule,
        scenario.options,
        final,
        note=f"shrunk: {shrunk.summary()}",
    )
    detail = final.detail
    if traced.linearizability is not None and traced.linearizability.failure is not None:
        detail = traced.linearizability.failure.explain()
    faults = [i for i in shrunk.schedule if i.at_ms < shrunk.config.duration_ms]
    shown = "; ".join(f"{i.at_ms} ms {describe(i.fault)}" for i in faults[:12]) or "none"
    message = (
        f"{scenario.describe()}: {final.property} violated at t={final.time_ms} ms\n"
        f"{detail}\n"
        f"faults after shrinking ({shrunk.summary()}): {shown}"
    )
    picture = ""
    if traced.trace is not None:
        picture = render_html(traced.trace, notes=message)
    return SimulationFailed(message, seed=scenario.seed, replay=dumps(replay), picture=picture)


def replay(text: str, workload: WorkloadFactory, *, trace: bool = False) -> RunResult:
    """Run a replay written by a failed ``expect_ok`` (its JSON text) again,
    exactly, with your ``workload``."""
    return run_replay(loads(text), workload=workload, trace=trace)
