"""The protocols pyconsensus can run, by name: how to build their nodes and tune them.

The runtime, the CLI and the simulator all find protocols here::

    protocol = get_protocol("raft").with_options({"pre_vote": "false"})
    node = protocol.factory(node_id, members, storage, rng)

Each entry names a node class and its config class; their modules are imported
on first use, so asking for one protocol loads only that one. Options arrive as
text (the CLI's ``--option``, a cluster file, a transcript's ``cluster`` line)
and are parsed into the protocol's config class by ``parse_options``.

This registry knows nothing of the simulator: ``pyconsensus.sim`` attaches its
own safety checkers to the protocols registered here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from random import Random
from typing import Any, Final, TypeVar

import attrs

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.node import ConsensusNode, NodeFactory
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import NodeId


@attrs.frozen(slots=True)
class Protocol:
    """How to build the nodes of one protocol, and how to tune it."""

    name: str
    factory: NodeFactory
    description: str = ""
    configure: Callable[[Mapping[str, str]], Protocol] | None = None
    """Rebuilds this protocol with tuning options given as text, e.g.
    ``{"pre_vote": "false"}``. ``None``: the protocol takes no options."""

    def with_options(self, options: Mapping[str, str]) -> Protocol:
        """This protocol tuned by ``options`` (``ConfigError`` if it cannot be)."""
        if not options:
            return self
        if self.configure is None:
            raise ConfigError(f"protocol {self.name!r} takes no options")
        return self.configure(options)


C = TypeVar("C")


def _default_of(field: Any) -> object:
    """A field's default value (a factory's product, for a nested config)."""
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return default.factory()
    return default


def parse_options(config_class: type[C], options: Mapping[str, str], base: C | None = None) -> C:
    """An attrs config ``config_class`` (evolved from ``base``) with ``options``,
    each value parsed by the field's default type: ``true``/``false`` for
    booleans, decimal for numbers; ``outer.inner`` sets a field of a nested
    config (``transfer.chunk_size``). ``ConfigError`` names any unknown option."""
    fields = {f.name: f for f in attrs.fields(config_class)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    nested: dict[str, dict[str, str]] = {}
    for name, text in options.items():
        outer, dot, inner = name.partition(".")
        if dot and outer in fields and attrs.has(type(_default_of(fields[outer]))):
            # ``transfer.chunk_size``: a field of a nested config (TransferConfig)
            nested.setdefault(outer, {})[inner] = text
            continue
        field = fields.get(name)
        if field is None:
            known = ", ".join(sorted(fields))
            raise ConfigError(
                f"unknown option {name!r} for {config_class.__name__}; known: {known}"
            )
        default: object = field.default
        kind: type = type(default) if default is not attrs.NOTHING else str
        try:
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                values[name] = text.lower() in ("true", "1", "yes")
            elif kind is int or kind is float:
                values[name] = kind(text)
            else:
                values[name] = text
        except ValueError:
            raise ConfigError(f"option {name}={text!r} is not a valid {kind.__name__}") from None
    for outer, inner_options in nested.items():
        current = getattr(base, outer) if base is not None else _default_of(fields[outer])
        values[outer] = parse_options(type(current), inner_options, current)
    if base is None:
        return config_class(**values)
    return attrs.evolve(base, **values)  # type: ignore[misc]


def node_protocol(
    name: str,
    node_class: Callable[..., ConsensusNode],
    config_class: type[object],
    config: object = None,
    description: str = "",
    **arguments: object,
) -> Protocol:
    """A protocol whose nodes are ``node_class(node_id, members, storage, rng,
    config, **arguments)``; options are parsed into ``config_class`` on top of
    ``config``."""

    def factory(
        node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random
    ) -> ConsensusNode:
        return node_class(node_id, members, storage, rng, config, **arguments)

    def configure(options: Mapping[str, str]) -> Protocol:
        tuned = parse_options(config_class, options, config)
        return node_protocol(name, node_class, config_class, tuned, description, **arguments)

    return Protocol(name=name, factory=factory, description=description, configure=configure)


@attrs.frozen(slots=True)
class Registration:
    """Where a registered protocol lives: ``module.node_class`` built with a
    ``module.config_class`` and the constant keyword ``arguments``."""

    module: str
    node_class: str
    config_class: str
    description: str
    arguments: Mapping[str, object] = attrs.field(factory=dict)


def _atomic(core: str) -> Registration:
    return Registration(
        "pyconsensus.broadcast",
        "AtomicBroadcast",
        "AtomicBroadcastConfig",
        f"atomic (total-order) broadcast over {core}",
        {"protocol": core},
    )


REGISTRY: Final[dict[str, Registration]] = {
    "raft": Registration(
        "pyconsensus.raft",
        "RaftNode",
        "RaftConfig",
        "Raft with PreVote, CheckQuorum, ReadIndex and snapshots",
    ),
    "zab": Registration(
        "pyconsensus.zab",
        "ZabNode",
        "ZabConfig",
        "ZooKeeper Atomic Broadcast with Fast Leader Election, "
        "DIFF/TRUNC/SNAP sync, forwarding and quorum reads",
    ),
    "paxos": Registration(
        "pyconsensus.paxos",
        "MultiPaxosNode",
        "PaxosConfig",
        "Multi-Paxos with a stable leader, leases, ReadIndex-style reads and snapshots",
    ),
    "best-effort": Registration(
        "pyconsensus.broadcast",
        "BestEffortBroadcast",
        "BroadcastConfig",
        "best-effort broadcast (no relaying) with retransmission",
    ),
    "eager": Registration(
        "pyconsensus.broadcast",
        "EagerReliableBroadcast",
        "BroadcastConfig",
        "eager reliable broadcast: relay on first delivery",
    ),
    "lazy": Registration(
        "pyconsensus.broadcast",
        "LazyReliableBroadcast",
        "BroadcastConfig",
        "lazy reliable broadcast: relay when the failure detector suspects the origin",
    ),
    "atomic-raft": _atomic("raft"),
    "atomic-zab": _atomic("zab"),
    "atomic-paxos": _atomic("paxos"),
}
"""Protocol name -> where its classes live."""

CONSENSUS_PROTOCOLS: tuple[str, ...] = ("raft", "zab", "paxos")
"""The registered protocols that can replicate a state machine on their own
(the runtime, ``demo`` and the benchmarks take these); the broadcast
primitives are simulated and tested, but carry no client sessions."""


def get_protocol(
    name: str, config: object = None, node_class: Callable[..., ConsensusNode] | None = None
) -> Protocol:
    """The protocol registered as ``name``, built with ``config`` (``None``: the
    defaults) and, if given, ``node_class`` instead of the registered class
    (tests plug in deliberately broken variants this way)."""
    registration = REGISTRY.get(name)
    if registration is None:
        raise ConfigError(f"unknown protocol {name!r}; known: {', '.join(sorted(REGISTRY))}")
    try:
        module = importlib.import_module(registration.module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and registration.module.startswith(exc.name):
            raise ConfigError(f"protocol {name!r} is not implemented yet") from exc
        raise
    return node_protocol(
        name,
        node_class if node_class is not None else getattr(module, registration.node_class),
        getattr(module, registration.config_class),
        config,
        registration.description,
        **registration.arguments,
    )
