"""The node's operator endpoint: ``GET /metrics`` and ``GET /health`` over HTTP.

A deliberately small HTTP/1.0-style server in the node's own event loop
(no thread, so a scrape reads the node's state between two steps of the
driver): one request per connection, a bounded request head read within a
deadline, then the answer and close. Whatever a connection sends, it can only
get an error status or lose its connection - never disturb the node.

``/health`` answers 200 when the node is serving, knows a leader and is
caught up (it has applied all but ``health_max_lag`` of the entries its
leader has committed - asked of the leader on the spot), 503 otherwise; the
body is a JSON object with the three checks and the figures behind them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from pyconsensus.adapters.trio.config import Address
from pyconsensus.core.types import Role

if TYPE_CHECKING:
    from pyconsensus.adapters.trio.exposition import ObservedNode

log = logging.getLogger("pyconsensus.trio.http")

MAX_HEAD_BYTES = 8192
"""A request head longer than this is refused (431)."""
REQUEST_TIMEOUT_S = 5.0
"""A connection must send its request head within this time."""
LEADER_STATUS_TIMEOUT_S = 1.0
"""How long ``/health`` waits for the leader's commit index."""

Response = tuple[int, str, bytes]
Handler = Callable[[str], Awaitable[Response]]
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 503: "Service Unavailable"}  # fmt: skip


async def serve_http(
    address: Address,
    handler: Handler,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``handler(path)`` for GET requests on ``address`` until cancelled;
    ``task_status`` gets the port (useful with port 0)."""
    listeners = await trio.open_tcp_listeners(address.port, host=address.host)
    task_status.started(listeners[0].socket.getsockname()[1])

    async def serve(stream: trio.SocketStream) -> None:
        await _connection(stream, handler)

    await trio.serve_listeners(serve, listeners)


async def _connection(stream: trio.abc.Stream, handler: Handler) -> None:
    try:
        with trio.move_on_after(REQUEST_TIMEOUT_S) as scope:
            status, kind, body = await _answer(stream, handler)
        if scope.cancelled_caught:
            status, kind, body = 408, "text/plain", b"request timeout\n"
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        with trio.move_on_after(REQUEST_TIMEOUT_S):
            await stream.send_all(head.encode() + body)
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the client went away
    except Exception:  # never let one request take the node down
        log.exception("the metrics endpoint failed to answer a request")
    finally:
        await stream.aclose()


async def _answer(stream: trio.abc.Stream, handler: Handler) -> Response:
    head = bytearray()
    while b"\r\n\r\n" not in head and b"\n\n" not in head:
        if len(head) > MAX_HEAD_BYTES:
            return 431, "text/plain", b"request head too large\n"
        data = await stream.receive_some(4096)
        if not data:
            break
        head += data
    parts = bytes(head).split(b"\r\n", 1)[0].split()
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        return 400, "text/plain", b"bad request\n"
    if parts[0] != b"GET":
        return 405, "text/plain", b"only GET\n"
    path = parts[1].decode("ascii", "replace").split("?", 1)[0]
    return await handler(path)


def node_handler(node: ObservedNode) -> Handler:
    """``/metrics`` and ``/health`` of ``node``."""
    from prometheus_client import exposition  # noqa: PLC0415 - the metrics extra, checked at start

    from pyconsensus.adapters.trio.exposition import registry_for  # noqa: PLC0415

    registry = registry_for(node)

    async def handle(path: str) -> Response:
        if path == "/metrics":
            return 200, exposition.CONTENT_TYPE_LATEST, exposition.generate_latest(registry)
        if path == "/health":
            healthy, report = await health(node)
            return (200 if healthy else 503), "application/json", json.dumps(report).encode()
        return 404, "text/plain", b"not found: try /metrics or /health\n"

    return handle


async def health(node: ObservedNode) -> tuple[bool, dict[str, Any]]:
    """Whether ``node`` is serving, knows a leader and is caught up, and why."""
    status = node.status()
    serving = not node.stopping and node.port is not None
    leader = status.leader
    leader_commit: int | None = None
    if status.role is Role.LEADER:
        leader_commit = status.commit_index
    elif leader is not None:
        reply = await node.ask_status(leader, LEADER_STATUS_TIMEOUT_S)
        leader_commit = None if reply is None else reply.commit_index
    lag = None if leader_commit is None else max(0, leader_commit - status.applied_index)
    caught_up = lag is not None and lag <= node.config.observe.health_max_lag
    report = {
        "serving": serving,
        "has_leader": leader is not None,
        "caught_up": caught_up,
        "node": status.node_id,
        "role": status.role.value,
        "leader": leader,
        "applied_index": status.applied_index,
        "leader_commit_index": leader_commit,
        "lag_entries": lag,
    }
    return serving and leader is not None and caught_up, report
