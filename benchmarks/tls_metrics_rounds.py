"""Off, metrics and TLS interleaved: ``python -m benchmarks.tls_metrics_rounds [--rounds 3]``.

Each round runs ``pyconsensus bench cluster --clients 1 64 --seconds 5
--warmup 1 --repeats 1 --json`` three times - without a flag, with
``--metrics`` and with ``--tls`` - and the medians over rounds are printed
(writes/s and p50 per client count, leader changes summed). Interleaving
keeps a machine's drift out of the comparison (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

VARIANTS = {"off": [], "metrics": ["--metrics"], "tls": ["--tls"]}
COMMAND = [sys.executable, "-m", "pyconsensus", "bench", "cluster", "--clients", "1", "64"]
COMMAND += ["--seconds", "5", "--warmup", "1", "--repeats", "1", "--json"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    rounds = parser.parse_args().rounds
    rows: dict[str, dict[int, list[tuple[float, float, int]]]] = {
        name: {1: [], 64: []} for name in VARIANTS
    }
    for number in range(rounds):
        for name, flags in VARIANTS.items():
            done = subprocess.run(
                [*COMMAND, *flags], capture_output=True, text=True, timeout=300, check=True
            )
            for result in json.loads(done.stdout)["results"]:
                row = (result["writes_per_s"], result["p50_ms"], result["leader_changes"])
                rows[name][result["clients"]].append(row)
                print(f"round {number} {name:7} C={result['clients']:<3} {row}", flush=True)
    for name, by_clients in rows.items():
        for clients, runs in by_clients.items():
            writes = statistics.median(run[0] for run in runs)
            p50 = statistics.median(run[1] for run in runs)
            changes = sum(run[2] for run in runs)
            print(f"{name:7} C={clients:<3} {writes:8.0f} writes/s  p50 {p50:.2f} ms  lc {changes}")


if __name__ == "__main__":
    main()
