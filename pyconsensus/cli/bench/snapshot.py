"""``pyconsensus bench snapshot``: a wiped follower catching up from a large
snapshot on a 3-process cluster (``pyconsensus.adapters.trio.snapshot_bench``)."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from pyconsensus.protocols import CONSENSUS_PROTOCOLS


def register(kinds: Any) -> None:
    """Add the ``snapshot`` benchmark to ``pyconsensus bench``."""
    snapshot = kinds.add_parser(
        "snapshot",
        help="catch-up time, transfer MB/s, peak RSS and loop stalls of a wiped follower "
        "catching up from a large snapshot (3 processes on loopback)",
    )
    snapshot.add_argument("--state-mb", type=int, default=64, help="state to build, in MiB")
    snapshot.add_argument("--value-kib", type=int, default=256, help="KiB per put")
    snapshot.add_argument(
        "--compact-every", type=int, default=0, help="entries per snapshot (0: half the puts)"
    )
    snapshot.add_argument("--protocol", default="raft", choices=CONSENSUS_PROTOCOLS)
    snapshot.add_argument("--timeout", type=float, default=600.0, help="bound of the catch-up, s")
    snapshot.add_argument("--dir", default=None, help="where the cluster lives (default: $TMPDIR)")
    snapshot.add_argument("--json", action="store_true", help="print one JSON object")
    snapshot.set_defaults(run=run_snapshot)


def run_snapshot(args: argparse.Namespace) -> int:
    import trio  # noqa: PLC0415 (the CLI starts without the runtime's imports)

    from pyconsensus.adapters.trio.snapshot_bench import bench_snapshot  # noqa: PLC0415

    if args.state_mb < 1 or args.value_kib < 1:
        print("pyconsensus bench snapshot: --state-mb and --value-kib must be >= 1")
        return 2
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-snapshot-") as root:
        result = trio.run(
            lambda: bench_snapshot(
                Path(root),
                state_mb=args.state_mb,
                value_kib=args.value_kib,
                compact_every=args.compact_every,
                protocol=args.protocol,
                timeout=args.timeout,
            )
        )
    if args.json:
        print(json.dumps({"benchmark": "snapshot", **result}))
    else:
        for key, value in result.items():
            print(f"{key:<22} {value}")
    return 0
