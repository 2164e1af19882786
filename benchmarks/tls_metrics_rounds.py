"""Off, metrics and TLS interleaved: ``python -m benchmarks.tls_metrics_rounds
[--rounds 3] [--variants off,metrics,tls] [--clients 1 64] [--no-sync]``.

Each round runs ``pyconsensus bench cluster --clients 1 64 --seconds 5
--warmup 1 --repeats 1 --json`` once per variant - without a flag, with
``--metrics`` (every node scraped every second) and with ``--tls`` - and
prints, per variant and client count, the medians over rounds (writes/s, p50,
leader changes summed) and the median of the per-round ratios against ``off``
(each round's runs are neighbours in time, so a drifting machine load cancels
out of the ratio). Interleaving keeps a machine's drift out of the comparison
(docs/benchmarks.md). On a shared machine, run it under a real-time policy
(``chrt -f 20 python -m ...``) so that other work cannot preempt the cluster.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

VARIANTS = {"off": [], "metrics": ["--metrics"], "tls": ["--tls"]}
COMMAND = [sys.executable, "-m", "pyconsensus", "bench", "cluster"]
COMMAND += ["--seconds", "5", "--warmup", "1", "--repeats", "1", "--json"]

Row = tuple[float, float, int]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--variants", default="off,metrics,tls", help="from off,metrics,tls")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--no-sync", action="store_true", help="pass --no-sync (CPU cost only)")
    args = parser.parse_args()
    variants = {name: VARIANTS[name] for name in args.variants.split(",")}
    rows: dict[str, dict[int, list[Row]]] = {
        name: {clients: [] for clients in args.clients} for name in variants
    }
    clients_flags = ["--clients", *map(str, args.clients)]
    if args.no_sync:
        clients_flags.append("--no-sync")
    for number in range(args.rounds):
        for name, flags in variants.items():
            for result in _run([*COMMAND, *clients_flags, *flags]):
                row = (result["writes_per_s"], result["p50_ms"], result["leader_changes"])
                rows[name][result["clients"]].append(row)
                print(f"round {number} {name:7} C={result['clients']:<3} {row}", flush=True)
    for name, by_clients in rows.items():
        for clients, runs in by_clients.items():
            print(_summary(name, clients, runs, rows.get("off", {}).get(clients)))


def _run(command: list[str], attempts: int = 3) -> list[dict[str, Any]]:
    """One benchmark's result rows; a failed run (its error printed) is run again."""
    for _ in range(attempts):
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode == 0:
            results: list[dict[str, Any]] = json.loads(done.stdout)["results"]
            return results
        print(f"run failed (exit {done.returncode}), again: {done.stderr.strip()[-300:]}")
    raise SystemExit(f"{' '.join(command)} failed {attempts} times")


def _summary(name: str, clients: int, runs: list[Row], off: list[Row] | None) -> str:
    writes = statistics.median(run[0] for run in runs)
    p50 = statistics.median(run[1] for run in runs)
    changes = sum(run[2] for run in runs)
    line = f"{name:7} C={clients:<3} {writes:8.0f} writes/s  p50 {p50:.2f} ms  lc {changes}"
    if off is not None and name != "off":
        ratio = statistics.median(run[0] / base[0] for run, base in zip(runs, off, strict=True))
        extra = statistics.median(run[1] - base[1] for run, base in zip(runs, off, strict=True))
        line += f"  vs off: throughput {(ratio - 1) * 100:+.1f}%  p50 {extra:+.2f} ms"
    return line


if __name__ == "__main__":
    main()
