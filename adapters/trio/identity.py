"""Who is on the other end of a connection, and what they may do.

With TLS on (``tls.py``) every connection presents a certificate whose URI
subject alternative name says who it is:

- ``pyconsensus://<cluster>/member/<id>`` - node ``<id>`` of the cluster;
- ``pyconsensus://<cluster>/client/<name>?role=<read|write|admin>`` - a client.

A member may speak only in its own name (the handshake's node id must be the
certificate's) and only while it is a member; a client gets what its role
allows (``permits``). Without TLS there is no identity: every connection is
``ANONYMOUS``, with every right (loopback development only; see
``config.NodeConfig.insecure``).
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable
from urllib.parse import parse_qs, quote, unquote, urlsplit

import attrs

from pyconsensus.service.messages import (
    AdminRequest,
    Query,
    Reply,
    ReplyStatus,
    StatusRequest,
    Submit,
)

SCHEME = "pyconsensus"
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Role(enum.IntEnum):
    """What a client may do; each role includes the ones below it."""

    READ = 1
    """Linearizable reads and the plain status (role, term, leader, indexes)."""
    WRITE = 2
    """Reads and commands."""
    ADMIN = 3
    """Everything: status details (state digest and contents), metrics,
    membership and other administrative operations."""


class Action(enum.Enum):
    """What a request asks to do, by the role it needs."""

    READ = Role.READ
    STATUS = Role.READ
    WRITE = Role.WRITE
    STATUS_DETAIL = Role.ADMIN
    METRICS = Role.ADMIN
    ADMIN = Role.ADMIN


class IdentityError(ValueError):
    """A certificate's name is not a pyconsensus identity (or not this cluster's)."""


@attrs.frozen(slots=True)
class Principal:
    """The authenticated party of one connection."""

    cluster_id: str
    """The cluster the certificate was issued for (empty: anonymous)."""
    member_id: int | None = None
    """Set for a member's certificate."""
    client: str = ""
    """The client's name (set for a client's certificate)."""
    role: Role = Role.ADMIN

    @property
    def is_member(self) -> bool:
        return self.member_id is not None

    @property
    def is_anonymous(self) -> bool:
        return self.member_id is None and not self.client

    def uri(self) -> str:
        """The URI that names this principal in a certificate."""
        if self.member_id is not None:
            return member_uri(self.cluster_id, self.member_id)
        return client_uri(self.cluster_id, self.client, self.role)

    def __str__(self) -> str:
        if self.member_id is not None:
            return f"member {self.member_id}"
        if self.client:
            return f"client {self.client!r} ({self.role.name.lower()})"
        return "an anonymous connection"


ANONYMOUS = Principal("")
"""The party of a plaintext connection: unauthenticated, unrestricted."""


def member_uri(cluster_id: str, member_id: int) -> str:
    """``pyconsensus://<cluster>/member/<id>``."""
    return f"{SCHEME}://{quote(cluster_id, safe='')}/member/{member_id}"


def client_uri(cluster_id: str, name: str, role: Role) -> str:
    """``pyconsensus://<cluster>/client/<name>?role=<role>``."""
    check_name(name)
    return f"{SCHEME}://{quote(cluster_id, safe='')}/client/{name}?role={role.name.lower()}"


def check_name(name: str) -> str:
    """``name`` if it is a valid client name (letters, digits, ``._-``, at most 64)."""
    if not _NAME.match(name):
        raise IdentityError(f"a client name is 1-64 of A-Z a-z 0-9 . _ -, got {name!r}")
    return name


def parse_role(text: str) -> Role:
    """``"read"``, ``"write"`` or ``"admin"`` as a ``Role``."""
    try:
        return Role[text.upper()]
    except KeyError:
        raise IdentityError(f"unknown role {text!r}; roles: read, write, admin") from None


def parse_uri(uri: str) -> Principal:
    """The principal a pyconsensus URI names (``IdentityError`` if none)."""
    parts = urlsplit(uri)
    if parts.scheme != SCHEME or not parts.netloc:
        raise IdentityError(f"not a {SCHEME}:// identity: {uri!r}")
    cluster_id = unquote(parts.netloc)
    segments = parts.path.strip("/").split("/")
    if len(segments) != 2:
        raise IdentityError(f"expected /member/<id> or /client/<name>: {uri!r}")
    kind, name = segments
    if kind == "member":
        if not name.isdigit():
            raise IdentityError(f"a member id is a non-negative integer: {uri!r}")
        return Principal(cluster_id, member_id=int(name))
    if kind == "client":
        roles = parse_qs(parts.query).get("role", [])
        if len(roles) != 1:
            raise IdentityError(f"a client identity names exactly one role: {uri!r}")
        return Principal(cluster_id, client=check_name(name), role=parse_role(roles[0]))
    raise IdentityError(f"expected /member/<id> or /client/<name>: {uri!r}")


def principal_of(uris: Iterable[str], cluster_id: str) -> Principal:
    """The one identity of ``cluster_id`` among a certificate's URI names."""
    found = []
    for uri in uris:
        if uri.startswith(f"{SCHEME}://"):
            found.append(parse_uri(uri))
    if len(found) != 1:
        raise IdentityError(
            f"the certificate names {len(found)} {SCHEME}:// identities (exactly one needed)"
        )
    principal = found[0]
    if principal.cluster_id != cluster_id:
        raise IdentityError(
            f"the certificate is for cluster {principal.cluster_id!r}, not {cluster_id!r}"
        )
    return principal


def permits(principal: Principal, action: Action) -> bool:
    """Whether ``principal`` may do ``action`` (members and anonymous
    connections may do everything)."""
    if principal.client:
        return principal.role >= action.value
    return True


def bound_client_id(principal: Principal, client_id: int) -> int:
    """The session id a client's ``client_id`` stands for in the replicated state.

    Each authenticated client gets a space of session ids of its own (derived
    from its name), so no client can collide with, or touch, another's
    de-duplication entries. Every node derives the same id, so retries at
    different nodes stay one session. Members' and anonymous connections'
    ids are used as they are (a member forwards ids already bound).
    """
    if not principal.client:
        return client_id
    digest = hashlib.blake2b(
        str(client_id).encode(),  # any int a client sends, without overflow
        digest_size=8,
        person=b"pyconsensus-sid",
        key=principal.client.encode(),
    ).digest()
    return int.from_bytes(digest, "big") >> 1  # 63 bits, like new_client_id


def action_of(request: object) -> Action | None:
    """What a client request asks to do (None: not a request)."""
    if isinstance(request, Submit):
        return Action.WRITE
    if isinstance(request, Query):
        return Action.READ
    if isinstance(request, StatusRequest):
        return Action.STATUS if request.detail == 0 else Action.STATUS_DETAIL
    if isinstance(request, AdminRequest):
        return Action.ADMIN
    return None


def forbidden(principal: Principal, request: object) -> Reply | None:
    """The ``forbidden`` reply to a request ``principal`` may not make, or None."""
    if not principal.client:
        return None  # members and plaintext connections may do everything
    action = action_of(request)
    if action is None or permits(principal, action):
        return None
    needed = Role(action.value).name.lower()
    return Reply(
        getattr(request, "request_id", 0),
        ReplyStatus.FAILED,
        b"",
        0,
        "forbidden",
        f"{principal} may not {action.name.lower().replace('_', ' ')} (needs role {needed})",
        None,
    )
