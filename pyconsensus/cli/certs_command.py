"""``pyconsensus certs init|issue``: a development CA and node/client certificates.

::

    pyconsensus certs init --cluster orders            # certs/ca.pem, certs/ca.key
    pyconsensus certs issue --member 1                 # certs/node-1.pem, .key
    pyconsensus certs issue --client app --role write  # certs/client-app.pem, .key

Then point the cluster file's ``[tls]`` table at them (docs/security.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pyconsensus.core.errors import ConfigError

ROLES = ("read", "write", "admin")
HELP = "create a development CA and node/client certificates for mutual TLS"


def register(commands: Any) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = commands.add_parser("certs", help=HELP, description=__doc__, formatter_class=raw)
    actions = parser.add_subparsers(dest="certs_action", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="create a CA for a cluster")
    init.add_argument("--cluster", required=True, help="the cluster id the CA is for")
    init.add_argument("--dir", default="certs", help="where the files go")
    init.add_argument("--name", default="ca", help="file name stem (a second CA: ca-2)")
    init.add_argument("--days", type=int, default=3650, help="validity in days")
    init.add_argument("--force", action="store_true", help="overwrite an existing CA")
    init.set_defaults(run=run_init)
    issue = actions.add_parser("issue", help="sign a member's or a client's certificate")
    who = issue.add_mutually_exclusive_group(required=True)
    who.add_argument("--member", type=int, help="the member (node) id")
    who.add_argument("--client", help="the client's name (letters, digits, . _ -)")
    issue.add_argument("--role", default="write", choices=ROLES, help="a client's role")
    issue.add_argument("--dir", default="certs", help="where the CA is and the files go")
    issue.add_argument("--ca", default="ca", help="the signing CA's file name stem")
    issue.add_argument("--cluster", help="the cluster id (default: the CA's)")
    issue.add_argument("--days", type=int, default=365, help="validity in days")
    issue.set_defaults(run=run_issue)


def _fail(exc: Exception) -> int:
    print(f"pyconsensus certs: {exc}", file=sys.stderr)
    return 2


def run_init(args: argparse.Namespace) -> int:
    from pyconsensus.adapters.trio import certs  # noqa: PLC0415 - needs cryptography

    try:
        issued = certs.init_ca(
            Path(args.dir), args.cluster, name=args.name, days=args.days, force=args.force
        )
    except (ConfigError, OSError) as exc:
        return _fail(exc)
    print(f"CA for cluster {args.cluster!r}: {issued.cert} (key {issued.key})")
    return 0


def run_issue(args: argparse.Namespace) -> int:
    from pyconsensus.adapters.trio import certs  # noqa: PLC0415
    from pyconsensus.adapters.trio.identity import IdentityError, parse_role  # noqa: PLC0415

    try:
        issued = certs.issue(
            Path(args.dir),
            member=args.member,
            client=args.client,
            role=parse_role(args.role),
            cluster_id=args.cluster,
            ca=args.ca,
            days=args.days,
        )
    except (ConfigError, IdentityError, OSError) as exc:
        return _fail(exc)
    who = f"member {args.member}" if args.member is not None else f"client {args.client!r}"
    print(f"certificate for {who}: {issued.cert} (key {issued.key})")
    return 0
