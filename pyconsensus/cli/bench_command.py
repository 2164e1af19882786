"""``pyconsensus bench``: print benchmark figures (see docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from typing import Any

import attrs

from pyconsensus.cli.bench import core_throughput, format_core
from pyconsensus.cli.bench_lin import format_lin, linearizability_check
from pyconsensus.sim.protocols import REGISTRY


def register(commands: Any) -> None:
    parser = commands.add_parser("bench", help="run benchmarks and print their figures")
    kinds = parser.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    core = kinds.add_parser(
        "core",
        help="committed entries/s of a pure core in the simulator (no I/O, no faults)",
    )
    core.add_argument("--protocol", default="raft", choices=sorted(REGISTRY))
    core.add_argument("--nodes", type=int, default=3)
    core.add_argument("--entries", type=int, default=200_000, help="entries to commit per run")
    core.add_argument("--batch", type=int, default=1_000, help="proposals per virtual ms")
    core.add_argument("--payload", type=int, default=100, help="bytes per proposal")
    core.add_argument("--repeats", type=int, default=5, help="runs; the median is reported")
    core.add_argument(
        "--check", action="store_true", help="also run the safety checkers after every step"
    )
    core.add_argument("--json", action="store_true", help="print one JSON object")
    core.set_defaults(run=run_core)
    lin = kinds.add_parser(
        "lin",
        help="seconds to check a long client history for linearizability",
    )
    lin.add_argument("--protocol", default="raft", choices=sorted(REGISTRY))
    lin.add_argument("--operations", type=int, default=10_000, help="history length")
    lin.add_argument("--clients", type=int, default=10, help="concurrent clients")
    lin.add_argument("--keys", type=int, default=8, help="keys (the checker splits by key)")
    lin.add_argument("--nemesis", default="all", help="faults during the run (default all)")
    lin.add_argument("--seed", type=int, default=1)
    lin.add_argument("--json", action="store_true", help="print one JSON object")
    lin.set_defaults(run=run_lin)


def run_core(args: argparse.Namespace) -> int:
    runs = [
        core_throughput(
            args.protocol,
            nodes=args.nodes,
            entries=args.entries,
            batch=args.batch,
            payload=args.payload,
            check=args.check,
        )
        for _ in range(max(args.repeats, 1))
    ]
    rates = sorted(r.entries_per_s for r in runs)
    median = statistics.median(rates)
    if args.json:
        print(
            json.dumps(
                {
                    "protocol": args.protocol,
                    "nodes": args.nodes,
                    "batch": args.batch,
                    "payload": args.payload,
                    "checks": args.check,
                    "repeats": len(runs),
                    "entries_per_s": round(median),
                    "runs_entries_per_s": [round(r) for r in rates],
                    "python": platform.python_version(),
                }
            )
        )
    else:
        print(format_core(runs))
        print(f"median: {median:,.0f} committed entries/s over {len(runs)} runs")
    return 0


def run_lin(args: argparse.Namespace) -> int:
    result = linearizability_check(
        args.protocol,
        operations=args.operations,
        clients=args.clients,
        keys=args.keys,
        seed=args.seed,
        nemesis=args.nemesis,
    )
    if args.json:
        figures = attrs.asdict(result)
        figures["python"] = platform.python_version()
        print(json.dumps(figures))
    else:
        print(format_lin([result]))
    return 0 if result.valid is not False else 1
