"""Seeded sweeps of the broadcast primitives in the simulator.

Each run has every member broadcast unique payloads while random faults
strike (crashes and restarts, partitions, loss, duplication, reordering, clock
skew) and, ``sender_crashes`` times, a sender crashes in the middle of a
broadcast: its message leaves for a random subset of the others only. Safety
is checked after every step (``BroadcastSafety``, and ``TotalOrder`` for
atomic broadcast); once everything healed the run continues until deliveries
settle, then Validity and Agreement are checked, and a last probe broadcast
must reach every member that is up (liveness after healing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from random import Random

import attrs

from pyconsensus.core.errors import OutcomeUnknown
from pyconsensus.core.ready import ProposalCommitted, ReadReady, Reply
from pyconsensus.core.types import NodeId
from pyconsensus.sim import seeded
from pyconsensus.sim.checker import Checker, InvariantViolation, Violation
from pyconsensus.sim.checkers.broadcast import BroadcastSafety, correct_members
from pyconsensus.sim.faults import Restart, Scheduled
from pyconsensus.sim.simulation import Simulation
from pyconsensus.sim.specs import ProtocolSpec
from pyconsensus.sim.sweep import RunConfig


@attrs.frozen(slots=True)
class BroadcastRunConfig(seeded.SeededRun):
    """One seeded run of a broadcast primitive (times in virtual milliseconds)."""

    nodes: int = 4
    duration_ms: int = 2_000
    compact_every: int = 32
    """Snapshot every this many deliveries (atomic broadcast; ignored by the others)."""
    sender_crashes: int = 2
    """Crashes of a sender in the middle of a broadcast, per run."""
    downtime_min_ms: int = 100
    downtime_max_ms: int = 800
    """How long a sender crashed mid-broadcast stays down before it restarts."""
    think_min_ms: int = 20
    think_max_ms: int = 100
    """Pause of each member between two of its broadcasts."""
    settle_timeout_ms: int = 5_000
    quiet_ms: int = 300
    """After healing: how long deliveries must pause before the end-of-run
    properties are judged, and the deadline for them to hold."""

    @classmethod
    def from_run_config(cls, config: RunConfig) -> BroadcastRunConfig:
        """The broadcast run closest to a generic consensus ``RunConfig`` (same
        group size, fault kinds and pacing, network and tick; its clients and
        liveness timeout have no counterpart here)."""
        return cls(**config.shared(), settle_timeout_ms=config.liveness_timeout_ms)

    def schedule(self, seed: int) -> tuple[Scheduled, ...]:
        return self.random_faults(seed)


@attrs.frozen(slots=True)
class BroadcastRunResult(seeded.SeededResult):
    """One run: how many broadcasts were made and delivered, and the members'
    counters."""

    broadcasts: int
    deliveries: int
    end_ms: int
    counters: Counter[str] = attrs.field(factory=Counter)
    """Summed ``counters`` of the members up at the end of the run."""


@attrs.define
class BroadcastSweepResult(seeded.SeededSweep[BroadcastRunResult]):
    """The runs of a broadcast sweep, with their summed broadcasts, deliveries
    and counters."""

    broadcasts: int = 0
    deliveries: int = 0
    counters: Counter[str] = attrs.field(factory=Counter)

    @property
    def messages_per_broadcast(self) -> float:
        """Messages sent (all kinds, retransmissions included) per broadcast."""
        return self.stats.messages_sent / max(self.broadcasts, 1)

    def add(self, run: BroadcastRunResult) -> None:
        """Fold one run into the sweep."""
        super().add(run)
        self.broadcasts += run.broadcasts
        self.deliveries += run.deliveries
        self.counters.update(run.counters)


class Workload:
    """Every member broadcasts unique payloads (``b"<member>/<n>"``) and every
    broadcast is entered in the checker's ledger; replies are checked against
    what the member delivered."""

    def __init__(
        self, sim: Simulation, safety: BroadcastSafety, config: BroadcastRunConfig, rng: Random
    ) -> None:
        self.sim = sim
        self.safety = safety
        self.config = config
        self.rng = rng
        self.count = 0
        self.stopped = False

    def start(self) -> None:
        for member in self.sim.members:
            self._schedule_next(member)
        duration = self.config.duration_ms
        for _ in range(self.config.sender_crashes):
            at = self.rng.randint(duration // 10, duration * 9 // 10)
            self.sim.call_later(at, self.crash_mid_broadcast)

    def stop(self) -> None:
        self.stopped = True

    def _think(self) -> int:
        return self.rng.randint(self.config.think_min_ms, self.config.think_max_ms)

    def _next(self, member: NodeId) -> None:
        if self.stopped:
            return
        self.broadcast(member)
        self._schedule_next(member)

    def _schedule_next(self, member: NodeId) -> None:
        self.sim.call_later(self._think(), lambda: self._next(member))

    def broadcast(self, member: NodeId) -> bytes | None:
        """Broadcast a fresh payload from ``member``; None if it is down."""
        self.count += 1
        data = b"%d/%d" % (member, self.count)
        self.safety.record_broadcast(member, data)
        incarnation = self.sim.incarnation[member]
        if not self.sim.propose(
            member, data, lambda reply: self._on_reply(member, incarnation, data, reply)
        ):
            self.safety.forget_broadcast(data)
            return None
        return data

    def crash_mid_broadcast(self) -> None:
        """Crash a live member right after its broadcast reached only some others."""
        sim = self.sim
        live = sim.live()
        if self.stopped or not live:
            return
        sender = self.rng.choice(live)
        others = [m for m in sim.members if m != sender]
        self.rng.shuffle(others)
        reached = set(others[: self.rng.randint(0, max(0, len(others) - 1))])
        blocked_before = sim.network.blocked_links
        for member in others:
            if member not in reached:
                sim.network.block(sender, member)
        self.broadcast(sender)
        sim.crash(sender)
        sim.network.heal()
        for src, dst in blocked_before:
            sim.network.block(src, dst)
        downtime = self.rng.randint(self.config.downtime_min_ms, self.config.downtime_max_ms)
        sim.call_later(downtime, lambda: sim.apply_fault(Restart(sender)))

    def _on_reply(self, member: NodeId, incarnation: int, data: bytes, reply: Reply) -> None:
        stats = self.sim.stats
        if isinstance(reply, ProposalCommitted):
            got = self.safety.delivered_at(member, incarnation, reply.index)
            if got != data:
                raise InvariantViolation(
                    "Acknowledged Broadcast",
                    f"node {member} acknowledged {data!r} at index {reply.index} but "
                    f"delivered {got!r} there",
                )
            stats.proposals_acked += 1
        elif isinstance(reply, ReadReady):
            raise InvariantViolation(
                "Acknowledged Broadcast", f"node {member} answered a broadcast with a read point"
            )
        elif isinstance(reply.error, OutcomeUnknown):
            stats.proposals_unknown += 1
        else:
            stats.proposals_failed += 1


def settle(
    sim: Simulation,
    safety: Sequence[BroadcastSafety],
    deadline_ms: int,
    quiet_ms: int = 300,
    probe: Callable[[NodeId], bytes | None] | None = None,
) -> None:
    """After healing: wait until deliveries pause for ``quiet_ms`` with Validity
    and Agreement holding, then require a probe broadcast to reach every member
    that is up. Raises ``InvariantViolation`` if that fails by ``deadline_ms``.

    ``probe(member)`` broadcasts a payload from ``member`` and returns it (it
    must be entered in the checkers' ledger); without it no probe is sent.
    """
    step = 20
    seen = -1
    quiet_since = sim.now
    while sim.now < deadline_ms:
        sim.run_for(step)
        count = sum(checker.deliveries for checker in safety)
        if count != seen:
            seen, quiet_since = count, sim.now
            continue
        if sim.now - quiet_since >= quiet_ms and all(
            checker.eventual_violation(sim) is None for checker in safety
        ):
            break
    for checker in safety:
        checker.check_eventual(sim)
    if probe is None:
        return
    correct = correct_members(sim)
    sender = correct[0] if correct else next(iter(sim.live()), None)
    data = probe(sender) if sender is not None else None
    if data is None:
        return
    while sim.now < deadline_ms:
        if all(safety[0].has_delivered(sim, member, data) for member in sim.live()):
            return
        sim.run_for(step)
    lacking = [m for m in sim.live() if not safety[0].has_delivered(sim, m, data)]
    raise InvariantViolation(
        "Liveness",
        f"after healing, a broadcast from node {sender} did not reach nodes {lacking} "
        f"by {deadline_ms} ms",
    )


def run_broadcast_seed(
    protocol: ProtocolSpec, seed: int, config: BroadcastRunConfig | None = None
) -> BroadcastRunResult:
    """One seeded run of ``protocol`` (see the module docstring)."""
    config = config if config is not None else BroadcastRunConfig()
    checkers: list[Checker] = list(protocol.checkers())
    safety = [c for c in checkers if isinstance(c, BroadcastSafety)]
    if not safety:
        raise ValueError(f"protocol {protocol.name!r} has no BroadcastSafety checker")
    for checker in safety:
        checker.ledger = {}
    spec = attrs.evolve(protocol, checkers=lambda: checkers)
    sim = Simulation(spec, seed, config.sim_config(), config.schedule(seed))
    workload = Workload(sim, safety[0], config, Random(f"{seed}:broadcast"))
    violation = None
    try:
        workload.start()
        sim.run_until(config.duration_ms)
        workload.stop()
        deadline = config.duration_ms + config.settle_timeout_ms
        settle(sim, safety, deadline, config.quiet_ms, probe=workload.broadcast)
    except InvariantViolation as exc:
        violation = Violation(exc.property, exc.detail, sim.now, sim.stats.steps)
    ledger = safety[0].ledger
    counters: Counter[str] = Counter()
    for node in sim.nodes.values():
        if node is not None:
            counters.update(node.counters)
    return BroadcastRunResult(
        seed,
        violation,
        sim.stats,
        broadcasts=len(ledger) if ledger is not None else 0,
        deliveries=safety[0].deliveries,
        end_ms=sim.now,
        counters=counters,
    )


def broadcast_sweep(
    protocol: ProtocolSpec,
    seeds: Iterable[int],
    config: BroadcastRunConfig | None = None,
    on_result: Callable[[BroadcastRunResult], None] | None = None,
    stop_on_failure: bool = False,
) -> BroadcastSweepResult:
    """Run every seed; collect failures and summed statistics."""
    result = BroadcastSweepResult(protocol.name)
    seeded.run_seeds(
        seeds,
        lambda seed: run_broadcast_seed(protocol, seed, config),
        result.add,
        on_result,
        stop_on_failure,
    )
    return result


def summarize_broadcast(result: BroadcastSweepResult, properties: Collection[str] = ()) -> str:
    """A human-readable report of a broadcast sweep."""
    s = result.stats
    lines = [
        f"protocol        {result.protocol}",
        seeded.seeds_line(result.seeds),
        f"broadcasts      {result.broadcasts}; deliveries {result.deliveries}",
        f"messages        {s.messages_sent} sent ({result.messages_per_broadcast:.1f} per "
        f"broadcast), {seeded.dropped(s)} dropped, {s.duplicated} duplicated",
        seeded.faults_line(s),
        "checked         " + ", ".join([*properties, "Acknowledged Broadcast", "Liveness"]),
        *seeded.violation_lines(result.failures),
    ]
    return "\n".join(lines)
