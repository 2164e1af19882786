"""``pyconsensus node --join``: a new node asks a running cluster to take it in.

The node starts as a non-member (its core never campaigns) and asks the
cluster, through any member it can reach and then the leader they name, to
add it as a **learner** with its address and storage incarnation. The leader
then sends it the log (or a snapshot). With ``auto_promote`` (the default) it
then asks to be **promoted** to voter, again and again, until the leader
agrees: the leader's core refuses while the learner is more than
``max_promotion_lag`` entries behind its own log - that is what "caught up"
means (docs/membership.md). Without it, an operator promotes the learner
(``pyconsensus admin promote``).
"""

from __future__ import annotations

import logging
from typing import Protocol

import trio

from pyconsensus.adapters.trio.admin import ask
from pyconsensus.adapters.trio.config import NodeConfig
from pyconsensus.adapters.trio.connection import ConnectionPool
from pyconsensus.service.messages import AdminRequest, ReplyStatus

log = logging.getLogger("pyconsensus.trio.join")

RETRY_S = 0.5
"""Seconds between attempts (a refused promotion waits for the learner to catch up)."""


class Joining(Protocol):
    """What the join task needs of the node."""

    config: NodeConfig
    stopping: bool

    @property
    def incarnation(self) -> str: ...


async def join_cluster(node: Joining, pool: ConnectionPool | None) -> None:
    """Ask to be added as a learner, then (``auto_promote``) to be promoted."""
    if pool is None:
        return
    config = node.config
    add = AdminRequest(0, "add-learner", config.node_id, -1, str(config.address), node.incarnation)
    if not await _until_done(node, pool, add, ("already a member",)):
        return
    log.info("node %d: added to the cluster as a learner", config.node_id)
    if not config.auto_promote:
        return
    promote = AdminRequest(0, "promote", config.node_id, -1, "", "")
    if await _until_done(node, pool, promote, ("not a learner",)):
        log.info("node %d: promoted to voter", config.node_id)


async def _until_done(
    node: Joining, pool: ConnectionPool, request: AdminRequest, settled: tuple[str, ...]
) -> bool:
    """Send ``request`` until it succeeds (or is refused with one of the
    ``settled`` reasons: done before); False if the node stops first."""
    me = node.config.node_id
    turn = 0
    target: int | None = None
    while not node.stopping:
        if target is None:
            candidates = sorted(n for n in pool.addresses if n != me)
            target = candidates[turn % len(candidates)]
            turn += 1
        reply = await ask(pool, target, request, node.config.request_timeout)
        if reply is not None and (
            reply.status == ReplyStatus.OK or any(r in reply.message for r in settled)
        ):
            return True
        hint = reply.leader_hint if reply is not None and reply.error == "not_leader" else None
        if reply is not None and reply.error not in ("not_leader", "refused", "timeout"):
            log.warning("node %d: %s refused: %s", me, request.operation, reply.message)
        target = hint if hint is not None and hint not in (me, target) else None
        await trio.sleep(0.05 if target is not None else RETRY_S)
    return False
