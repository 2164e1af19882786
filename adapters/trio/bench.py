"""Cluster benchmark: committed writes/s and latency of a real loopback cluster.

``pyconsensus bench cluster`` starts a cluster of node processes (LMDB with
sync on, unless told otherwise) and, for each client count, a *separate*
load-generator process (``python -m pyconsensus.adapters.trio.bench``) whose
clients each run one put after another: commands of ``payload`` bytes, every
one acknowledged only once committed and applied. Figures are measured over
a window after a warm-up: throughput = acknowledged writes completed in the
window / window length; latency = per write, from send to answer. Each node's
peak RSS is read at the end of the run (``pyconsensus.adapters.procstats``:
psutil, and ``VmHWM`` where Linux keeps it).

The commands follow the standard workload of docs/benchmarks.md: a KV ``put`` of a
``payload``-byte random value to a key drawn uniformly from ``keys`` keys. The load
generator measures its own CPU time over the window, so a saturated client shows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs
import trio

from pyconsensus.adapters.procstats import cpu_seconds, peak_rss_kib
from pyconsensus.adapters.trio.client import Client, open_client
from pyconsensus.adapters.trio.config import Address
from pyconsensus.adapters.trio.localcluster import LocalCluster, open_local_cluster
from pyconsensus.rsm import kv


@attrs.frozen
class LoadResult:
    clients: int
    seconds: float
    writes: int
    errors: int
    writes_per_s: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    cpu_s: float = 0.0
    """The load generator's own CPU seconds (user + system) over the window."""


#: Above this share of one core the load generator may be what limits the figures.
SATURATED_CPU_SHARE = 0.85


@attrs.frozen
class ClusterResult:
    protocol: str
    clients: int
    runs: tuple[LoadResult, ...]
    peak_rss_kib: dict[int, int]
    """Per node, the highest ``VmHWM`` over the runs."""
    cpu_s: dict[int, float]
    """Per node, the median over the runs of its CPU seconds (user + system)
    while the load generator ran."""
    leader_changes: int
    """The most leader changes seen in one run (polled every 100 ms)."""
    longest_leaderless_s: float = 0.0
    """The longest time in one run between two polls that saw a leader, across
    a poll that saw none or a new leader (0.1 s resolution)."""

    def median(self, field: str) -> float:
        return float(statistics.median(getattr(run, field) for run in self.runs))


def key_of(number: int) -> bytes:
    """The name of key ``number`` of the workload."""
    return b"key-%06d" % number


def command_of(rng: random.Random, keys: int, payload: int) -> bytes:
    """A put of a random ``payload``-byte value to one of ``keys`` keys, drawn uniformly."""
    return kv.put(key_of(rng.randrange(keys)), rng.randbytes(payload))


def _percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank: always a latency that was really observed."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


async def generate_load(
    members: dict[int, Address],
    cluster_id: str,
    *,
    clients: int,
    seconds: float,
    warmup: float,
    payload: int,
    keys: int = 10_000,
) -> LoadResult:
    """Run ``clients`` closed-loop writers; measure the window after ``warmup``."""
    latencies: list[float] = []
    errors = 0
    start = trio.current_time()
    window_start = start + warmup
    window_end = window_start + seconds
    cpu_window: list[float] = []

    async def clock_cpu() -> None:
        await trio.sleep_until(window_start)
        cpu_window.append(time.process_time())
        await trio.sleep_until(window_end)
        cpu_window.append(time.process_time())

    async def writer(index: int, client: Client) -> None:
        nonlocal errors
        rng = random.Random(index)
        while trio.current_time() < window_end:
            command = command_of(rng, keys, payload)
            began = trio.current_time()
            try:
                await client.propose(command)
            except Exception:  # counted, the benchmark goes on
                errors += 1
                continue
            done = trio.current_time()
            if began >= window_start and done <= window_end:
                latencies.append(done - began)

    async with (
        open_client(members, cluster_id, timeout=10.0) as first,
        trio.open_nursery() as nursery,
    ):
        # Every writer is a session of its own; they share one connection per
        # node (as etcd's benchmark shares --conns among --clients).
        nursery.start_soon(clock_cpu)
        for index in range(clients):
            nursery.start_soon(writer, index, first.new_session())
    return LoadResult(
        clients=clients,
        seconds=seconds,
        writes=len(latencies),
        errors=errors,
        writes_per_s=len(latencies) / seconds,
        p50_ms=_percentile(latencies, 0.5) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        p999_ms=_percentile(latencies, 0.999) * 1000,
        cpu_s=cpu_window[1] - cpu_window[0] if len(cpu_window) == 2 else 0.0,
    )


class RunProgress(Protocol):
    """Told when each run of ``bench_cluster`` starts and what it measured
    (``pyconsensus.cli.bench.progress.Progress`` prints it on a terminal)."""

    def start(self, what: str) -> None: ...

    def finish(self, figures: str) -> None: ...


