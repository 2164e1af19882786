"""What every kind of seeded run shares: the simulated cluster and random fault
schedule a run's configuration describes, the loop over seeds, and the lines of
a sweep's report that do not depend on what was run.

``pyconsensus.sim.sweep`` (consensus protocols with clients) and
``pyconsensus.sim.broadcast_sweep`` (broadcast primitives) build on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from random import Random
from typing import Any, Generic, TypeVar

import attrs

from pyconsensus.sim.checker import Violation
from pyconsensus.sim.faults import FAULT_KINDS, Scheduled, random_schedule
from pyconsensus.sim.network import NetworkConfig
from pyconsensus.sim.simulation import SimConfig, SimStats


@attrs.frozen(slots=True)
class SeededRun:
    """What every kind of seeded run is configured with (times in virtual
    milliseconds): the simulated cluster it runs on and the faults that strike
    it. Subclasses add what their runs do and may change the defaults."""

    nodes: int = 3
    duration_ms: int = 4_000
    """How long the faults (and the clients or senders) run."""
    faults: frozenset[str] = frozenset(FAULT_KINDS)
    mean_fault_gap_ms: int = 400
    compact_every: int = 64
    tick_ms: int = 10
    network: NetworkConfig = attrs.field(
        factory=lambda: NetworkConfig(min_delay_ms=1, max_delay_ms=8)
    )

    def sim_config(self) -> SimConfig:
        return SimConfig(self.nodes, self.tick_ms, self.network, self.compact_every)

    def shared(self) -> dict[str, Any]:
        """This configuration's ``SeededRun`` fields, by name (to carry them
        over to another kind of run)."""
        return {field.name: getattr(self, field.name) for field in attrs.fields(SeededRun)}

    def random_faults(self, seed: int) -> tuple[Scheduled, ...]:
        """The seed's schedule of faults of the configured kinds."""
        return random_schedule(
            self.schedule_rng(seed),
            self.members(),
            self.duration_ms,
            self.faults,
            self.mean_fault_gap_ms,
        )

    def members(self) -> list[int]:
        return list(range(1, self.nodes + 1))

    @staticmethod
    def schedule_rng(seed: int) -> Random:
        """The random source of a seed's fault schedule (apart from the run's)."""
        return Random(f"{seed}:schedule")


@attrs.frozen(slots=True)
class SeededResult:
    """What every kind of run reports: its seed, the first property violated
    (None: the run passed) and the simulator's figures."""

    seed: int
    violation: Violation | None
    stats: SimStats

    @property
    def ok(self) -> bool:
        return self.violation is None


R = TypeVar("R", bound=SeededResult)


@attrs.define
class SeededSweep(Generic[R]):
    """The runs of a sweep so far: their seeds, the failed runs and the summed
    figures (``add`` folds a run in; subclasses sum more)."""

    protocol: str
    seeds: list[int] = attrs.field(factory=list)
    failures: list[R] = attrs.field(factory=list)
    stats: SimStats = attrs.field(factory=SimStats)

    @property
    def ok(self) -> bool:
        return not self.failures

    def add(self, run: R) -> None:
        """Fold one run into the sweep."""
        self.seeds.append(run.seed)
        self.stats.add(run.stats)
        if not run.ok:
            self.failures.append(run)


def run_seeds(
    seeds: Iterable[int],
    run_one: Callable[[int], R],
    add: Callable[[R], None],
    on_result: Callable[[R], None] | None = None,
    stop_on_failure: bool = False,
) -> None:
    """Run every seed in order, folding each result in with ``add`` before
    ``on_result`` sees it; stop after the first failure if asked to."""
    for seed in seeds:
        run = run_one(seed)
        add(run)
        if on_result is not None:
            on_result(run)
        if stop_on_failure and not run.ok:
            break


def seeds_line(seeds: Sequence[int]) -> str:
    span = f" ({seeds[0]}..{seeds[-1]})" if seeds else ""
    return f"seeds           {len(seeds)}{span}"


def faults_line(s: SimStats) -> str:
    jumps = f", {s.clock_jumps} clock jumps" if s.clock_jumps else ""
    return (
        f"faults          {s.partitions} partitions, {s.crashes} crashes "
        f"({s.lost_writes} mid-write), {s.restarts} restarts, "
        f"{s.network_storms} network storms{jumps}"
    )


def dropped(s: SimStats) -> int:
    """Messages the network dropped, for any reason."""
    return s.dropped_partition + s.dropped_loss + s.dropped_crashed


def violation_lines(failures: Sequence[SeededResult]) -> list[str]:
    lines = [f"violations      {len(failures)}"]
    lines.extend(f"  seed {failure.seed}: {failure.violation}" for failure in failures)
    return lines
