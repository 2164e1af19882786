"""The ``pyconsensus`` command: ``demo`` (a real cluster), ``node`` (one node of a
service), ``status`` (a table of a running cluster), ``admin`` (membership of a running
cluster), ``sim`` sweeps, ``bench``
benchmarks and ``certs`` (a development CA)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyconsensus import __version__
from pyconsensus.cli import (
    admin_command,
    bench,
    certs_command,
    demo_command,
    node_command,
    sim_command,
    status,
)


class _HelpWithDefaults(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it already names one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        shown = "default" in text or not _has_default(action)
        if action.option_strings and text != argparse.SUPPRESS and not shown:
            text += " (default: %(default)s)"
        return text


def _has_default(action: argparse.Action) -> bool:
    return action.default not in (None, False, argparse.SUPPRESS, [])


def _with_defaults(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and all its subcommands' parsers the default-showing help."""
    parser.formatter_class = _HelpWithDefaults
    for action in parser._actions:
        if action.option_strings and action.help is None and _has_default(action):
            action.help = "default: %(default)s"  # argparse shows no line for help=None
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _with_defaults(sub)


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
    status.register(commands)
    admin_command.register(commands)
    sim_command.register(commands)
    bench.register(commands)
    certs_command.register(commands)
    _with_defaults(parser)
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
