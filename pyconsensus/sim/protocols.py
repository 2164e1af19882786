"""The protocols the simulator knows, by name.

Each protocol package describes itself with a ``ProtocolSpec`` in its own
``sim.py`` module (``pyconsensus.<name>.sim:SPEC``); this registry only maps
names to those modules, loading them on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.node import NodeFactory

if TYPE_CHECKING:
    from pyconsensus.sim.checker import Checker


@attrs.frozen(slots=True)
class ProtocolSpec:
    """How the simulator builds and checks one protocol."""

    name: str
    factory: NodeFactory
    checkers: Callable[[], Sequence[Checker]] = tuple
    """Fresh protocol-specific safety checkers for one run."""
    properties: tuple[str, ...] = ()
    """Names of the properties those checkers verify, for reports."""
    total_order: bool = True
    """Whether every node delivers one common sequence of entries (consensus,
    atomic broadcast). If not (best-effort or reliable broadcast), the
    simulator does not run its ``CommittedLog`` State Machine Safety check and
    the protocol's own checkers define what agreement means."""
    description: str = ""
    configure: Callable[[Mapping[str, str]], ProtocolSpec] | None = None
    """Rebuilds this spec with tuning options given as text, e.g.
    ``{"pre_vote": "false"}`` (the CLI's ``--option``, transcripts' ``cluster``
    line). ``None``: the protocol takes no options."""

    def with_options(self, options: Mapping[str, str]) -> ProtocolSpec:
        """This protocol tuned by ``options`` (``ConfigError`` if it cannot be)."""
        if not options:
            return self
        if self.configure is None:
            raise ConfigError(f"protocol {self.name!r} takes no options")
        return self.configure(options)


C = TypeVar("C")


def parse_options(config_class: type[C], options: Mapping[str, str], base: C | None = None) -> C:
    """An attrs config ``config_class`` (evolved from ``base``) with ``options``,
    each value parsed by the field's default type: ``true``/``false`` for
    booleans, decimal for numbers. ``ConfigError`` names any unknown option."""
    fields = {f.name: f for f in attrs.fields(config_class)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for name, text in options.items():
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
    if base is None:
        return config_class(**values)
    return attrs.evolve(base, **values)  # type: ignore[misc]


REGISTRY: dict[str, str] = {
    "raft": "pyconsensus.raft.sim",
    "zab": "pyconsensus.zab.sim",
    "paxos": "pyconsensus.paxos.sim",
    "best-effort": "pyconsensus.broadcast.sim:BEST_EFFORT_SPEC",
    "eager": "pyconsensus.broadcast.sim:EAGER_SPEC",
    "lazy": "pyconsensus.broadcast.sim:LAZY_SPEC",
    "atomic-raft": "pyconsensus.broadcast.sim:ATOMIC_RAFT_SPEC",
    "atomic-zab": "pyconsensus.broadcast.sim:ATOMIC_ZAB_SPEC",
    "atomic-paxos": "pyconsensus.broadcast.sim:ATOMIC_PAXOS_SPEC",
}
"""Protocol name -> ``module`` (whose ``SPEC`` is used) or ``module:ATTRIBUTE``."""

CONSENSUS_PROTOCOLS: tuple[str, ...] = ("raft", "zab", "paxos")
"""The registered protocols that can replicate a state machine on their own
(the runtime, ``demo`` and the benchmarks take these); the broadcast
primitives are simulated and tested, but carry no client sessions."""


def available() -> list[str]:
    """Names of the protocols whose modules are installed."""
    names = []
    for name, target in REGISTRY.items():
        if importlib.util.find_spec(target.partition(":")[0]) is not None:
            names.append(name)
    return names


def get_protocol(name: str) -> ProtocolSpec:
    """The ``ProtocolSpec`` registered as ``name``."""
    target = REGISTRY.get(name)
    if target is None:
        raise ConfigError(f"unknown protocol {name!r}; known: {', '.join(sorted(REGISTRY))}")
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise ConfigError(f"protocol {name!r} is not implemented yet") from exc
        raise
    spec = getattr(module, attribute or "SPEC", None)
    if not isinstance(spec, ProtocolSpec):
        raise ConfigError(f"{target} is not a ProtocolSpec")
    return spec
