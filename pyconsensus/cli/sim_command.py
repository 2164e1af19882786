"""``pyconsensus sim``: seeded fault-injection sweeps in the deterministic simulator."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from pyconsensus.core.errors import ConfigError
from pyconsensus.sim.faults import FAULT_KINDS
from pyconsensus.sim.protocols import REGISTRY, get_protocol
from pyconsensus.sim.sweep import RunConfig, RunResult, fault_kinds, summarize, sweep


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "sim",
        help="run a seeded fault-injection sweep in the simulator",
        description="Run one simulated cluster per seed under random faults, check safety "
        "after every step and liveness after healing; exit 1 on any violation.",
    )
    parser.add_argument("--protocol", default="raft", choices=sorted(REGISTRY))
    parser.add_argument("--seeds", type=int, default=100, help="how many seeds (default 100)")
    parser.add_argument("--start-seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--nodes", type=int, default=3, help="cluster size (default 3)")
    parser.add_argument(
        "--duration", type=int, default=4_000, help="virtual ms of faults per run (default 4000)"
    )
    parser.add_argument(
        "--faults",
        default="all",
        help=f"comma-separated fault kinds from {','.join(FAULT_KINDS)}, or all/none",
    )
    parser.add_argument(
        "--fault-gap", type=int, default=400, help="mean virtual ms between faults (default 400)"
    )
    parser.add_argument("--clients", type=int, default=3, help="simulated clients (default 3)")
    parser.add_argument(
        "--stop-on-failure", action="store_true", help="stop at the first violating seed"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        spec = get_protocol(args.protocol)
        config = RunConfig(
            nodes=args.nodes,
            duration_ms=args.duration,
            faults=fault_kinds(args.faults),
            mean_fault_gap_ms=args.fault_gap,
            clients=args.clients,
        )
        config.schedule(0)  # validates the fault kinds
    except ConfigError as exc:
        print(f"pyconsensus sim: {exc}", file=sys.stderr)
        return 2
    seeds = range(args.start_seed, args.start_seed + args.seeds)
    started = time.perf_counter()
    done = 0
    failed = 0

    def progress(result: RunResult) -> None:
        nonlocal done, failed
        done += 1
        failed += not result.ok
        if not args.quiet and sys.stderr.isatty():
            width = 30
            filled = width * done // max(len(seeds), 1)
            bar = "#" * filled + "." * (width - filled)
            print(
                f"\r[{bar}] {done}/{len(seeds)} seeds, {failed} violations",
                end="",
                file=sys.stderr,
                flush=True,
            )

    result = sweep(spec, seeds, config, on_result=progress, stop_on_failure=args.stop_on_failure)
    if not args.quiet and sys.stderr.isatty():
        print(file=sys.stderr)
    elapsed = time.perf_counter() - started
    print(summarize(result, spec.properties))
    print(f"wall time       {elapsed:.1f} s")
    for failure in result.failures:
        print(
            f"reproduce seed {failure.seed}: pyconsensus sim --protocol {args.protocol} "
            f"--start-seed {failure.seed} --seeds 1 --nodes {args.nodes} "
            f"--duration {args.duration} --faults {args.faults} --fault-gap {args.fault_gap} "
            f"--clients {args.clients}"
        )
    return 0 if result.ok else 1
