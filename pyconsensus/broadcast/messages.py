"""The messages of the broadcast primitives.

``src``/``dst`` name the hop (who sends this copy, to whom); ``origin`` and
``seq`` name the broadcast, which may be relayed by members other than its
origin. Incarnations count a member's restarts (1 for its first run) and let a
receiver tell a restarted member from one that merely went quiet.
"""

from __future__ import annotations

import attrs

from pyconsensus.core.types import NodeId


@attrs.frozen(slots=True)
class Data:
    """One copy of broadcast ``(origin, seq)`` carrying ``data``.

    ``incarnation`` is the origin's incarnation when it broadcast (not the
    relaying member's): the lazy variant relays a message once that
    incarnation of its origin is known or suspected to have crashed.
    """

    src: NodeId
    dst: NodeId
    origin: NodeId
    seq: int
    incarnation: int
    data: bytes


@attrs.frozen(slots=True)
class Ack:
    """``src`` holds broadcast ``(origin, seq)``: stop re-sending it to ``src``."""

    src: NodeId
    dst: NodeId
    origin: NodeId
    seq: int


@attrs.frozen(slots=True)
class Heartbeat:
    """``src`` (at ``incarnation``) is alive. Feeds the failure detector.

    ``stable`` is the highest sequence number such that every member has
    acknowledged each of ``src``'s broadcasts of this incarnation up to it;
    receivers may forget those messages (nobody will need them relayed).
    """

    src: NodeId
    dst: NodeId
    incarnation: int
    stable: int


@attrs.frozen(slots=True)
class Forward:
    """Atomic broadcast: ``src`` asks the leader ``dst`` to order its broadcast
    ``(src, seq)``. Forwarded again after a timeout until ``src`` delivers it."""

    src: NodeId
    dst: NodeId
    seq: int
    data: bytes


BroadcastMessage = Data | Ack | Heartbeat
"""What the best-effort and reliable primitives exchange."""
