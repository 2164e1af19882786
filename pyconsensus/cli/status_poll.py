"""The network half of ``pyconsensus status`` (imports trio; loaded on use)."""

from __future__ import annotations

import sys
from collections.abc import Mapping

import attrs
import trio

from pyconsensus.adapters.trio import Address, Client, open_client
from pyconsensus.cli.status_table import NodeRow, Watch, render, term_text, to_json, with_lag

CLEAR = "\x1b[H\x1b[2J"
"""Cursor home and clear screen: ``--watch`` redraws in place on a terminal."""


async def poll(
    client: Client, members: Mapping[int, Address], timeout: float, heard: dict[int, float]
) -> list[NodeRow]:
    """Ask every member at once; ``heard`` keeps when each last answered."""
    answers: dict[int, NodeRow] = {}

    async def ask(node_id: int) -> None:
        address = str(members[node_id])
        try:
            with trio.fail_after(timeout):
                reply = await client.status(node_id)
        except Exception as exc:  # refused, timed out, connection lost: unreachable
            answers[node_id] = NodeRow(node_id, address, error=str(exc) or type(exc).__name__)
            return
        heard[node_id] = trio.current_time()
        answers[node_id] = NodeRow(
            node_id,
            address,
            role=reply.role,
            term=term_text(reply.protocol, reply.term),
            leader=reply.leader,
            commit=reply.commit_index,
            applied=reply.applied_index,
        )

    async with trio.open_nursery() as nursery:
        for node_id in members:
            nursery.start_soon(ask, node_id)
    now = trio.current_time()
    rows = []
    for node_id in sorted(members):
        row = answers[node_id]
        seen = heard.get(node_id)
        rows.append(row if seen is None else _with_contact(row, now - seen))
    return with_lag(rows)


async def watch(members: Mapping[int, Address], cluster_id: str, options: Watch) -> int:
    """Print ``options.count`` tables (0: until cancelled), ``options.interval``
    apart; the exit status of the last one (0: every member answered)."""
    timeout, count, as_json = options.timeout, options.count, options.as_json
    heard: dict[int, float] = {}
    redraw = sys.stdout.isatty() and not as_json and count != 1
    status = 0
    shown = 0
    async with open_client(members, cluster_id, timeout=timeout) as client:
        while True:
            rows = await poll(client, members, timeout, heard)
            status = 1 if any(row.error for row in rows) else 0
            text = to_json(cluster_id, rows) if as_json else render(rows)
            print(f"{CLEAR}{text}" if redraw else text, flush=True)
            shown += 1
            if count and shown >= count:
                return status
            if not as_json and not redraw:
                print(flush=True)  # a blank line between tables
            await trio.sleep(options.interval)


def _with_contact(row: NodeRow, seconds: float) -> NodeRow:
    return attrs.evolve(row, contact=max(0.0, seconds))
