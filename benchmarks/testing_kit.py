"""How fast the testing kit runs seeds.

``python -m benchmarks.testing_kit [--seeds 60] [--rounds 3] [--json]``

For each protocol, a 3-node cluster of the trivial counter machine
(examples/testing_kit) runs ``--seeds`` seeds with all nemeses through
``pyconsensus.testing.expect_ok`` (the kit: Scenario defaults, linearizability
checked), and the same seeds through the bare simulator (``run_seed`` with the
same ``RunConfig``). CPU time (``time.process_time``) is what counts on a
shared machine; rounds alternate kit and bare, and medians are reported:
seeds per CPU-second for each, and the kit's overhead in percent.
A short-run row (``duration_ms=500``) shows how the rate scales with the
virtual time simulated.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from pyconsensus.sim.sweep import run_seed
from pyconsensus.testing import PROTOCOLS, Scenario, expect_ok
from tests.testing.machines import load_example

Workload = load_example().CounterWorkload


def _rate(run: Callable[[int], object], seeds: int) -> float:
    started = time.process_time()
    for seed in range(seeds):
        run(seed)
    return seeds / (time.process_time() - started)


def measure(protocol: str, seeds: int, rounds: int, duration_ms: int) -> dict[str, float]:
    """Median seeds per CPU-second through the kit and bare, and the overhead."""

    def kit(seed: int) -> object:
        return expect_ok(Workload, Scenario(protocol, seed, duration_ms=duration_ms))

    def bare(seed: int) -> object:
        scenario = Scenario(protocol, seed, duration_ms=duration_ms)
        return run_seed(scenario.spec(), seed, scenario.run_config(), workload=Workload)

    kit_rates, bare_rates = [], []
    for _ in range(rounds):
        kit_rates.append(_rate(kit, seeds))
        bare_rates.append(_rate(bare, seeds))
    kit_rate, bare_rate = statistics.median(kit_rates), statistics.median(bare_rates)
    return {
        "kit_seeds_per_cpu_s": round(kit_rate, 1),
        "bare_seeds_per_cpu_s": round(bare_rate, 1),
        "overhead_pct": round(100 * (bare_rate / kit_rate - 1), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=60, help="seeds per round (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    rows = {}
    for duration_ms in (2_000, 500):
        for protocol in PROTOCOLS:
            rows[f"{protocol} {duration_ms} ms"] = measure(
                protocol, args.seeds, args.rounds, duration_ms
            )
            if not args.json:
                print(f"{protocol:6} {duration_ms:5} ms  {rows[f'{protocol} {duration_ms} ms']}")
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
