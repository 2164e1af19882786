"""Shrinking a failing run: fewer faults, a shorter run, the same violation.

``shrink`` first drops faults by delta debugging (Zeller's ddmin: try halves,
then complements, then finer pieces, keeping any smaller schedule that still
fails the same way), then tries shorter durations. Every attempt is a full,
deterministic run of the same seed, so the budget is counted in runs; the
caller may also pass ``should_stop`` (the CLI uses it for a wall-clock limit,
which this pure module cannot read).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import attrs

from pyconsensus.sim.checker import Violation
from pyconsensus.sim.faults import Scheduled, heal_everything
from pyconsensus.sim.specs import ProtocolSpec
from pyconsensus.sim.sweep import RunConfig, RunResult, WorkloadFactory, run_seed


@attrs.frozen(slots=True)
class ShrinkResult:
    """The smallest failing run found, and what it took to find it."""

    config: RunConfig
    schedule: tuple[Scheduled, ...]
    result: RunResult
    runs: int
    faults_before: int
    faults_after: int
    duration_before: int

    def summary(self) -> str:
        return (
            f"{self.faults_before} -> {self.faults_after} faults, "
            f"{self.duration_before} -> {self.config.duration_ms} ms of faults "
            f"({self.runs} runs)"
        )


class _Budget(Exception):
    pass


def shrink(
    protocol: ProtocolSpec,
    seed: int,
    config: RunConfig,
    schedule: Sequence[Scheduled],
    violation: Violation,
    *,
    max_runs: int = 150,
    should_stop: Callable[[], bool] | None = None,
    workload: WorkloadFactory | None = None,
    same: Callable[[Violation], bool] | None = None,
) -> ShrinkResult:
    """Shrink a failing run of ``seed`` (which failed with ``violation``).

    A candidate counts as failing if ``same(new_violation)`` holds - by
    default, if it violates the same property.
    """
    if same is None:

        def same(found: Violation) -> bool:
            return found.property == violation.property

    end = config.duration_ms
    body = [item for item in schedule if item.at_ms < end]
    runs = 0
    best_config = config
    best_body = list(body)
    best_result: RunResult | None = None

    def attempt(cfg: RunConfig, items: Sequence[Scheduled]) -> RunResult | None:
        nonlocal runs
        if runs >= max_runs or (should_stop is not None and should_stop()):
            raise _Budget
        runs += 1
        full = _with_tail(items, cfg)
        result = run_seed(protocol, seed, cfg, full, workload=workload)
        if result.violation is not None and same(result.violation):
            return result
        return None

    def fails(items: list[Scheduled]) -> bool:
        nonlocal best_body, best_result
        result = attempt(best_config, items)
        if result is None:
            return False
        best_body, best_result = items, result
        return True

    try:
        if not fails([]):
            _ddmin(body, fails)
        # Then a shorter run: clients stop and everything heals earlier.
        last_fault = max((item.at_ms for item in best_body), default=0)
        floor = max(last_fault + 1, violation.time_ms + 1 if violation.time_ms < end else 0)
        for fraction in (0.125, 0.25, 0.5, 0.75):
            duration = int(end * fraction)
            if duration < max(floor, 100) or duration >= best_config.duration_ms:
                continue
            cfg = attrs.evolve(best_config, duration_ms=duration)
            items = [item for item in best_body if item.at_ms < duration]
            result = attempt(cfg, items)
            if result is not None:
                best_config, best_body, best_result = cfg, items, result
                break
    except _Budget:
        pass
    final = _with_tail(best_body, best_config)
    if best_result is None:  # nothing smaller failed: the original stands
        best_result = run_seed(protocol, seed, config, tuple(schedule), workload=workload)
        runs += 1
        final = tuple(schedule)
    return ShrinkResult(
        config=best_config,
        schedule=final,
        result=best_result,
        runs=runs,
        faults_before=len(body),
        faults_after=len(best_body),
        duration_before=end,
    )


def _with_tail(items: Sequence[Scheduled], config: RunConfig) -> tuple[Scheduled, ...]:
    """``items`` plus the final healing at the end of the fault phase."""
    members = list(range(1, config.nodes + 1))
    tail = [Scheduled(config.duration_ms, fault) for fault in heal_everything(members)]
    return tuple(sorted([*items, *tail], key=lambda item: item.at_ms))


def _ddmin(items: list[Scheduled], fails: Callable[[list[Scheduled]], bool]) -> None:
    """Zeller's ddmin; ``fails`` records every smaller failing list it sees."""
    granularity = 2
    while len(items) >= 2:
        size = math.ceil(len(items) / granularity)
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        for chunk in chunks:
            if fails(chunk):
                items, granularity = chunk, 2
                break
        else:
            for k in range(len(chunks)):
                rest = [item for j, c in enumerate(chunks) if j != k for item in c]
                if fails(rest):
                    items, granularity = rest, max(granularity - 1, 2)
                    break
            else:
                if granularity >= len(items):
                    return
                granularity = min(len(items), granularity * 2)
