"""Seeded runs and sweeps: faults, clients, safety after every step, liveness
after healing, and linearizability of the clients' history at the end."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

import attrs

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.node import ConsensusNode
from pyconsensus.rsm.replicated import ReplicatedStateMachine
from pyconsensus.sim.checker import InvariantViolation, Violation
from pyconsensus.sim.faults import FAULT_KINDS, Scheduled
from pyconsensus.sim.history import FAIL, INFO, OK, History, Operation, counts
from pyconsensus.sim.linearizability import LinearizabilityResult, check
from pyconsensus.sim.nemesis import expand, nemesis_schedule
from pyconsensus.sim.proposal_client import ClientConfig, ProposalClient
from pyconsensus.sim.seeded import (
    SeededResult,
    SeededRun,
    SeededSweep,
    dropped,
    faults_line,
    run_seeds,
    seeds_line,
    violation_lines,
)
from pyconsensus.sim.session_client import SessionClient, SessionClientConfig
from pyconsensus.sim.simulation import Simulation
from pyconsensus.sim.specs import ProtocolSpec
from pyconsensus.sim.trace import Trace
from pyconsensus.sim.workloads import KVWorkload, Workload

WORKLOADS = ("proposals", "kv", "custom")
WorkloadFactory = Callable[[], Workload]


@attrs.frozen(slots=True)
class RunConfig(SeededRun):
    """One seeded run: ``duration_ms`` of clients under faults, then everything
    heals and the cluster has ``liveness_timeout_ms`` to elect a leader, commit
    a new proposal and bring every node up to date.

    ``workload``: ``"proposals"`` (raw proposals, acknowledgements checked
    against the committed log), ``"kv"`` (session clients of a replicated
    key-value store, whose history ``check_linearizability`` checks) or
    ``"custom"`` (your ``Workload``, passed to ``run_seed``/``sweep``).
    ``nemesis`` (names from ``pyconsensus.sim.nemesis``), when given, replaces
    the older ``faults`` kinds as the source of the fault schedule.
    """

    clients: int = 3
    liveness_timeout_ms: int = 5_000
    workload: str = "proposals"
    check_linearizability: bool = False
    keys: int = 4
    nemesis: tuple[str, ...] = ()
    heal_every_ms: int = 0
    heal_for_ms: int = 0
    max_explored: int = 1_000_000
    """Search budget of the linearizability checker per key (beyond: unknown)."""

    def __attrs_post_init__(self) -> None:
        if self.nodes < 1:
            raise ConfigError(f"a cluster needs at least one node, got nodes={self.nodes}")
        if self.clients < 0 or self.duration_ms < 0 or self.liveness_timeout_ms < 0:
            raise ConfigError("clients, duration_ms and liveness_timeout_ms cannot be negative")
        if self.workload not in WORKLOADS:
            raise ConfigError(f"unknown workload {self.workload!r}; choose from {WORKLOADS}")
        if self.check_linearizability and self.workload == "proposals":
            raise ConfigError("the linearizability check needs a client workload (kv)")

    def schedule(self, seed: int) -> tuple[Scheduled, ...]:
        if not self.nemesis:
            return self.random_faults(seed)
        return nemesis_schedule(
            self.schedule_rng(seed),
            self.members(),
            self.duration_ms,
            expand(self.nemesis),
            mean_gap_ms=self.mean_fault_gap_ms,
            heal_every_ms=self.heal_every_ms,
            heal_for_ms=self.heal_for_ms,
        )


@attrs.frozen(slots=True)
class RunResult(SeededResult):
    """One run: its schedule, its end in virtual time and, with clients, their
    history and its linearizability check."""

    schedule: tuple[Scheduled, ...]
    end_ms: int
    history: tuple[Operation, ...] = ()
    linearizability: LinearizabilityResult | None = None
    trace: Trace | None = attrs.field(default=None, eq=False, repr=False)


def run_seed(  # noqa: C901 - the phases of one run, in order
    protocol: ProtocolSpec,
    seed: int,
    config: RunConfig | None = None,
    schedule: tuple[Scheduled, ...] | None = None,
    *,
    workload: WorkloadFactory | None = None,
    trace: bool = False,
    instrument: Callable[[Simulation], None] | None = None,
) -> RunResult:
    """Run one seed; the schedule defaults to the seed's random one.

    ``workload`` builds a fresh ``Workload`` for the run (default: from
    ``config.workload``); ``trace`` records a ``Trace`` for pictures - the run
    itself is the same either way. ``instrument`` is called with the new
    simulation before it runs (to attach observers or checkers that only watch).
    """
    config = config if config is not None else RunConfig()
    if schedule is None:
        schedule = config.schedule(seed)
    if workload is None and config.workload == "kv":
        keys = config.keys

        def workload() -> Workload:
            return KVWorkload(keys)

    if workload is None and config.workload == "custom":
        raise ConfigError("a custom workload needs run_seed(..., workload=YourWorkload)")
    chosen = workload() if workload is not None else None
    app = None
    if chosen is not None:
        compact_every = config.compact_every

        def app(node: ConsensusNode) -> ReplicatedStateMachine:
            return chosen.replicate(node, compact_every)

    sim = Simulation(protocol, seed, config.sim_config(), schedule, app=app)
    recorder = Trace.attach(sim) if trace else None
    if instrument is not None:
        instrument(sim)
    history = History() if chosen is not None else None
    violation = None
    try:
        clients: list[ProposalClient | SessionClient] = []
        for c in range(1, config.clients + 1):
            if chosen is not None and history is not None:
                clients.append(SessionClient(sim, c, chosen, history, SessionClientConfig()))
            else:
                clients.append(ProposalClient(sim, c))
        for client in clients:
            client.start()
        sim.run_until(config.duration_ms)
        sim.end_client_phase()
        for client in clients:
            client.stop()
        _check_liveness(sim, config.duration_ms + config.liveness_timeout_ms)
    except InvariantViolation as exc:
        violation = Violation(exc.property, exc.detail, sim.now, sim.stats.steps)
    sim.stats.committed = sim.committed_log.highest
    ops: tuple[Operation, ...] = ()
    lin = None
    if history is not None and chosen is not None:
        ops = tuple(history.operations())
        tally = counts(list(ops))
        sim.stats.ops_ok += tally[OK]
        sim.stats.ops_failed += tally[FAIL]
        sim.stats.ops_indeterminate += tally[INFO]
        safety_broken = violation is not None and violation.property != "Liveness"
        if config.check_linearizability and not safety_broken:
            lin = check(ops, chosen.model(), config.max_explored)
            if lin.valid is False and lin.failure is not None:
                stuck = lin.failure.stuck
                violation = Violation(
                    "Linearizability",
                    _lin_summary(lin),
                    stuck.complete_ms if stuck.complete_ms is not None else sim.now,
                    sim.stats.steps,
                    stuck.id,
                )
    if recorder is not None:
        recorder.operations = list(ops)
        if violation is not None:
            detail = violation.detail
            if lin is not None and lin.failure is not None:
                detail = lin.failure.explain()
            recorder.mark(violation.time_ms, violation.property, detail, violation.operation)
    return RunResult(seed, violation, sim.stats, schedule, sim.now, ops, lin, recorder)


def _lin_summary(result: LinearizabilityResult) -> str:
    failure = result.failure
    assert failure is not None
    return (
        f"key {failure.key!r}: {failure.stuck.describe()} cannot follow any legal order "
        f"of the {len(failure.prefix)} operations before it (state then: {failure.state})"
    )


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
class SweepResult(SeededSweep[RunResult]):
    """A sweep's runs, with the histories their linearizability check covered."""

    histories_checked: int = 0
    operations_checked: int = 0
    checks_unknown: int = 0

    def add(self, run: RunResult) -> None:
        """Fold one run into the sweep."""
        super().add(run)
        if run.linearizability is not None:
            self.histories_checked += 1
            self.operations_checked += run.linearizability.operations
            self.checks_unknown += run.linearizability.valid is None


