"""Configuration of a node of the trio runtime, typed and loadable from TOML.

A cluster file describes the whole cluster; every node reads the same file and
is told its own id::

    cluster_id = "orders"
    protocol = "raft"            # raft | zab | paxos
    data_dir = "data"            # relative to this file; node N uses data/node-N
    tick_ms = 20                 # heartbeat 1 tick; Raft's election timeout 10-20 ticks
    request_timeout_s = 5.0
    forward = true               # followers forward proposals to the leader
    compact_every = 10000        # snapshot the state machine every N entries (0: never)
    session_timeout_s = 0        # forget clients silent this long, by leader clocks (0: never)
    storage_writes = "auto"      # auto | thread | inline: where storage writes run
    pipelined_writes = true      # leader writes its log in parallel
    max_pending_requests = 10000 # client requests held at most; more get `busy`
    requests_per_batch = 64      # client requests fed to the core per loop turn
    state_machine = "kvstore:KVStore"   # what `pyconsensus node` runs (module:Class)

    [members]
    1 = "127.0.0.1:7101"
    2 = "127.0.0.1:7102"
    3 = "127.0.0.1:7103"

    [protocol_options]           # the core's tuning, e.g. RaftConfig fields
    election_ticks = 10

    [protocol_options.transfer]  # outgoing snapshot transfers (core TransferConfig)
    chunk_size = 1048576         # bytes of snapshot per message
    max_transfers = 2            # snapshots sent at once (to different followers)
    chunks_per_tick = 0          # rate cap over all transfers (0: the window only)

    [transport]                  # optional; the defaults suit a LAN
    max_frame_bytes = 16777216   # see docs/security.md for every limit

    [observe]                    # optional: logs, metrics and health (docs/operations.md)
    log_format = "json"          # text | json (what `pyconsensus node` writes)
    slow_fsync_ms = 100          # log storage writes slower than this
    metrics = { 1 = "127.0.0.1:9101", 2 = 9102 }   # HTTP /metrics and /health per node

    [tls]                        # optional: mutual TLS (docs/security.md)
    ca = "certs/ca.pem"          # relative to this file; {id} is the node's id
    cert = "certs/node-{id}.pem"
    key = "certs/node-{id}.key"

Without ``[tls]`` a node listens in plaintext, which it does only on a
loopback address unless the file says ``insecure = true``.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from pyconsensus.adapters.trio.tls import TlsConfig, parse_tls_table
from pyconsensus.core.errors import ConfigError
from pyconsensus.protocols import CONSENSUS_PROTOCOLS
from pyconsensus.rsm.envelope import MAX_TIMEOUT_MS

DEFAULT_STATE_MACHINE = "pyconsensus.rsm.kv:KVStateMachine"
STORAGE_WRITES = ("auto", "inline", "thread")


@attrs.frozen(slots=True)
class Address:
    """A TCP endpoint, ``host:port``."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Address:
        """``"127.0.0.1:7101"`` (or ``"[::1]:7101"``) as an ``Address``."""
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"not a host:port address: {text!r}")
        return cls(host.strip("[]"), int(port))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _positive_number(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{attribute.name} must be a positive number, got {value!r}")


def _non_negative_int(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{attribute.name} must be a non-negative integer, got {value!r}")


def _session_timeout(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    limit = MAX_TIMEOUT_MS / 1000
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= limit:
        raise ConfigError(f"{attribute.name} must be 0..{limit:.0f} seconds, got {value!r}")


def _one_of(choices: tuple[str, ...]) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    """A validator: the value must be one of ``choices``."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            raise ConfigError(
                f"{attribute.name} must be one of {', '.join(choices)}, got {value!r}"
            )

    return check


@attrs.frozen(slots=True)
class TransportConfig:
    """Limits and timing of the TCP transport."""

    max_frame_bytes: int = attrs.field(default=16 << 20, validator=_positive_number)
    """Largest frame accepted (and sent); a larger one closes the connection."""
    send_queue_frames: int = attrs.field(default=10_000, validator=_positive_number)
    """Frames queued for one peer before new ones are dropped (and counted)."""
    send_queue_bytes: int = attrs.field(default=64 << 20, validator=_positive_number)
    """Bytes queued for one peer before new frames are dropped (and counted)."""
    reconnect_min_s: float = attrs.field(default=0.05, validator=_positive_number)
    """First delay before dialling a peer again; doubles per failure..."""
    reconnect_max_s: float = attrs.field(default=1.0, validator=_positive_number)
    """...up to this cap; each delay is jittered (half fixed, half random)."""
    handshake_timeout_s: float = attrs.field(default=5.0, validator=_positive_number)
    """How long either side waits for the other's handshake frame."""
    max_client_requests: int = attrs.field(default=1024, validator=_positive_number)
    """Requests one client connection may have outstanding; more are refused
    with ``overloaded`` (the node-wide cap is ``max_pending_requests``)."""
    handshake_frame_bytes: int = attrs.field(default=4096, validator=_positive_number)
    """Largest first frame (the ``Hello``) a listener reads; ``max_frame_bytes``
    applies only once the handshake succeeded."""
    max_connections: int = attrs.field(default=1024, validator=_positive_number)
    """Open connections a node's listener holds at most; more are refused."""
    max_connections_per_address: int = attrs.field(default=256, validator=_positive_number)
    """Open connections from one remote IP address at most; more are refused."""
    idle_timeout_s: float = attrs.field(default=60.0, validator=_positive_number)
    """A client connection with no request outstanding that sends nothing for
    this long is closed (peers are bounded by one connection per member)."""
    receive_budget_bytes: int = attrs.field(default=256 << 20, validator=_positive_number)
    """Bytes that large frames (64 KiB and more) still arriving may hold over
    all of a node's connections; a frame that does not fit closes its
    connection. At least ``max_frame_bytes``."""

    def __attrs_post_init__(self) -> None:
        if self.receive_budget_bytes < self.max_frame_bytes:
            raise ConfigError(
                f"receive_budget_bytes ({self.receive_budget_bytes}) must be at least "
                f"max_frame_bytes ({self.max_frame_bytes})"
            )


LOG_FORMATS = ("text", "json")


@attrs.frozen(slots=True)
class ObserveConfig:
    """What a node tells its operators: events in the log, metrics, health
    (``[observe]`` in the cluster file; docs/operations.md)."""

    log_format: str = attrs.field(default="text", validator=_one_of(LOG_FORMATS))
    """``text`` or ``json`` (one object per line); applied by ``pyconsensus node``."""
    slow_fsync_s: float = attrs.field(default=0.1, validator=_positive_number)
    """A storage write that takes longer is logged (``slow_fsync``)."""
    no_leader_after_s: float = attrs.field(default=2.0, validator=_positive_number)
    """Log ``no leader for N s`` once the node has known no leader this long..."""
    no_leader_every_s: float = attrs.field(default=10.0, validator=_positive_number)
    """...and again at most this often while it lasts."""
    metrics: Address | None = None
    """Where to serve HTTP ``/metrics`` (Prometheus) and ``/health``; off if None."""
    health_max_lag: int = attrs.field(default=1000, validator=_non_negative_int)
    """``/health`` calls a node caught up while it has applied all but at most
    this many of the entries its leader has committed."""
    metrics_public: bool = False
    """Allow ``metrics`` on a non-loopback address. The endpoint is plain HTTP
    without authentication (metrics need the admin role everywhere else), so
    by default it may listen on loopback only (docs/security.md)."""


@attrs.frozen(slots=True)
class NodeConfig:
    """Everything one node of the trio runtime needs.

    ``members`` maps every node id (this one included) to its address; the
    node listens on its own (or on ``listen``, if given). ``data_dir`` is this
    node's own storage directory (``open_node`` opens an ``LmdbStorage``
    there unless given a storage).
    """

    cluster_id: str
    node_id: int
    members: Mapping[int, Address]
    protocol: str = "raft"
    protocol_options: Mapping[str, str] = attrs.field(factory=dict)
    data_dir: Path | None = None
    listen: Address | None = None
    tick_interval: float = attrs.field(default=0.02, validator=_positive_number)
    """Seconds per core tick (election and heartbeat timeouts count ticks).
    20 ms: Raft's election timeout is 200-400 ms, which a node on a loaded
    two-core machine holds under 500 client sessions while a crashed leader is
    still replaced well within a second (docs/benchmarks.md)."""
    request_timeout: float = attrs.field(default=5.0, validator=_positive_number)
    """Default deadline of ``propose``/``read`` (and of forwarded requests)."""
    forward: bool = True
    """Whether a follower forwards proposals and reads to its leader (True) or
    fails them with ``NotLeader(leader_hint)`` (False)."""
    compact_every: int = attrs.field(default=10_000, validator=_non_negative_int)
    session_timeout: float = attrs.field(default=0.0, validator=_session_timeout)
    """Seconds a client may stay silent before its session is forgotten, by
    the wall clocks of the leaders in the log (0, the default: sessions are
    forgotten only beyond 4096; see docs/tutorial.md). Turn it on only when
    every node runs a version that reads stamped commands."""
    sync: bool = True
    """``LmdbStorage(sync=...)``: False only for benchmarks (not crash-safe)."""
    storage_writes: str = attrs.field(default="auto", validator=_one_of(STORAGE_WRITES))
    """Where the driver runs ``storage.write``: ``"thread"`` in the node's
    writer thread (the loop keeps receiving, ticking and serving during the
    flush, at the price of a thread hand-off per write); ``"inline"`` in the
    event loop (no hand-off; the loop stalls for the flush, and what arrives
    meanwhile waits in the kernel and comes out as the next batch); ``"auto"``
    (default) in the thread for a batch whose messages already left before
    the write (a pipelining leader: it has clients and answers to serve during
    its flush) and inline otherwise (a follower, whose answer waits for the
    flush anyway). See docs/runtime.md for the measurements."""
    pipelined_writes: bool = True
    """Run the core with pipelined writes when it supports them (Raft, ZAB and
    Multi-Paxos: the leader writes its log in parallel with replicating it,
    thesis 10.2.1; see ``pyconsensus.core.node.PipelinedNode``). A
    ``pipelined_writes`` entry in ``protocol_options`` takes precedence."""
    state_machine: str = DEFAULT_STATE_MACHINE
    """``module:Class`` of the state machine ``pyconsensus node`` runs."""
    max_pending_requests: int = attrs.field(default=10_000, validator=_positive_number)
    """Client requests the node holds at most (queued for the core or in it);
    more are refused at once with ``busy`` (clients retry after a backoff)."""
    requests_per_batch: int = attrs.field(default=64, validator=_positive_number)
    """Client requests handed to the core per turn of the driver loop; ticks
    and peer messages go in between (see docs/runtime.md)."""
    transport: TransportConfig = attrs.field(factory=TransportConfig)
    tls: TlsConfig | None = None
    """Mutual TLS for every connection (``tls.py``); None: plaintext."""
    insecure: bool = False
    """Allow a plaintext listener on a non-loopback address (never in production)."""
    observe: ObserveConfig = attrs.field(factory=ObserveConfig)
    """Logs, metrics and health (``[observe]``; docs/operations.md)."""
    join: bool = False
    """Join the running cluster of ``members`` as a new node (``pyconsensus
    node --join``): start as a non-member, ask to be added as a learner, never
    form a cluster of its own (docs/membership.md). Needs ``listen`` when the
    node is not among ``members``."""
    auto_promote: bool = True
    """With ``join``: ask to be promoted to voter once caught up (False: stay
    a learner until an operator promotes it)."""

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.cluster_id, str) or not self.cluster_id:
            raise ConfigError("cluster_id must be a non-empty string")
        if self.join and self.node_id not in self.members and self.listen is None:
            raise ConfigError(
                f"node {self.node_id} joins the cluster: give the address it listens on (--listen)"
            )
        if self.node_id not in self.members and not self.join:
            raise ConfigError(
                f"node {self.node_id} is not among the members {sorted(self.members)}"
            )
        if self.protocol not in CONSENSUS_PROTOCOLS:
            raise ConfigError(
                f"unknown protocol {self.protocol!r}; known: {', '.join(CONSENSUS_PROTOCOLS)}"
            )
        if self.tls is None and not self.insecure and not is_loopback(self.address.host):
            raise ConfigError(
                f"node {self.node_id} would listen on {self.address} in plaintext: configure "
                "[tls] (docs/security.md) or set insecure = true"
            )
        metrics = self.observe.metrics
        public = self.observe.metrics_public
        if metrics is not None and not public and not is_loopback(metrics.host):
            raise ConfigError(
                f"node {self.node_id} would serve /metrics and /health on {metrics} without "
                "authentication: use a loopback address or set metrics_public = true in [observe]"
            )

    @property
    def address(self) -> Address:
        """Where this node listens."""
        return self.listen if self.listen is not None else self.members[self.node_id]

    @property
    def peers(self) -> dict[int, Address]:
        """The other members."""
        return {n: a for n, a in self.members.items() if n != self.node_id}


_TOP_KEYS = {
    "cluster_id",
    "protocol",
    "data_dir",
    "tick_ms",
    "request_timeout_s",
    "forward",
    "compact_every",
    "session_timeout_s",
    "sync",
    "storage_writes",
    "pipelined_writes",
    "state_machine",
    "max_pending_requests",
    "requests_per_batch",
    "members",
    "protocol_options",
    "transport",
    "listen",
    "tls",
    "insecure",
    "observe",
}


def parse_config(  # noqa: C901 - one flat check per key of the cluster file
    document: Mapping[str, Any],
    node_id: int,
    base_dir: Path | None = None,
    *,
    join: bool = False,
    listen: Address | None = None,
) -> NodeConfig:
    """The ``NodeConfig`` of ``node_id`` from a parsed cluster file.

    ``base_dir`` resolves a relative ``data_dir`` (the file's directory).
    ``listen`` may be a table of per-node overrides (``[listen] 1 = "..."``).
    ``join``: this node joins the cluster the file describes
    (``NodeConfig.join``); ``listen`` overrides where it listens.
    """
    unknown = set(document) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"unknown keys in the cluster file: {', '.join(sorted(unknown))}")
    members = parse_members(document.get("members"))
    kwargs: dict[str, Any] = {
        "cluster_id": document.get("cluster_id"),
        "node_id": node_id,
        "members": members,
    }
    if "protocol" in document:
        kwargs["protocol"] = str(document["protocol"])
    if "protocol_options" in document:
        options = document["protocol_options"]
        if not isinstance(options, Mapping):
            raise ConfigError("[protocol_options] must be a table")
        kwargs["protocol_options"] = _flat_options(options)
    if "data_dir" in document:
        root = Path(str(document["data_dir"]))
        if not root.is_absolute() and base_dir is not None:
            root = base_dir / root
        kwargs["data_dir"] = root / f"node-{node_id}"
    if "tick_ms" in document:
        kwargs["tick_interval"] = _number(document["tick_ms"], "tick_ms") / 1000
    if "request_timeout_s" in document:
        kwargs["request_timeout"] = _number(document["request_timeout_s"], "request_timeout_s")
    for key in ("forward", "sync", "pipelined_writes", "insecure"):
        if key in document:
            if not isinstance(document[key], bool):
                raise ConfigError(f"{key} must be true or false")
            kwargs[key] = document[key]
    if "storage_writes" in document:
        kwargs["storage_writes"] = document["storage_writes"]
    for key in ("compact_every", "max_pending_requests", "requests_per_batch"):
        if key in document:
            kwargs[key] = document[key]
    if "session_timeout_s" in document:
        kwargs["session_timeout"] = _number(document["session_timeout_s"], "session_timeout_s")
    if "state_machine" in document:
        kwargs["state_machine"] = str(document["state_machine"])
    if "listen" in document:
        listen = document["listen"]
        if not isinstance(listen, Mapping):
            raise ConfigError("[listen] must be a table of node id = address")
        own = listen.get(str(node_id))
        if own is not None:
            kwargs["listen"] = Address.parse(str(own))
    if "transport" in document:
        table = document["transport"]
        if not isinstance(table, Mapping):
            raise ConfigError("[transport] must be a table")
        names = {f.name for f in attrs.fields(TransportConfig)}
        bad = set(table) - names
        if bad:
            raise ConfigError(f"unknown [transport] keys: {', '.join(sorted(bad))}")
        kwargs["transport"] = TransportConfig(**dict(table))
    if "tls" in document:
        kwargs["tls"] = parse_tls_table(document["tls"], node_id, base_dir)
    if "observe" in document:
        kwargs["observe"] = parse_observe(document["observe"], node_id)
    if join:
        kwargs["join"] = True
    if listen is not None:
        kwargs["listen"] = listen
    return NodeConfig(**kwargs)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP address or ``localhost``) is a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def parse_members(table: object) -> dict[int, Address]:
    """``{"1": "127.0.0.1:7101", ...}`` as ``{1: Address(...)}``."""
    if not isinstance(table, Mapping) or not table:
        raise ConfigError('[members] must be a non-empty table of node id = "host:port"')
    members: dict[int, Address] = {}
    for key, value in table.items():
        text = str(key)
        if not text.isdigit():
            raise ConfigError(f"member ids must be non-negative integers, got {key!r}")
        members[int(text)] = Address.parse(str(value))
    return members


