"""What every peer script shares: its command line, installing what it needs, and one
run of the standard workload per C on a fresh cluster.

A peer script provides a :class:`Cluster` (three replicas it started) and a worker
entry point; :func:`main` does the rest and prints one JSON object per C.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs

from benchmarks.peers.loadgen import WorkerSpec, run_load
from benchmarks.peers.procs import ProcessSet, cpu_seconds, peak_rss_mb, stop_on_sigterm
from benchmarks.peers.stats import latency_summary

#: The standard workload of issue 8.
DEFAULT_CLIENTS = (1, 16, 64, 256)
DEFAULT_WARMUP_S = 2.0
DEFAULT_DURATION_S = 15.0
DEFAULT_PAYLOAD = 100
DEFAULT_KEYS = 10_000
REPLICAS = 3


class Cluster(Protocol):
    """Three replicas a peer script started on loopback."""

    @property
    def replicas(self) -> Sequence[subprocess.Popen[bytes]]:
        """The replica processes (their PIDs are measured and stopped)."""
        ...

    def wait_healthy(self, timeout: float) -> None:
        """Return once every replica is up and a leader is elected."""
        ...

    def leader_index(self) -> int:
        """Index in :attr:`replicas` of the current leader."""
        ...

    def election_counter(self) -> int:
        """A number that grows by (at least) one at every election: Raft term, ZAB epoch."""
        ...

    def target(self, leader: int, worker: int) -> str:
        """Address load process ``worker`` sends its writes to."""
        ...


@attrs.frozen
class PeerInfo:
    """What a result says about the system measured."""

    system: str
    version: str
    client: str
    durable: bool
    notes: str = ""


@attrs.frozen
class Peer:
    """A peer script's parts, handed to :func:`main`."""

    module: str
    info: Callable[[argparse.Namespace], PeerInfo]
    install: Callable[[argparse.Namespace], None]
    start: Callable[[ProcessSet, Path, argparse.Namespace], Cluster]
    worker: Callable[[WorkerSpec], None]
    default_procs: Callable[[int], int]
    extra: Callable[[argparse.Namespace], dict[str, Any]] = lambda args: {}
    add_arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None


