"""The key-value workload with deletes and range scans (opt-in): a sweep under
every nemesis stays linearizable, and the default workload is unchanged."""

from __future__ import annotations

from collections import Counter
from random import Random

import pytest

from pyconsensus.sim import RunConfig, RunResult, summarize, sweep
from pyconsensus.sim.checkers.raft import SPEC as RAFT
from pyconsensus.sim.history import OK
from pyconsensus.sim.workloads import KVWorkload
from tests.sweeps import soak

CONFIG = RunConfig(workload="custom", check_linearizability=True, nemesis=("all",))


def with_deletes_and_ranges() -> KVWorkload:
    return KVWorkload(4, reads=0.3, puts=0.2, appends=0.2, deletes=0.1, ranges=0.1)


@pytest.mark.parametrize("seeds", soak(range(100), fast=25))
def test_a_hundred_seeds_with_deletes_and_ranges_stay_linearizable(seeds: range) -> None:
    done: Counter[tuple[str, object]] = Counter()

    def tally(run: RunResult) -> None:
        done.update((op.f, op.output) for op in run.history if op.status == OK)

    result = sweep(RAFT, seeds, CONFIG, tally, workload=with_deletes_and_ranges)
    assert result.ok, summarize(result, RAFT.properties)
    n = len(seeds)
    assert result.histories_checked == n and result.checks_unknown == 0
    assert result.stats.crashes > n and result.stats.ops_indeterminate > 0
    assert result.operations_checked > 100 * n
    # Deletes found keys and missed them; ranges saw keys and empty intervals.
    assert done["delete", True] > n and done["delete", False] > n
    assert done["range", None] > n and sum(k for (f, _), k in done.items() if f == "range") > 10 * n


def test_the_opt_in_mix_draws_deletes_and_ranges() -> None:
    workload, rng = with_deletes_and_ranges(), Random(1)
    drawn = Counter(workload.next(rng, 1, n).f for n in range(1, 2001))
    assert set(drawn) == {"get", "put", "append", "delete", "range", "cas"}
    assert 150 < drawn["delete"] < 250 and 150 < drawn["range"] < 250


def test_the_default_mix_has_no_deletes_or_ranges() -> None:
    # (tests/sim/test_trace_digests.py shows the default runs are unchanged.)
    workload, rng = KVWorkload(4), Random(5)
    drawn = {workload.next(rng, 1, n).f for n in range(1, 500)}
    assert drawn == {"get", "put", "append", "cas"}
