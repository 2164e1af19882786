"""One helper for the sweeps that prove a checker bites.

A checker that cannot fail proves nothing, and one that fails on correct code
proves nothing either. So every such sweep shows both halves: the broken
variant is caught within a bounded number of seeds (by one of the expected
properties), and the correct code passes the very seeds that were tried.
The tables of rows live in the protocols' ``test_*sweep*`` modules.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import pytest
from _pytest.mark import ParameterSet

from pyconsensus.sim import ProtocolSpec, RunConfig, sweep
from pyconsensus.sim.broadcast_sweep import (
    BroadcastRunConfig,
    BroadcastSweepResult,
    broadcast_sweep,
)
from pyconsensus.sim.sweep import SweepResult, WorkloadFactory


def soak(seeds: range, fast: int) -> list[ParameterSet]:
    """A long sweep's seeds as two parameter sets: the first ``fast`` seeds run
    in the default tier (id ``fast``); the rest are the soak (id ``soak``),
    marked ``slow``, which the default run leaves out (CONTRIBUTING.md: how to
    run them). Tests assert over ``len(seeds)``, so both halves check the same."""
    split = seeds.start + fast * seeds.step
    return [
        pytest.param(range(seeds.start, split, seeds.step), id="fast"),
        pytest.param(range(split, seeds.stop, seeds.step), id="soak", marks=pytest.mark.slow),
    ]


def assert_caught(
    broken: ProtocolSpec,
    correct: ProtocolSpec | Sequence[ProtocolSpec],
    seeds: range,
    config: RunConfig | BroadcastRunConfig,
    properties: Collection[str],
    *,
    workload: WorkloadFactory | None = None,
    correct_workload: WorkloadFactory | None = None,
) -> list[int]:
    """Sweep ``broken`` over ``seeds`` until it fails: it must, by one of
    ``properties``; then each ``correct`` spec must pass every seed tried.
    ``workload`` (``correct_workload``) is the broken (correct) run's workload.
    Returns the seeds tried."""
    caught: SweepResult | BroadcastSweepResult
    if isinstance(config, BroadcastRunConfig):
        assert workload is None and correct_workload is None, "broadcast runs take no workload"
        caught = broadcast_sweep(broken, seeds, config, stop_on_failure=True)
    else:
        caught = sweep(broken, seeds, config, stop_on_failure=True, workload=workload)
    assert caught.failures, f"{broken.name}: no checker caught the broken variant in {seeds}"
    violation = caught.failures[0].violation
    assert violation is not None and violation.property in properties, str(violation)
    for spec in [correct] if isinstance(correct, ProtocolSpec) else correct:
        passed: SweepResult | BroadcastSweepResult
        if isinstance(config, BroadcastRunConfig):
            passed = broadcast_sweep(spec, caught.seeds, config)
        else:
            passed = sweep(spec, caught.seeds, config, workload=correct_workload)
        assert [str(f.violation) for f in passed.failures] == [], (
            f"the correct {spec.name} failed seeds the broken one was caught on"
        )
    return caught.seeds
