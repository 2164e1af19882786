"""Membership operations against a running cluster (``pyconsensus admin``).

``administer`` sends one ``AdminRequest`` to the cluster: to any member it can
reach, then to the leader the answers name. A change refused only for the
moment (the previous change or the leader's first entry of its term is not
committed yet, a leadership transfer is under way) is tried again until the
deadline. With TLS on, the client's certificate needs the ``admin`` role.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import trio

from pyconsensus.adapters.trio.client import open_client
from pyconsensus.adapters.trio.config import Address
from pyconsensus.adapters.trio.connection import ConnectionLost, ConnectionPool, NotSent
from pyconsensus.adapters.trio.tls import TlsConfig
from pyconsensus.service.messages import AdminRequest, Reply, ReplyStatus

PASSING = (
    "not committed yet",
    "has not committed an entry of its term",
    "transfer is in progress",
    "is still being left",
)
"""Refusals that pass by themselves: the operation is tried again."""


async def administer(
    members: Mapping[int, Address],
    cluster_id: str,
    request: AdminRequest,
    *,
    timeout: float = 10.0,
    tls: TlsConfig | None = None,
) -> Reply:
    """Run ``request`` at the cluster's leader; the last answer (a ``timeout``
    failure if nobody answered before ``timeout`` seconds)."""
    async with open_client(members, cluster_id, timeout=timeout, tls=tls) as client:
        return await run_at_leader(client.pool, request, timeout)


async def run_at_leader(pool: ConnectionPool, request: AdminRequest, timeout: float) -> Reply:
    """``administer`` over an open connection pool."""
    last = Reply(0, ReplyStatus.FAILED, b"", 0, "timeout", "no member answered in time", None)
    turn = 0
    target: int | None = None
    with trio.move_on_after(timeout):
        while True:
            if target is None:
                nodes = sorted(pool.addresses)
                target = nodes[turn % len(nodes)]
                turn += 1
            reply = await ask(pool, target, request, timeout)
            if reply is None:
                target = None
                await trio.sleep(0.1)
                continue
            last = reply
            if reply.status == ReplyStatus.OK or request.operation == "members":
                return reply
            if reply.error == "not_leader":
                hint = reply.leader_hint
                target = hint if hint is not None and hint in pool.addresses else None
                await trio.sleep(0.05 if target is not None else 0.2)
                continue
            if reply.error == "refused" and any(p in reply.message for p in PASSING):
                await trio.sleep(0.1)
                continue
            return reply
    return last


async def ask(
    pool: ConnectionPool, node: int, request: AdminRequest, timeout: float
) -> Reply | None:
    """``request`` sent to ``node``: its answer, or None (unreachable, no answer in time)."""
    with trio.move_on_after(timeout):
        try:
            reply = await pool.call(node, lambda rid: attrs.evolve(request, request_id=rid))
        except (NotSent, ConnectionLost):
            return None
        return reply if isinstance(reply, Reply) else None
    return None
