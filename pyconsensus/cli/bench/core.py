"""``pyconsensus bench``: benchmarks that print their figures.

This module may read the clock: it measures. Everything it measures is the
pure core, driven by the simulator on virtual time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import attrs

from pyconsensus.sim.network import NetworkConfig
from pyconsensus.sim.simulation import SimConfig, Simulation
from pyconsensus.sim.specs import get_spec


@attrs.frozen(slots=True)
class CoreResult:
    protocol: str
    nodes: int
    batch: int
    payload: int
    entries: int
    seconds: float
    checked: bool

    @property
    def entries_per_s(self) -> float:
        return self.entries / self.seconds if self.seconds else 0.0


def core_throughput(
    protocol: str = "raft",
    *,
    nodes: int = 3,
    entries: int = 200_000,
    batch: int = 1_000,
    payload: int = 100,
    check: bool = False,
    seed: int = 1,
) -> CoreResult:
    """Committed entries per second of wall time for a fault-free cluster.

    Every virtual millisecond the leader gets ``batch`` proposals of ``payload``
    bytes; the clock stops once the leader has committed ``entries`` of them.
    With ``check`` the simulator's safety checkers run after every step too.
    """
    spec = get_spec(protocol)
    config = SimConfig(nodes=nodes, network=NetworkConfig(min_delay_ms=1, max_delay_ms=1))
    sim = Simulation(spec, seed, config)
    if not check:
        sim.checkers = []
    # Elect a leader before the clock starts.
    deadline = 10_000
    while sim.leader() is None and sim.now < deadline:
        sim.run_for(10)
    leader = sim.leader()
    if leader is None:
        raise RuntimeError(f"{protocol}: no leader elected within {deadline} virtual ms")
    pool = [i.to_bytes(4, "big") * (payload // 4) + b"x" * (payload % 4) for i in range(1024)]
    node = sim.nodes[leader]
    assert node is not None
    start_index = node.status().commit_index
    target = start_index + entries
    proposed = 0
    started = time.perf_counter()
    while node.status().commit_index < target:
        if proposed < entries:
            offset = proposed % len(pool)
            chunk = pool[offset : offset + batch]
            sim.propose_batch(leader, chunk)
            proposed += len(chunk)
        sim.run_for(1)
        if sim.leader() != leader:
            raise RuntimeError(f"{protocol}: leadership changed during a fault-free benchmark")
    seconds = time.perf_counter() - started
    committed = node.status().commit_index - start_index
    return CoreResult(protocol, nodes, batch, payload, committed, seconds, check)


def format_core(results: Sequence[CoreResult]) -> str:
    lines = ["protocol  nodes  batch  payload  checks  entries   seconds  entries/s"]
    for r in results:
        lines.append(
            f"{r.protocol:<8}  {r.nodes:>5}  {r.batch:>5}  {r.payload:>7}  "
            f"{'on' if r.checked else 'off':>6}  {r.entries:>7}  {r.seconds:>7.2f}  "
            f"{r.entries_per_s:>9,.0f}"
        )
    return "\n".join(lines)
