"""Mutual TLS for the runtime's connections (stdlib ``ssl`` through ``trio.SSLStream``).

Configured by a ``[tls]`` table of the cluster file (``TlsConfig``); every
connection of a node - peers and clients, both directions - then runs over
TLS, and both ends present a certificate signed by the cluster's CA whose URI
name says who they are (``identity.py``). ``Tls`` holds the live contexts:
it reloads them when the CA, certificate or key files change (checked at each
handshake, cheap next to the handshake itself) or on ``reload()`` (SIGHUP in
``pyconsensus node``), keeping the old contexts if the new files do not load.
During a CA rotation the CA file holds both CAs (docs/security.md).

Host names are not checked: a node dialling member 2 checks that the
certificate names member 2 of its cluster, whatever address it dialled.
"""

from __future__ import annotations

import logging
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import trio

from pyconsensus.adapters.trio.identity import ANONYMOUS, IdentityError, Principal, principal_of
from pyconsensus.adapters.trio.tlsstream import TlsSocketStream
from pyconsensus.core.errors import ConfigError

log = logging.getLogger("pyconsensus.trio.tls")

_TLS_KEYS = {"ca", "cert", "key", "max_handshakes"}


def _positive_int(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"tls.{attribute.name} must be a positive integer, got {value!r}")


@attrs.frozen(slots=True)
class TlsConfig:
    """Where this party's CA bundle, certificate and key are (PEM files)."""

    ca: Path = attrs.field(converter=Path)
    """The CA certificates this party trusts (one file; during a rotation it
    holds the old and the new CA)."""
    cert: Path = attrs.field(converter=Path)
    """This party's certificate (chain)."""
    key: Path = attrs.field(converter=Path)
    """This party's private key."""
    max_handshakes: int = attrs.field(default=32, validator=_positive_int)
    """TLS handshakes a listener runs at once; as many more connections may
    wait for a turn (within the handshake timeout), and any beyond those are
    closed at once (``tls.handshakes_shed``). Handshakes are the cheapest CPU
    attack, and a connection is not counted against the connection limits
    before its handshake."""


def parse_tls_table(table: object, node_id: int, base_dir: Path | None) -> TlsConfig:
    """The ``[tls]`` table of a cluster file as a ``TlsConfig``: relative paths
    are relative to the file's directory and ``{id}`` is this node's id, so
    one file serves every node (``cert = "certs/node-{id}.pem"``)."""
    if not isinstance(table, Mapping):
        raise ConfigError("[tls] must be a table with ca, cert and key")
    unknown = set(table) - _TLS_KEYS
    if unknown:
        raise ConfigError(f"unknown [tls] keys: {', '.join(sorted(unknown))}")
    missing = {"ca", "cert", "key"} - set(table)
    if missing:
        raise ConfigError(f"[tls] needs {', '.join(sorted(missing))}")
    paths = {}
    for name in ("ca", "cert", "key"):
        path = Path(str(table[name]).replace("{id}", str(node_id)))
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        paths[name] = path
    return TlsConfig(**paths, max_handshakes=table.get("max_handshakes", 32))


def _stamp(config: TlsConfig) -> tuple[tuple[int, int], ...]:
    stamps = []
    for path in (config.ca, config.cert, config.key):
        try:
            info = path.stat()
        except OSError:
            stamps.append((-1, -1))
        else:
            stamps.append((info.st_mtime_ns, info.st_size))
    return tuple(stamps)


def _context(config: TlsConfig, purpose: ssl.Purpose) -> ssl.SSLContext:
    context = ssl.create_default_context(purpose, cafile=str(config.ca))
    context.check_hostname = False  # identities are URI names, checked by the caller
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(config.cert), str(config.key))
    # No TLS 1.3 session tickets: connections are long-lived and never resumed,
    # and a ticket the other end never reads makes its close a reset.
    if purpose is ssl.Purpose.CLIENT_AUTH:
        context.num_tickets = 0
    return context