def sweep(
    protocol: ProtocolSpec,
    seeds: Iterable[int],
    config: RunConfig | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    stop_on_failure: bool = False,
    *,
    workload: WorkloadFactory | None = None,
) -> SweepResult:
    """Run every seed; collect failures and summed statistics."""
    result = SweepResult(protocol.name)
    run_seeds(
        seeds,
        lambda seed: run_seed(protocol, seed, config, workload=workload),
        result.add,
        on_result,
        stop_on_failure,
    )
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
    checked = [*properties, *GENERIC_PROPERTIES]
    if result.histories_checked:
        checked.append("Linearizability")
    lines = [
        f"protocol        {result.protocol}",
        seeds_line(result.seeds),
        f"steps           {s.steps}",
        f"elections       {s.elections} (leader changes {s.leader_changes})",
        f"committed       {s.committed} entries; proposals acked {s.proposals_acked}, "
        f"failed {s.proposals_failed}, indeterminate {s.proposals_unknown}",
        faults_line(s),
        f"messages        {s.messages_sent} sent, {s.messages_delivered} delivered, "
        f"{dropped(s)} dropped, {s.duplicated} duplicated",
        f"leaderless      longest {s.longest_leaderless_ms} ms",
    ]
    if s.ops_ok or s.ops_failed or s.ops_indeterminate:
        lines.append(
            f"operations      {s.ops_ok} ok, {s.ops_failed} failed, "
            f"{s.ops_indeterminate} indeterminate"
        )
    lines.append(
        f"unavailable     longest {s.longest_unavailable_ms} ms without a successful "
        "client operation"
    )
    if result.histories_checked:
        unknown = f", {result.checks_unknown} unknown (budget)" if result.checks_unknown else ""
        lines.append(
            f"linearizable    {result.histories_checked} histories, "
            f"{result.operations_checked} operations checked{unknown}"
        )
    lines.append("checked         " + ", ".join(checked))
    lines.extend(violation_lines(result.failures))
    return "\n".join(lines)
