"""``pyconsensus demo``: a real cluster on this machine, a crash, and the checks.

Starts a cluster of node processes on loopback (LMDB in a temporary
directory), runs a write workload with a progress bar, SIGKILLs the leader
mid-run, shows the re-election, restarts the killed node, waits until it has
caught up, verifies that every node holds the identical state and that no
acknowledged write was lost, and prints a summary. Exits 1 on any discrepancy.
"""

from __future__ import annotations

import argparse
from typing import Any

from pyconsensus.cli.extras import lacks_runtime
from pyconsensus.protocols import CONSENSUS_PROTOCOLS


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="run a real 3-node cluster on loopback, crash its leader, check the outcome",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--protocol", default="raft", choices=CONSENSUS_PROTOCOLS)
    parser.add_argument("--nodes", type=int, default=3, help="cluster size (default 3)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent writers (default 16)")
    parser.add_argument(
        "--duration", type=float, default=8.0, help="seconds of workload (default 8)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="give up (exit 2) if the whole demo takes longer (default 120 s)",
    )
    parser.add_argument(
        "--dir", default=None, help="where to put the cluster (kept; default: a temp dir, removed)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data and logs afterwards")
    parser.add_argument("--no-kill", action="store_true", help="skip the leader crash")
    parser.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    if lacks_runtime("demo"):
        return 2
    # Imported here: the trio runtime needs the optional extras (trio, cbor2,
    # lmdb) that `pyconsensus sim` must not require.
    import trio  # noqa: PLC0415

    from pyconsensus.cli.demo import DemoOptions, run  # noqa: PLC0415

    if args.nodes < 3 and not args.no_kill:
        print("pyconsensus demo: crashing the leader needs at least 3 nodes (or --no-kill)")
        return 2
    options = DemoOptions(
        protocol=args.protocol,
        nodes=args.nodes,
        clients=max(1, args.clients),
        duration=max(1.0, args.duration),
        timeout=args.timeout,
        directory=args.dir,
        keep=args.keep,
        kill=not args.no_kill,
    )
    interrupted = False
    try:
        return trio.run(run, options)
    except* KeyboardInterrupt:
        interrupted = True
    if interrupted:  # every node process was stopped on the way out
        print("\ninterrupted", flush=True)
    return 130
