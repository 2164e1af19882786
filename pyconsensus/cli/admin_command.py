"""``pyconsensus admin``: change the membership of a running cluster.

::

    pyconsensus admin members --config cluster.toml
    pyconsensus admin add 4 --address 127.0.0.1:7104 --config cluster.toml   # as a learner
    pyconsensus admin add 4 --voter --config cluster.toml
    pyconsensus admin promote 4 --config cluster.toml
    pyconsensus admin remove 2 --config cluster.toml
    pyconsensus admin replace 2 5 --address 127.0.0.1:7105 --config cluster.toml
    pyconsensus admin transfer-leader 3 --config cluster.toml

The request goes to the leader (any member that answers names it). Exit
status: 0 done, 1 refused or failed (one line on stderr says why), 2 a bad
cluster file or arguments. docs/membership.md is the operator's guide.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pyconsensus.cli.extras import lacks_runtime
from pyconsensus.core.errors import ConfigError

OPERATIONS = ("members", "add", "remove", "promote", "replace", "transfer-leader")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "admin",
        help="membership of a running cluster: members, add, remove, promote, replace, "
        "transfer-leader",
        description="Change the membership of a running cluster (Raft), or show it.",
    )
    parser.add_argument("operation", choices=OPERATIONS)
    parser.add_argument("ids", nargs="*", type=int, help="the member(s) concerned")
    parser.add_argument("--config", required=True, help="the cluster file (TOML)")
    parser.add_argument("--address", default="", help="host:port of an added member")
    parser.add_argument("--voter", action="store_true", help="add: as a voter at once")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait")
    parser.add_argument("--json", action="store_true", help="members: print the JSON document")
    parser.add_argument(
        "--tls",
        nargs=3,
        metavar=("CA", "CERT", "KEY"),
        help="a client certificate with the admin role, for a cluster with TLS on",
    )
    parser.set_defaults(run=run_admin)


def request_fields(operation: str, ids: list[int], voter: bool) -> tuple[str, int, int]:
    """The wire operation and member ids of a command line; ``ValueError`` if they do not fit."""
    wanted = {"members": 0, "replace": 2}.get(operation, 1)
    if len(ids) != wanted:
        raise ValueError(f"{operation} takes {wanted} member id(s), got {len(ids)}")
    if operation == "add":
        operation = "add-voter" if voter else "add-learner"
    node = ids[0] if ids else -1
    other = ids[1] if len(ids) > 1 else -1
    return operation, node, other


def run_admin(args: argparse.Namespace) -> int:
    if lacks_runtime("admin"):
        return 2
    import trio  # noqa: PLC0415 (see demo_command.run_demo)

    from pyconsensus.adapters.trio import TlsConfig  # noqa: PLC0415
    from pyconsensus.adapters.trio.admin import administer  # noqa: PLC0415
    from pyconsensus.adapters.trio.config import load_document, parse_members  # noqa: PLC0415
    from pyconsensus.service.messages import AdminRequest, ReplyStatus  # noqa: PLC0415

    try:
        operation, node, other = request_fields(args.operation, args.ids, args.voter)
        document = load_document(args.config)
        members = parse_members(document.get("members"))
        cluster_id = document.get("cluster_id")
        if not isinstance(cluster_id, str) or not cluster_id:
            raise ConfigError(f"{args.config}: cluster_id must be a non-empty string")
    except (ValueError, ConfigError) as exc:
        print(f"pyconsensus admin: {exc}", file=sys.stderr)
        return 2
    request = AdminRequest(0, operation, node, other, args.address, "")
    tls = TlsConfig(*args.tls) if args.tls else None
    reply = trio.run(
        lambda: administer(members, cluster_id, request, timeout=args.timeout, tls=tls)
    )
    if reply.status != ReplyStatus.OK:
        print(
            f"pyconsensus admin: {args.operation} failed: {reply.error}: {reply.message}",
            file=sys.stderr,
        )
        return 1
    if operation == "members":
        print(_members_text(reply.result.decode(), as_json=args.json))
    else:
        print(f"{args.operation} {' '.join(map(str, args.ids))}: done")
    return 0


def _members_text(document: str, *, as_json: bool) -> str:
    if as_json:
        return document
    data = json.loads(document)
    lines = [
        f"leader {data['leader']}, commit {data['commit_index']}"
        + (", change pending" if data["pending"] else "")
    ]
    for member in data["members"]:
        lines.append(
            f"{member['id']:>4}  {member['role']:<15} {member['address'] or '-':<22} "
            f"{member['incarnation'] or '(incarnation not recorded yet)'}"
        )
    return "\n".join(lines)