class Tls:
    """The live TLS contexts of one node or client (see the module docstring)."""

    def __init__(self, config: TlsConfig, counters: Counter[str] | None = None) -> None:
        self.config = config
        self.counters: Counter[str] = counters if counters is not None else Counter()
        self.handshakes = trio.CapacityLimiter(config.max_handshakes)
        self._stamp = _stamp(config)
        self._failed_stamp: tuple[tuple[int, int], ...] | None = None
        try:
            self._server, self._client = self._build()
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ConfigError(f"cannot load the TLS files ({_files(config)}): {exc}") from exc

    def _build(self) -> tuple[ssl.SSLContext, ssl.SSLContext]:
        return _context(self.config, ssl.Purpose.CLIENT_AUTH), _context(
            self.config, ssl.Purpose.SERVER_AUTH
        )

    def reload(self, *, force: bool = False) -> bool:
        """Load the files again if they changed (or ``force``); True if new
        contexts are in use. New connections use them; open ones keep theirs.
        Files that do not load leave the old contexts in place (logged and
        counted in ``tls.reload_failures``)."""
        stamp = _stamp(self.config)
        if not force and (stamp in (self._stamp, self._failed_stamp)):
            return False
        try:
            contexts = self._build()
        except (OSError, ssl.SSLError, ValueError) as exc:
            self._failed_stamp = stamp
            self.counters["tls.reload_failures"] += 1
            log.warning("TLS files not reloaded, keeping the old ones: %s", exc)
            return False
        self._server, self._client = contexts
        self._stamp = stamp
        self._failed_stamp = None
        self.counters["tls.reloads"] += 1
        log.info("TLS files reloaded (%s)", _files(self.config))
        return True

    def server_context(self) -> ssl.SSLContext:
        self.reload()
        return self._server

    def client_context(self) -> ssl.SSLContext:
        self.reload()
        return self._client

    async def accept(self, stream: trio.abc.Stream, timeout: float) -> TlsStream | None:
        """The server side of the TLS handshake on an accepted ``stream``
        (at most ``max_handshakes`` at once); None if it failed (counted)."""
        wrapped: TlsStream | None = None
        if self.handshakes.statistics().tasks_waiting >= self.config.max_handshakes:
            self.counters["tls.handshakes_shed"] += 1
            await _close(stream)
            return None
        try:
            with trio.fail_after(timeout):
                async with self.handshakes:
                    wrapped = await _handshake(stream, self.server_context(), server_side=True)
        except trio.TooSlowError:
            self.counters["tls.handshake_timeouts"] += 1
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self.counters["tls.handshake_failures"] += 1
            log.info("TLS handshake failed: %s", _cause(exc))
        else:
            self.counters["tls.handshakes"] += 1
            return wrapped
        await _close(stream)  # a wrapped stream closed itself when it failed
        return None

    async def connect(self, stream: trio.abc.Stream, timeout: float) -> TlsStream:
        """The client side of the handshake (errors propagate to the dialler)."""
        with trio.fail_after(timeout):
            return await _handshake(stream, self.client_context(), server_side=False)


TlsStream = TlsSocketStream | trio.SSLStream[Any]
"""A stream after its TLS handshake: on a TCP socket the socket itself
(``tlsstream.py``, the cheap way), on anything else ``trio.SSLStream``."""


async def _handshake(
    stream: trio.abc.Stream, context: ssl.SSLContext, *, server_side: bool
) -> TlsStream:
    if isinstance(stream, trio.SocketStream):
        try:
            return await TlsSocketStream.wrap(stream, context, server_side=server_side)
        except OSError as exc:  # e.g. the socket was reset before the handshake
            raise trio.BrokenResourceError(f"TLS handshake failed: {exc}") from exc
    wrapped = trio.SSLStream(stream, context, server_side=server_side, server_hostname=None)
    try:
        await wrapped.do_handshake()
    except BaseException:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(wrapped)
        raise
    return wrapped


def principal(stream: object, cluster_id: str) -> Principal:
    """Who the other end of ``stream`` is: ``ANONYMOUS`` for a plaintext
    stream, else the identity its certificate names (``IdentityError`` if it
    names none of ``cluster_id``)."""
    if not isinstance(stream, TlsSocketStream | trio.SSLStream):
        return ANONYMOUS
    certificate = stream.getpeercert()
    if not certificate:
        raise IdentityError("no certificate")
    names = certificate.get("subjectAltName", ())
    return principal_of((str(value) for kind, value in names if kind == "URI"), cluster_id)


def serving_tls(
    tls: Tls, timeout: float, handle: Callable[[trio.abc.Stream], Awaitable[None]]
) -> Callable[[trio.abc.Stream], Awaitable[None]]:
    """``handle`` behind the server side of a TLS handshake."""

    async def handle_tls(stream: trio.abc.Stream) -> None:
        wrapped = await tls.accept(stream, timeout)
        if wrapped is not None:
            await handle(wrapped)

    return handle_tls


async def _close(stream: trio.abc.Stream) -> None:
    with trio.move_on_after(1) as scope:
        scope.shield = True
        await stream.aclose()


def _files(config: TlsConfig) -> str:
    return f"ca {config.ca}, cert {config.cert}, key {config.key}"


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return f"{type(cause).__name__}: {cause}"