def build_parser(peer: Peer, description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {peer.module}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--clients",
        type=int,
        nargs="+",
        default=list(DEFAULT_CLIENTS),
        metavar="C",
        help="outstanding writes; one fresh cluster per value (default: 1 16 64 256)",
    )
    parser.add_argument("--warmup", type=float, default=DEFAULT_WARMUP_S, help="seconds")
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S, help="seconds")
    parser.add_argument("--payload", type=int, default=DEFAULT_PAYLOAD, help="bytes per value")
    parser.add_argument("--keys", type=int, default=DEFAULT_KEYS, help="size of the key space")
    parser.add_argument(
        "--procs", type=int, default=None, help="load-generator processes (default: by C)"
    )
    parser.add_argument(
        "--dir", default=None, help="where the replicas' data go (default: $TMPDIR)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--setup-timeout", type=float, default=120.0, help="seconds to wait for a healthy cluster"
    )
    parser.add_argument(
        "--no-install", action="store_true", help="fail instead of installing what is missing"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per C")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    peer.add_arguments(parser)
    return parser


def main(peer: Peer, description: str | None, argv: Sequence[str] | None = None) -> int:
    """Entry point of a peer script (and of its load-generator workers)."""
    args = build_parser(peer, description).parse_args(argv)
    if args.worker:
        peer.worker(WorkerSpec.from_json(args.worker))
        return 0
    stop_on_sigterm()
    if not args.no_install:
        peer.install(args)
    info = peer.info(args)
    for clients in args.clients:
        result = run_once(peer, info, args, clients)
        print(json.dumps(result) if args.json else format_result(result), flush=True)
    return 0


def run_once(peer: Peer, info: PeerInfo, args: argparse.Namespace, clients: int) -> dict[str, Any]:
    """The standard workload at ``clients`` outstanding writes on a fresh cluster."""
    processes = args.procs or peer.default_procs(clients)
    load_before = os.getloadavg()
    with (
        ProcessSet() as procs,
        tempfile.TemporaryDirectory(prefix=f"{info.system}-", dir=args.dir) as tmp,
    ):
        workdir = Path(tmp)
        cluster = peer.start(procs, workdir, args)
        cluster.wait_healthy(args.setup_timeout)
        leader = cluster.leader_index()
        pids = [p.pid for p in cluster.replicas]
        marks: dict[str, Any] = {}

        def before_go() -> None:
            marks["elections"] = cluster.election_counter()

        def window_start() -> None:
            marks["cpu0"] = [cpu_seconds(pid) for pid in pids]

        def window_end() -> None:
            marks["cpu1"] = [cpu_seconds(pid) for pid in pids]

        load = run_load(
            module=peer.module,
            procs=procs,
            workdir=workdir,
            target=lambda worker: cluster.target(leader, worker),
            clients=clients,
            processes=processes,
            keys=args.keys,
            payload=args.payload,
            warmup=args.warmup,
            duration=args.duration,
            seed=args.seed,
            extra=peer.extra(args),
            on_window_start=window_start,
            on_window_end=window_end,
            before_go=before_go,
        )
        elections_after = cluster.election_counter()
        leader_after = cluster.leader_index()
        rss = [peak_rss_mb(pid) for pid in pids]
        for proc in cluster.replicas:
            if proc.poll() is not None:
                raise RuntimeError(f"replica {proc.pid} died during the run ({proc.returncode})")
    cpu = [end - start for start, end in zip(marks["cpu0"], marks["cpu1"], strict=True)]
    summary = latency_summary(load.latencies_ms, completed=load.completed, duration_s=args.duration)
    return {
        "system": info.system,
        "version": info.version,
        "client": info.client,
        "durable": info.durable,
        "notes": info.notes,
        "clients": clients,
        "payload": args.payload,
        "keys": args.keys,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        **{k: _round(v) for k, v in summary.items()},
        "ops": load.completed,
        "errors": load.errors,
        "first_error": load.first_error,
        # Per-replica figures: the scalar is the maximum over replicas (the busiest one,
        # normally the leader); the lists are in replica order, leader at "leader_index".
        "peak_rss_mb": round(max(rss), 1),
        "cpu_s": round(max(cpu), 3),
        "peak_rss_mb_per_replica": [round(r, 1) for r in rss],
        "cpu_s_per_replica": [round(c, 3) for c in cpu],
        "cpu_us_per_op": round(sum(cpu) / load.completed * 1e6, 1) if load.completed else None,
        "leader_index": leader,
        "leader_changes": max(elections_after - marks["elections"], 0)
        + (1 if leader_after != leader and elections_after == marks["elections"] else 0),
        "loadgen": load.describe(args.duration),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


def format_result(result: dict[str, Any]) -> str:
    """One human-readable line per run."""
    saturated = " LOAD GENERATOR SATURATED" if result["loadgen"]["saturated"] else ""
    return (
        f"{result['system']} C={result['clients']}: {result['throughput_ops_s']:,.0f} writes/s, "
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, p99.9 {result['p999_ms']} ms, "
        f"peak RSS {result['peak_rss_mb_per_replica']} MiB, CPU {result['cpu_s_per_replica']} s, "
        f"leader changes {result['leader_changes']}, errors {result['errors']}, "
        f"load procs {result['loadgen']['procs']} cpu {result['loadgen']['cpu_s']} s{saturated}"
    )


def ensure_python(requirements: dict[str, str], *, allowed: bool = True) -> None:
    """Install each ``requirement`` whose module is missing, with this interpreter's pip."""
    missing = [req for module, req in requirements.items() if not importlib.util.find_spec(module)]
    if not missing:
        return
    if not allowed:
        raise SystemExit(f"missing Python packages: {' '.join(missing)}")
    print(f"installing {' '.join(missing)} with pip", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)


def ensure_debian(path: str, packages: Sequence[str], *, allowed: bool = True) -> None:
    """``apt-get install`` ``packages`` unless ``path`` exists (root only)."""
    if Path(path).exists() or shutil.which(path):
        return
    if not allowed or os.geteuid() != 0:
        raise SystemExit(
            f"{path} is missing: run `apt-get install -y {' '.join(packages)}` as root first"
        )
    print(f"installing {' '.join(packages)} with apt-get", file=sys.stderr)
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if subprocess.run(install, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(install, env=env, check=True)


def debian_version(package: str) -> str:
    """The installed version of a Debian package, or ``unknown``."""
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or "unknown"
