"""Command-line client of the example key-value service.

    python kv.py put color blue
    python kv.py get color
    python kv.py cas color blue green       # set to green only if it is blue
    python kv.py cas --absent shape round   # set only if absent
    python kv.py delete color
    python kv.py range a m --limit 10       # keys in [a, m), in order, one page
    python kv.py range --all                # every key, page by page
    python kv.py status                     # every node's view of the cluster

Talks to any node of the cluster in ``--config`` (default: cluster.toml next to
this file), follows leader hints, and retries safely: a command is applied at
most once, however often it is retried.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import trio

from pyconsensus.adapters.trio import Client, IndeterminateResult, open_client
from pyconsensus.adapters.trio.config import load_document, parse_members
from pyconsensus.core.errors import ConsensusError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kvstore import command


async def main(args: argparse.Namespace) -> int:
    document = load_document(args.config)
    members = parse_members(document["members"])
    async with open_client(members, document["cluster_id"], timeout=args.timeout) as client:
        if args.op == "status":
            for node in sorted(members):
                try:
                    s = await client.status(node)
                    print(
                        f"node {node}: {s.role:<9} term {s.term}  leader {s.leader}  "
                        f"commit {s.commit_index}  applied {s.applied_index}"
                    )
                except (OSError, ConsensusError, trio.TooSlowError, Exception) as exc:
                    print(f"node {node}: unreachable ({exc})")
            return 0
        if args.op == "range":
            print(json.dumps(await scan(client, args)))
            return 0
        if args.op == "get":
            answer = await client.read(command("get", args.key))
        elif args.op == "put":
            answer = await client.propose(command("put", args.key, value=args.value))
        elif args.op == "cas":
            expected = None if args.absent else args.expected
            new = args.expected if args.absent else args.value
            answer = await client.propose(command("cas", args.key, expected=expected, value=new))
        else:
            answer = await client.propose(command("delete", args.key))
        print(json.dumps(json.loads(answer)))
        return 0


async def scan(client: Client, args: argparse.Namespace) -> dict[str, object]:
    """One page of the range, or (``--all``) every page of it."""
    start: str | None = args.start
    items: list[object] = []
    while start is not None:
        query = command("range", start, end=args.end, limit=args.limit)
        page = json.loads(await client.read(query))
        if "error" in page or not args.all:
            return dict(page)
        items.extend(page["items"])
        start = page["items"][-1][0] + "\x00" if page["more"] else None
    return {"items": items, "more": False}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(Path(__file__).with_name("cluster.toml")))
    parser.add_argument("--timeout", type=float, default=5.0)
    ops = parser.add_subparsers(dest="op", required=True)
    ops.add_parser("status")
    ops.add_parser("get").add_argument("key")
    put = ops.add_parser("put")
    put.add_argument("key")
    put.add_argument("value")
    cas = ops.add_parser("cas")
    cas.add_argument("--absent", action="store_true", help="swap only if the key is absent")
    cas.add_argument("key")
    cas.add_argument("expected", help="the current value (the new one with --absent)")
    cas.add_argument("value", nargs="?", default="")
    ops.add_parser("delete").add_argument("key")
    ranges = ops.add_parser("range", help="keys in [start, end), in key order")
    ranges.add_argument("start", nargs="?", default="", help="first key (default: the first)")
    ranges.add_argument("end", nargs="?", default=None, help="end, excluded (default: none)")
    ranges.add_argument("--limit", type=int, default=100, help="pairs per page (default: 100)")
    ranges.add_argument("--all", action="store_true", help="follow every page to the end")
    return parser.parse_args(argv)


if __name__ == "__main__":
    try:
        sys.exit(trio.run(main, parse(sys.argv[1:])))
    except IndeterminateResult as exc:
        print(f"indeterminate: {exc}", file=sys.stderr)
        sys.exit(3)
    except ConsensusError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        sys.exit(1)