@attrs.define
class LeaderWatch:
    """What polling who leads found: leader changes and the longest gap."""

    changes: int = 0
    longest_gap_s: float = 0.0
    _last: tuple[int, int] | None = None
    _last_seen_at: float | None = None
    _gap_open: bool = False

    def observe(self, now: float, leader: tuple[int, int] | None) -> None:
        """One poll: ``leader`` is ``(term, node id)`` of the newest leader, or None."""
        if leader is None:
            return
        if self._last is not None and leader != self._last:
            self.changes += 1
        if self._last_seen_at is not None and (leader != self._last or self._gap_open):
            self.longest_gap_s = max(self.longest_gap_s, now - self._last_seen_at)
        self._last = leader
        self._last_seen_at = now
        self._gap_open = False

    def missed(self) -> None:
        """A poll that found no leader."""
        self._gap_open = True


async def _watch_leaders(cluster: LocalCluster, admin: Client, watch: LeaderWatch) -> None:
    """Poll who leads every 100 ms into ``watch``."""
    while True:
        statuses = await cluster.statuses(admin)
        leaders = [s for s in statuses.values() if s is not None and s.role == "leader"]
        if leaders:
            newest = max(leaders, key=lambda s: s.term)
            watch.observe(trio.current_time(), (newest.term, newest.node_id))
        else:
            watch.missed()
        await trio.sleep(0.1)


async def _scrape_metrics(cluster: LocalCluster, every: float = 1.0) -> None:
    """Fetch every node's /metrics every ``every`` seconds (``--metrics``: the
    cost of serving scrapes is part of what is measured)."""
    while True:
        for address in cluster.metrics.values():
            with contextlib.suppress(OSError, trio.BrokenResourceError):
                stream = await trio.open_tcp_stream(address.host, address.port)
                async with stream:
                    await stream.send_all(b"GET /metrics HTTP/1.1\r\n\r\n")
                    while await stream.receive_some(65536):
                        pass
        await trio.sleep(every)


async def _run_loadgen(
    cluster: LocalCluster,
    *,
    clients: int,
    seconds: float,
    warmup: float,
    payload: int,
    keys: int = 10_000,
) -> LoadResult:
    members = ",".join(f"{n}={a}" for n, a in sorted(cluster.members.items()))
    command = [
        sys.executable,
        "-m",
        "pyconsensus.adapters.trio.bench",
        "--members",
        members,
        "--cluster-id",
        cluster.cluster_id,
        "--clients",
        str(clients),
        "--seconds",
        str(seconds),
        "--warmup",
        str(warmup),
        "--payload",
        str(payload),
        "--keys",
        str(keys),
    ]
    done = await trio.run_process(command, capture_stdout=True, stderr=subprocess.STDOUT)
    lines = done.stdout.decode().strip().splitlines()
    return LoadResult(**json.loads(lines[-1]))


async def bench_cluster(
    *,
    protocol: str,
    clients: Sequence[int],
    seconds: float,
    warmup: float,
    payload: int,
    repeats: int,
    sync: bool = True,
    directory: Path | None = None,
    tick_ms: int | None = None,
    keys: int = 10_000,
    settings: Mapping[str, Any] | None = None,
    protocol_options: Mapping[str, Any] | None = None,
    progress: RunProgress | None = None,
    metrics: bool = False,
) -> list[ClusterResult]:
    """For each client count, ``repeats`` runs, each on a fresh cluster.

    ``settings`` adds or overrides keys of the cluster file (e.g. ``storage_writes``),
    ``protocol_options`` the core's tuning - for A/B runs in one session.
    ``progress`` hears of each run as it starts and ends.
    ``metrics``: every node serves /metrics, scraped every second during the run."""
    results = []
    for count in clients:
        runs = []
        peaks: dict[int, int] = {}
        cpu: dict[int, list[float]] = {}
        changes = 0
        gap = 0.0
        for repeat in range(repeats):
            if progress is not None:
                progress.start(f"{count} clients, run {repeat + 1}/{repeats}")
            with tempfile.TemporaryDirectory(dir=directory) as root:
                async with (
                    open_local_cluster(
                        Path(root),
                        protocol=protocol,
                        cluster_id="bench",
                        settings={
                            **({} if tick_ms is None else {"tick_ms": tick_ms}),
                            "sync": sync,
                            **(settings or {}),
                        },
                        protocol_options=protocol_options,
                        metrics=metrics,
                    ) as cluster,
                    cluster.client() as admin,
                ):
                    await cluster.wait_until_serving(admin)
                    await cluster.wait_for_leader(admin)
                    pids = {node: p.pid for node, p in cluster.processes.items()}
                    before = {node: cpu_seconds(pid) for node, pid in pids.items()}
                    watch = LeaderWatch()
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(_watch_leaders, cluster, admin, watch)
                        if metrics:
                            nursery.start_soon(_scrape_metrics, cluster)
                        run = await _run_loadgen(
                            cluster,
                            clients=count,
                            seconds=seconds,
                            warmup=warmup,
                            payload=payload,
                            keys=keys,
                        )
                        nursery.cancel_scope.cancel()
                    runs.append(run)
                    if progress is not None:
                        progress.finish(
                            f"{run.writes_per_s:,.0f} writes/s, p99 {run.p99_ms:.1f} ms"
                        )
                    changes = max(changes, watch.changes)
                    gap = max(gap, watch.longest_gap_s)
                    for node, pid in pids.items():
                        cpu.setdefault(node, []).append(cpu_seconds(pid) - before[node])
                        peaks[node] = max(peaks.get(node, 0), peak_rss_kib(pid))
        cpu_s = {node: statistics.median(values) for node, values in cpu.items()}
        results.append(ClusterResult(protocol, count, tuple(runs), peaks, cpu_s, changes, gap))
    return results


