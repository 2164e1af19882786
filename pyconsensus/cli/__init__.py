"""The ``pyconsensus`` command: ``demo`` (a real cluster), ``node`` (one node of a
service), ``sim`` sweeps and ``bench`` benchmarks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyconsensus import __version__
from pyconsensus.cli import bench, demo_command, node_command, sim_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyconsensus",
        description="Embeddable consensus for Python: Raft, ZAB and Multi-Paxos cores, "
        "a deterministic simulator, and trio/LMDB/CBOR adapters.",
    )
    parser.add_argument("--version", action="version", version=f"pyconsensus {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo_command.register(commands)
    node_command.register(commands)
    sim_command.register(commands)
    bench.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pyconsensus`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        result: int = args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return result