def load_document(path: str | Path) -> dict[str, Any]:
    """The parsed TOML of a cluster file (``ConfigError`` if it is not TOML)."""
    try:
        with Path(path).open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def load_config(
    path: str | Path, node_id: int, *, join: bool = False, listen: Address | None = None
) -> NodeConfig:
    """The ``NodeConfig`` of ``node_id`` from the cluster file at ``path``
    (``join``, ``listen``: see ``parse_config``)."""
    path = Path(path)
    document = load_document(path)
    return parse_config(document, node_id, path.resolve().parent, join=join, listen=listen)


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    return float(value)


def _flat_options(options: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``[protocol_options]`` as text; a sub-table (``[protocol_options.transfer]``)
    gives dotted names (``transfer.chunk_size``)."""
    flat: dict[str, str] = {}
    for key, value in options.items():
        if isinstance(value, Mapping):
            flat.update(_flat_options(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = _option_text(value)
    return flat


def _option_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_OBSERVE_KEYS = {
    "log_format": "log_format",
    "slow_fsync_ms": "slow_fsync_s",
    "no_leader_after_s": "no_leader_after_s",
    "no_leader_every_s": "no_leader_every_s",
    "metrics": "metrics",
    "health_max_lag": "health_max_lag",
    "metrics_public": "metrics_public",
}


def parse_observe(table: object, node_id: int) -> ObserveConfig:
    """The ``[observe]`` table. ``metrics`` is an address (``"host:port"``, or
    a bare port on 127.0.0.1) for every node, or a table of them by node id."""
    if not isinstance(table, Mapping):
        raise ConfigError("[observe] must be a table")
    bad = set(table) - set(_OBSERVE_KEYS)
    if bad:
        raise ConfigError(f"unknown [observe] keys: {', '.join(sorted(bad))}")
    kwargs: dict[str, Any] = {_OBSERVE_KEYS[k]: v for k, v in table.items()}
    if "slow_fsync_ms" in table:
        kwargs["slow_fsync_s"] = _number(table["slow_fsync_ms"], "slow_fsync_ms") / 1000
    metrics = table.get("metrics")
    if isinstance(metrics, Mapping):
        metrics = metrics.get(str(node_id))
    kwargs["metrics"] = None if metrics is None else metrics_address(metrics)
    return ObserveConfig(**kwargs)


def metrics_address(value: object) -> Address:
    """``"host:port"`` as an address, a bare port (``9101`` or ``"9101"``) on
    127.0.0.1: the metrics endpoint listens on loopback unless told otherwise.
    Port 0 picks a free port (the node logs which)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"metrics must be an address or a port, got {value!r}")
    text = str(value)
    if text.isdigit():
        text = f"127.0.0.1:{text}"
    host, _, port = text.rpartition(":")
    if port == "0" and host:
        return Address(host.strip("[]"), 0)
    return Address.parse(text)