def format_cluster(results: Sequence[ClusterResult]) -> str:
    lines = [
        "| clients | writes/s | p50 ms | p99 ms | p99.9 ms | errors | leader changes "
        "| longest gap s | peak RSS per node (MiB) | CPU s per node | load gen CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    for result in results:
        rss = ", ".join(f"{kib / 1024:.0f}" for _, kib in sorted(result.peak_rss_kib.items()))
        cpu = ", ".join(f"{s:.1f}" for _, s in sorted(result.cpu_s.items()))
        load = loadgen_summary(result)
        share = load["max_cpu_share"]
        lines.append(
            f"| {result.clients} | {result.median('writes_per_s'):,.0f} | "
            f"{result.median('p50_ms'):.2f} | {result.median('p99_ms'):.2f} | "
            f"{result.median('p999_ms'):.2f} | "
            f"{sum(r.errors for r in result.runs)} | {result.leader_changes} | "
            f"{result.longest_leaderless_s:.1f} | {rss} | {cpu} | "
            f"{'-' if share is None else format(share, '.0%')}"
            f"{' saturated' if load['saturated'] else ''} |"
        )
    return "\n".join(lines)


def results_json(results: Sequence[ClusterResult]) -> list[dict[str, Any]]:
    """One dict per (protocol, C) with the standard keys of issue 8 -
    ``throughput_ops_s``, ``p50_ms``, ``p99_ms``, ``p999_ms``, ``peak_rss_mb``
    and ``cpu_s`` (the busiest node's; ``*_per_replica`` lists all three),
    ``leader_changes`` - plus the runs and the load generator's CPU."""
    out = []
    for r in results:
        rss_mb = [round(v / 1024, 1) for _, v in sorted(r.peak_rss_kib.items())]
        cpu_s = [round(v, 3) for _, v in sorted(r.cpu_s.items())]
        throughput = round(r.median("writes_per_s"))
        out.append(
            {
                "protocol": r.protocol,
                "clients": r.clients,
                "throughput_ops_s": throughput,
                "writes_per_s": throughput,
                "p50_ms": round(r.median("p50_ms"), 3),
                "p99_ms": round(r.median("p99_ms"), 3),
                "p999_ms": round(r.median("p999_ms"), 3),
                "peak_rss_mb": max(rss_mb, default=0.0),
                "peak_rss_mb_per_replica": rss_mb,
                "cpu_s": max(cpu_s, default=0.0),
                "cpu_s_per_replica": cpu_s,
                "leader_changes": r.leader_changes,
                "longest_leaderless_s": round(r.longest_leaderless_s, 3),
                "runs": [attrs.asdict(run) for run in r.runs],
                "peak_rss_kib": r.peak_rss_kib,
                "loadgen": loadgen_summary(r),
            }
        )
    return out


def loadgen_summary(result: ClusterResult) -> dict[str, Any]:
    """The load generator's CPU (one process), in the shape the peer benchmarks report."""
    shares = [run.cpu_s / run.seconds for run in result.runs if run.seconds > 0]
    return {
        "procs": 1,
        "cpu_s": [round(run.cpu_s, 3) for run in result.runs],
        "max_cpu_share": round(max(shares), 3) if shares else None,
        "saturated": any(share > SATURATED_CPU_SHARE for share in shares),
    }


def _main(argv: Sequence[str] | None = None) -> None:
    """The load generator process: prints one JSON ``LoadResult``."""
    parser = argparse.ArgumentParser(description="pyconsensus cluster load generator")
    parser.add_argument("--members", required=True, help="1=host:port,2=host:port,...")
    parser.add_argument("--cluster-id", required=True)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--payload", type=int, default=100, help="bytes per value")
    parser.add_argument("--keys", type=int, default=10_000, help="distinct keys")
    args = parser.parse_args(argv)
    members = {
        int(node): Address.parse(address)
        for node, _, address in (item.partition("=") for item in args.members.split(","))
    }
    result = trio.run(
        lambda: generate_load(
            members,
            args.cluster_id,
            clients=args.clients,
            seconds=args.seconds,
            warmup=args.warmup,
            payload=args.payload,
            keys=args.keys,
        )
    )
    print(json.dumps(attrs.asdict(result)))


if __name__ == "__main__":
    _main()
