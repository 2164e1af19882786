"""``pyconsensus status --config cluster.toml``: one table of the whole cluster.

Every member is asked for its view of itself over the client protocol
(``StatusRequest``); a member that does not answer in time shows as
unreachable. Columns:

- ``role``, ``term`` (Raft term, ZAB epoch, Paxos ballot as ``round.node``),
  ``leader`` (whom the node follows), ``commit`` and ``applied`` indexes;
- ``lag``: entries the node has yet to apply, against the highest commit
  index any member reported;
- ``contact``: how long ago this command last heard from the node (it grows
  for a node that stopped answering under ``--watch``).

``--watch`` redraws the table every ``--interval`` seconds (until Ctrl-C, or
``--count`` tables); ``--json`` prints one JSON document per table instead.
Exit status: 0 when every member answered, 1 when one did not, 2 for a bad
cluster file or a missing extra.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pyconsensus.cli.extras import lacks_runtime
from pyconsensus.cli.status_table import Watch
from pyconsensus.core.errors import ConfigError

OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--config", {"required": True, "help": "the cluster file (TOML)"}),
    ("--watch", {"action": "store_true", "help": "redraw the table until Ctrl-C"}),
    ("--interval", {"type": float, "default": 1.0, "help": "seconds between tables"}),
    ("--count", {"type": int, "default": 0, "help": "stop after this many tables (0: never)"}),
    ("--json", {"action": "store_true", "help": "print JSON instead of a table"}),
    ("--timeout", {"type": float, "default": 1.0, "help": "seconds a node may take to answer"}),
)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "status",
        help="one table of a running cluster: role, term, leader, commit, lag per node",
        description="Ask every member of a cluster for its status and print one table.",
    )
    for flag, settings in OPTIONS:
        parser.add_argument(flag, **settings)
    parser.set_defaults(run=run_status)


def run_status(args: argparse.Namespace) -> int:
    if lacks_runtime("status"):
        return 2
    import trio  # noqa: PLC0415 (see demo_command.run_demo)

    from pyconsensus.adapters.trio.config import load_document, parse_members  # noqa: PLC0415
    from pyconsensus.cli.status_poll import watch  # noqa: PLC0415

    try:
        document = load_document(args.config)
        members = parse_members(document.get("members"))
        cluster_id = document.get("cluster_id")
        if not isinstance(cluster_id, str) or not cluster_id:
            raise ConfigError(f"{args.config}: cluster_id must be a non-empty string")
    except ConfigError as exc:
        print(f"pyconsensus status: {exc}", file=sys.stderr)
        return 2
    options = Watch(args.timeout, args.interval, args.count if args.watch else 1, args.json)
    try:
        return trio.run(watch, members, cluster_id, options)
    except KeyboardInterrupt:
        return 0  # the way out of --watch
