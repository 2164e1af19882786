"""Seeded runs and sweeps: faults, clients, safety after every step, liveness after healing."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from random import Random

import attrs

from pyconsensus.sim.checker import InvariantViolation, Violation
from pyconsensus.sim.faults import FAULT_KINDS, Scheduled, random_schedule
from pyconsensus.sim.network import NetworkConfig
from pyconsensus.sim.protocols import ProtocolSpec
from pyconsensus.sim.simulation import SimConfig, SimStats, Simulation
from pyconsensus.sim.workload import ClientConfig, ProposalClient


@attrs.frozen(slots=True)
class RunConfig:
    """One seeded run: ``duration_ms`` of clients under faults, then everything
    heals and the cluster has ``liveness_timeout_ms`` to elect a leader, commit
    a new proposal and bring every node up to date."""

    nodes: int = 3
    duration_ms: int = 4_000
    faults: frozenset[str] = frozenset(FAULT_KINDS)
    mean_fault_gap_ms: int = 400
    clients: int = 3
    liveness_timeout_ms: int = 5_000
    tick_ms: int = 10
    compact_every: int = 64
    network: NetworkConfig = attrs.field(
        factory=lambda: NetworkConfig(min_delay_ms=1, max_delay_ms=8)
    )

    def sim_config(self) -> SimConfig:
        return SimConfig(
            nodes=self.nodes,
            tick_ms=self.tick_ms,
            network=self.network,
            compact_every=self.compact_every,
        )

    def schedule(self, seed: int) -> tuple[Scheduled, ...]:
        members = list(range(1, self.nodes + 1))
        rng = Random(f"{seed}:schedule")
        return random_schedule(rng, members, self.duration_ms, self.faults, self.mean_fault_gap_ms)


@attrs.frozen(slots=True)
class RunResult:
    seed: int
    violation: Violation | None
    stats: SimStats
    schedule: tuple[Scheduled, ...]
    end_ms: int

    @property
    def ok(self) -> bool:
        return self.violation is None


def run_seed(
    protocol: ProtocolSpec,
    seed: int,
    config: RunConfig | None = None,
    schedule: tuple[Scheduled, ...] | None = None,
) -> RunResult:
    """Run one seed; the schedule defaults to the seed's random one."""
    config = config if config is not None else RunConfig()
    if schedule is None:
        schedule = config.schedule(seed)
    sim = Simulation(protocol, seed, config.sim_config(), schedule)
    violation = None
    try:
        clients = [ProposalClient(sim, c) for c in range(1, config.clients + 1)]
        for client in clients:
            client.start()
        sim.run_until(config.duration_ms)
        for client in clients:
            client.stop()
        _check_liveness(sim, config.duration_ms + config.liveness_timeout_ms)
    except InvariantViolation as exc:
        violation = Violation(exc.property, exc.detail, sim.now, sim.stats.steps)
    sim.stats.committed = sim.committed_log.highest
    return RunResult(seed, violation, sim.stats, schedule, sim.now)


def _check_liveness(sim: Simulation, deadline_ms: int) -> None:
    """After healing: a proposal must commit and every node must apply it."""
    probe = ProposalClient(sim, 0, ClientConfig(think_min_ms=1, think_max_ms=1, timeout_ms=200))
    probe.start()
    while not probe.acked and sim.now < deadline_ms:
        sim.run_for(10)
    if not probe.acked:
        leader = sim.leader()
        raise InvariantViolation(
            "Liveness",
            f"no proposal committed within {deadline_ms - sim.now + 0}ms of healing "
            f"(leader: {leader}, live nodes: {sim.live()})",
        )
    probe.stop()
    index = max(probe.acked.values())
    while sim.now < deadline_ms:
        if all(sim.committed_log.state_of(m)[0] >= index for m in sim.members):
            return
        sim.run_for(10)
    behind = [m for m in sim.members if sim.committed_log.state_of(m)[0] < index]
    raise InvariantViolation(
        "Liveness", f"nodes {behind} did not apply index {index} before the deadline"
    )


@attrs.define
class SweepResult:
    protocol: str
    seeds: list[int] = attrs.field(factory=list)
    failures: list[RunResult] = attrs.field(factory=list)
    stats: SimStats = attrs.field(factory=SimStats)

    @property
    def ok(self) -> bool:
        return not self.failures


def sweep(
    protocol: ProtocolSpec,
    seeds: Iterable[int],
    config: RunConfig | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    stop_on_failure: bool = False,
) -> SweepResult:
    """Run every seed; collect failures and summed statistics."""
    result = SweepResult(protocol.name)
    for seed in seeds:
        run = run_seed(protocol, seed, config)
        result.seeds.append(seed)
        result.stats.add(run.stats)
        if not run.ok:
            result.failures.append(run)
        if on_result is not None:
            on_result(run)
        if stop_on_failure and not run.ok:
            break
    return result


def fault_kinds(text: str) -> frozenset[str]:
    """Parse a comma-separated list of fault kinds ('all' and 'none' allowed)."""
    if text in ("all", ""):
        return frozenset(FAULT_KINDS)
    if text == "none":
        return frozenset()
    kinds = frozenset(part.strip() for part in text.split(",") if part.strip())
    return kinds


GENERIC_PROPERTIES = ("State Machine Safety", "Acknowledged Writes", "Liveness after healing")


def summarize(result: SweepResult, properties: Collection[str] = ()) -> str:
    """A human-readable report of a sweep."""
    s = result.stats
    lines = [
        f"protocol        {result.protocol}",
        f"seeds           {len(result.seeds)}"
        + (f" ({result.seeds[0]}..{result.seeds[-1]})" if result.seeds else ""),
        f"steps           {s.steps}",
        f"elections       {s.elections} (leader changes {s.leader_changes})",
        f"committed       {s.committed} entries; proposals acked {s.proposals_acked}, "
        f"failed {s.proposals_failed}, indeterminate {s.proposals_unknown}",
        f"faults          {s.partitions} partitions, {s.crashes} crashes "
        f"({s.lost_writes} mid-write), {s.restarts} restarts, {s.network_storms} network storms",
        f"messages        {s.messages_sent} sent, {s.messages_delivered} delivered, "
        f"{s.dropped_partition + s.dropped_loss + s.dropped_crashed} dropped, "
        f"{s.duplicated} duplicated",
        f"leaderless      longest {s.longest_leaderless_ms} ms",
        "checked         " + ", ".join([*properties, *GENERIC_PROPERTIES]),
        f"violations      {len(result.failures)}",
    ]
    for failure in result.failures:
        lines.append(f"  seed {failure.seed}: {failure.violation}")
    return "\n".join(lines)
