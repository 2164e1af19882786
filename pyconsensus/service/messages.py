"""Messages of the service protocol (registered in the CBOR codec at 0x90-0x9f).

Every TCP connection starts with a ``Hello`` from the side that dialled. The
listening node answers ``Welcome`` or ``Refused`` (with a reason, then closes).
After that:

- on a **peer** connection (node to node) the dialler sends the consensus
  protocol's own messages; traffic is one-way, each node dials each peer;
- on a **client** connection the client sends ``Submit`` / ``Query`` /
  ``StatusRequest`` frames, any number of them without waiting, and the node
  answers each with a ``Reply`` or ``StatusReply`` carrying the same
  ``request_id`` (answers may come out of order).
"""

from __future__ import annotations

import enum

import attrs

WIRE_VERSION = 2
"""Version of this handshake and request/reply protocol. A node refuses a
``Hello`` with any other version (the CBOR frame format has its own version
byte, checked on every frame). Version 2 added ``Hello.incarnation`` and
``AdminRequest``."""


class ConnectionKind(enum.IntEnum):
    """Who dialled: another node of the cluster, or a client."""

    PEER = 0
    CLIENT = 1


@attrs.frozen(slots=True)
class Hello:
    """The first frame of every connection."""

    cluster_id: str
    kind: ConnectionKind
    node_id: int | None
    """The dialling node's id (``None`` for a client)."""
    protocol: str
    """The consensus protocol the dialler runs (``raft``, ``zab``, ``paxos``);
    empty for a client that does not care."""
    wire_version: int
    incarnation: str = ""
    """The dialling node's storage incarnation (empty for a client): a peer
    checks it against the configuration's directory, so that a node whose data
    directory was wiped cannot speak as its old self."""


@attrs.frozen(slots=True)
class Welcome:
    """The handshake succeeded; ``node_id`` is the node that answered."""

    node_id: int
    protocol: str
    leader: int | None


@attrs.frozen(slots=True)
class Refused:
    """The handshake failed; the connection closes after this frame."""

    reason: str


@attrs.frozen(slots=True)
class Submit:
    """A client command in its session (see ``pyconsensus.rsm.SessionCommand``).

    ``forwarded`` is set when a node passes the command on to its leader; a
    forwarded command is never forwarded again (it fails with ``not_leader``
    instead), so requests cannot loop between nodes.
    """

    request_id: int
    client_id: int
    seq: int
    first_unacked: int
    payload: bytes
    forwarded: bool


@attrs.frozen(slots=True)
class Query:
    """A linearizable read of the state machine."""

    request_id: int
    payload: bytes
    forwarded: bool


class ReplyStatus(enum.IntEnum):
    """How a request ended (the ``rsm`` outcomes)."""

    OK = 0
    """Completed: it took effect exactly once; ``result`` is the answer."""
    FAILED = 1
    """It definitely did not take effect through this attempt; retrying is safe."""
    INDETERMINATE = 2
    """Whether it took effect is unknown; retry with the same session sequence."""


@attrs.frozen(slots=True)
class Reply:
    """The answer to a ``Submit`` or ``Query``.

    ``error`` is a short code when the status is not OK (``not_leader``,
    ``dropped``, ``outcome_unknown``, ``too_large``, ``session_expired``,
    ``stale``, ``timeout``, ``stopping``, ``overloaded``, ``bad_request``...),
    ``message`` the human-readable text, ``leader_hint`` the node believed to
    lead (set with ``not_leader``).
    """

    request_id: int
    status: ReplyStatus
    result: bytes
    index: int
    error: str
    message: str
    leader_hint: int | None


@attrs.frozen(slots=True)
class StatusRequest:
    """Ask a node about itself. ``detail``: 0 the status only, 1 also a digest
    (SHA-256) of the state machine's snapshot, 2 also the snapshot itself.
    The state is the node's local copy - not a linearizable read."""

    request_id: int
    detail: int


@attrs.frozen(slots=True)
class StatusReply:
    """A node's view of itself (see ``StatusRequest``)."""

    request_id: int
    node_id: int
    protocol: str
    role: str
    term: int
    leader: int | None
    commit_index: int
    applied_index: int
    last_index: int
    digest: bytes
    state: bytes


ADMIN_OPERATIONS = (
    "add-learner",
    "add-voter",
    "promote",
    "remove",
    "replace",
    "transfer-leader",
    "members",
)
"""What an ``AdminRequest`` may ask for."""


@attrs.frozen(slots=True)
class AdminRequest:
    """A membership or leadership operation (needs the ``admin`` role with TLS).

    ``operation`` is one of ``ADMIN_OPERATIONS``; ``node`` the member concerned
    (the old one for ``replace``, the target of ``transfer-leader``; -1 for
    ``members``), ``other`` the new member of a ``replace`` (-1 otherwise);
    ``address`` and ``incarnation`` describe an added member (empty: the
    cluster file's address; the incarnation its first handshake shows). The
    answer is a ``Reply``: for ``members`` its ``result`` is a JSON document.
    """

    request_id: int
    operation: str
    node: int
    other: int
    address: str
    incarnation: str
