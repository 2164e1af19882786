"""Messages per broadcast of each broadcast primitive, measured in the simulator.

    python benchmarks/broadcast_cost.py [--sizes 3,5,7] [--seed 0]

Failure-free runs (no faults, no loss): every member broadcasts every 20-100
virtual ms for 2 s, then the group settles. Counts every message sent, by
type, divided by the number of broadcasts. Results are in docs/broadcast.md.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from random import Random
from typing import Any

import attrs

from pyconsensus.sim import ProtocolSpec, Simulation
from pyconsensus.sim.broadcast_sweep import BroadcastRunConfig, Workload, settle
from pyconsensus.sim.checkers.broadcast import (
    ATOMIC_PAXOS_SPEC,
    ATOMIC_RAFT_SPEC,
    BEST_EFFORT_SPEC,
    EAGER_SPEC,
    LAZY_SPEC,
    BroadcastSafety,
)

SPECS = (BEST_EFFORT_SPEC, EAGER_SPEC, LAZY_SPEC, ATOMIC_RAFT_SPEC, ATOMIC_PAXOS_SPEC)


def measure(spec: ProtocolSpec, nodes: int, seed: int) -> tuple[int, Counter[str]]:
    """(broadcasts, messages sent by type) of one failure-free run."""
    config = BroadcastRunConfig(nodes=nodes, faults=frozenset(), sender_crashes=0)
    checker = BroadcastSafety(
        agreement=True, sender_delivers_first=not spec.total_order, ledger=True
    )
    sim = Simulation(attrs.evolve(spec, checkers=lambda: (checker,)), seed, config.sim_config())
    sent: Counter[str] = Counter()

    def count(sim: Simulation, kind: str, details: dict[str, Any]) -> None:
        if kind == "send":
            sent[type(details["message"]).__name__] += 1

    sim.observe(count)
    workload = Workload(sim, checker, config, Random(seed))
    workload.start()
    sim.run_until(config.duration_ms)
    workload.stop()
    settle(sim, [checker], config.duration_ms + config.settle_timeout_ms)
    assert checker.ledger is not None
    return len(checker.ledger), sent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,5,7")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print("| primitive | N | broadcasts | messages per broadcast (by type) | total |")
    print("|---|---|---|---|---|")
    for spec in SPECS:
        for n in sizes:
            broadcasts, sent = measure(spec, n, args.seed)
            by_type = ", ".join(
                f"{name} {count / broadcasts:.1f}" for name, count in sent.most_common()
            )
            total = sum(sent.values()) / broadcasts
            print(f"| {spec.name} | {n} | {broadcasts} | {by_type} | {total:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
