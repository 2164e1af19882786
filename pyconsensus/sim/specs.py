"""The protocols the simulator runs: a registered protocol plus its safety checkers.

``pyconsensus.protocols`` knows how to build each protocol's nodes; this module
attaches what the simulator checks about them. Each protocol's checkers and its
``ProtocolSpec`` live in ``pyconsensus.sim.checkers.<protocol>``; ``SPECS`` maps
names to those modules, loading them on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import attrs

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.node import NodeFactory
from pyconsensus.protocols import Protocol
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
        if options and self.configure is None:
            raise ConfigError(f"protocol {self.name!r} takes no options")
        return self.configure(options) if options and self.configure else self


def spec_of(
    protocol: Protocol,
    checkers: Callable[[], Sequence[Checker]],
    properties: tuple[str, ...],
    total_order: bool = True,
) -> ProtocolSpec:
    """``protocol`` as the simulator runs it, checked by fresh ``checkers()``
    in every run; options tune the protocol and keep the checkers."""
    configure: Callable[[Mapping[str, str]], ProtocolSpec] | None = None
    if protocol.configure is not None:

        def configure(options: Mapping[str, str]) -> ProtocolSpec:
            return spec_of(protocol.with_options(options), checkers, properties, total_order)

    return ProtocolSpec(
        name=protocol.name,
        factory=protocol.factory,
        checkers=checkers,
        properties=properties,
        total_order=total_order,
        description=protocol.description,
        configure=configure,
    )


SPECS: Final[dict[str, str]] = {
    "raft": "pyconsensus.sim.checkers.raft",
    "zab": "pyconsensus.sim.checkers.zab",
    "paxos": "pyconsensus.sim.checkers.paxos",
    "best-effort": "pyconsensus.sim.checkers.broadcast:BEST_EFFORT_SPEC",
    "eager": "pyconsensus.sim.checkers.broadcast:EAGER_SPEC",
    "lazy": "pyconsensus.sim.checkers.broadcast:LAZY_SPEC",
    "atomic-raft": "pyconsensus.sim.checkers.broadcast:ATOMIC_RAFT_SPEC",
    "atomic-zab": "pyconsensus.sim.checkers.broadcast:ATOMIC_ZAB_SPEC",
    "atomic-paxos": "pyconsensus.sim.checkers.broadcast:ATOMIC_PAXOS_SPEC",
}
"""Protocol name -> ``module`` (whose ``SPEC`` is used) or ``module:ATTRIBUTE``."""


def get_spec(name: str) -> ProtocolSpec:
    """The ``ProtocolSpec`` the simulator runs as ``name``."""
    target = SPECS.get(name)
    if target is None:
        raise ConfigError(f"unknown protocol {name!r}; known: {', '.join(sorted(SPECS))}")
    module_name, _, attribute = target.partition(":")
    spec = getattr(importlib.import_module(module_name), attribute or "SPEC", None)
    if not isinstance(spec, ProtocolSpec):
        raise ConfigError(f"{target} is not a ProtocolSpec")
    return spec
