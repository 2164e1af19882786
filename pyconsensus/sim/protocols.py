"""The protocols the simulator knows, by name.

Each protocol package describes itself with a ``ProtocolSpec`` in its own
``sim.py`` module (``pyconsensus.<name>.sim:SPEC``); this registry only maps
names to those modules, loading them on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

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


REGISTRY: dict[str, str] = {
    "raft": "pyconsensus.raft.sim",
    "zab": "pyconsensus.zab.sim",
    "paxos": "pyconsensus.paxos.sim",
}


def available() -> list[str]:
    """Names of the protocols whose modules are installed."""
    names = []
    for name, module in REGISTRY.items():
        if importlib.util.find_spec(module) is not None:
            names.append(name)
    return names


def get_protocol(name: str) -> ProtocolSpec:
    """The ``ProtocolSpec`` registered as ``name``."""
    module_name = REGISTRY.get(name)
    if module_name is None:
        raise ConfigError(f"unknown protocol {name!r}; known: {', '.join(sorted(REGISTRY))}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise ConfigError(f"protocol {name!r} is not implemented yet") from exc
        raise
    spec = module.SPEC
    if not isinstance(spec, ProtocolSpec):
        raise ConfigError(f"{module_name}.SPEC is not a ProtocolSpec")
    return spec
