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
import json
import sys
from collections.abc import Sequence
from typing import Any

import attrs

from pyconsensus.cli.extras import missing_message
from pyconsensus.core.errors import ConfigError


@attrs.frozen(slots=True)
class NodeRow:
    """One member's line of the table; ``error`` is set when it did not answer."""

    node_id: int
    address: str
    role: str = ""
    term: str = ""
    leader: int | None = None
    commit: int | None = None
    applied: int | None = None
    lag: int | None = None
    contact: float | None = None
    """Seconds since this command last heard from the node (None: never)."""
    error: str = ""


@attrs.frozen(slots=True)
class Watch:
    """How ``pyconsensus status`` polls: per-node ``timeout``, seconds between
    tables, how many tables (0: until Ctrl-C), JSON or a table."""

    timeout: float
    interval: float
    count: int
    as_json: bool


COLUMNS = ("node", "address", "role", "term", "leader", "commit", "applied", "lag", "contact")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "status",
        help="one table of a running cluster: role, term, leader, commit, lag per node",
        description="Ask every member of a cluster for its status and print one table.",
    )
    parser.add_argument("--config", required=True, help="the cluster file (TOML)")
    parser.add_argument("--watch", action="store_true", help="redraw the table until Ctrl-C")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between tables")
    parser.add_argument(
        "--count", type=int, default=0, help="stop after this many tables (0: never)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--timeout", type=float, default=1.0, help="seconds a node may take to answer"
    )
    parser.set_defaults(run=run_status)


def run_status(args: argparse.Namespace) -> int:
    lacking = missing_message("status")
    if lacking is not None:
        print(lacking, file=sys.stderr)
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


def with_lag(rows: Sequence[NodeRow]) -> list[NodeRow]:
    """``rows`` with ``lag`` filled in against the highest reported commit index."""
    commits = [row.commit for row in rows if row.commit is not None]
    top = max(commits, default=0)
    return [
        attrs.evolve(row, lag=top - row.applied) if row.applied is not None else row for row in rows
    ]


def term_text(protocol: str, term: int) -> str:
    """The term as people read it: Paxos ballots are ``round.node``."""
    if protocol == "paxos":
        from pyconsensus.paxos.ballot import Ballot  # noqa: PLC0415 (only for Paxos clusters)

        ballot = Ballot.unpack(term)
        return f"{ballot.round}.{ballot.node_id}"
    return str(term)


def render(rows: Sequence[NodeRow]) -> str:
    """The table, one line per member, columns aligned."""
    lines = [list(COLUMNS)]
    for row in rows:
        contact = "never" if row.contact is None else f"{row.contact:.1f}s ago"
        if row.error:
            lines.append([str(row.node_id), row.address, "unreachable", "", "", "", "", ""])
            lines[-1].append(contact)
            continue
        lines.append(
            [
                str(row.node_id),
                row.address,
                row.role,
                row.term,
                "-" if row.leader is None else str(row.leader),
                _text(row.commit),
                _text(row.applied),
                _text(row.lag),
                contact,
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def to_json(cluster_id: str, rows: Sequence[NodeRow]) -> str:
    """The table as one JSON document (one line)."""
    leaders = {row.node_id for row in rows if not row.error and row.role == "leader"}
    return json.dumps(
        {
            "cluster_id": cluster_id,
            "leader": next(iter(leaders)) if len(leaders) == 1 else None,
            "nodes": [attrs.asdict(row) for row in rows],
        }
    )


def _text(value: int | None) -> str:
    return "" if value is None else str(value)
