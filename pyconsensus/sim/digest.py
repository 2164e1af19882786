"""Trace digests: one hash of everything a seeded run did.

A refactoring that claims to change no behaviour shows it by producing the same
digest for the same seeds before and after. The digest covers every event the
simulator reports (sends with their arrival times, deliveries, drops, faults,
crashes, restarts, leader changes) and every ``Ready`` batch each node hands
out (its durable write, messages, committed entries and replies), in order::

    digest = trace_digest(get_spec("raft"), seed=7, config=RunConfig(workload="kv"))

Watching changes nothing: the recorder is an observer and a checker that never
raises, so a digested run is the very same run as any other.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pyconsensus.core.node import ConsensusNode
from pyconsensus.core.ready import Ready
from pyconsensus.core.types import NodeId
from pyconsensus.sim.checker import ClusterView
from pyconsensus.sim.simulation import Simulation
from pyconsensus.sim.specs import ProtocolSpec
from pyconsensus.sim.sweep import RunConfig, run_seed


class DigestRecorder:
    """Hashes the ``repr`` of every simulator event and ``Ready`` batch."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def attach(self, sim: Simulation) -> None:
        """Start recording ``sim`` (before it runs)."""
        sim.observe(self.on_event)
        sim.checkers.append(self)

    def on_event(self, sim: Simulation, kind: str, details: dict[str, Any]) -> None:
        self._add(f"{sim.now} {kind} {sorted(details.items())!r}")

    def on_ready(
        self, sim: ClusterView, node_id: NodeId, node: ConsensusNode, ready: Ready
    ) -> None:
        self._add(f"{sim.now} ready {node_id} {ready!r}")

    def on_restart(self, sim: ClusterView, node_id: NodeId, node: ConsensusNode) -> None:
        self._add(f"{sim.now} restart {node_id}")

    def after_step(self, sim: ClusterView) -> None:
        pass

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def _add(self, text: str) -> None:
        self._hash.update(text.encode())
        self._hash.update(b"\n")


def trace_digest(protocol: ProtocolSpec, seed: int, config: RunConfig | None = None) -> str:
    """The digest of ``run_seed(protocol, seed, config)``, plus its outcome
    (violation, statistics and client history)."""
    recorder = DigestRecorder()
    result = run_seed(protocol, seed, config, instrument=recorder.attach)
    recorder._add(f"result {result.violation!r} {result.stats!r} {result.history!r}")
    return recorder.hexdigest()
