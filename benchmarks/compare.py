"""Run pyconsensus and its peers back to back under the standard workload and publish the
comparison (issue 8).

    python -m benchmarks.compare [--clients 1 16 64 256] [--duration 15] [--warmup 2]
                                 [--systems ...] [--label TEXT]

For every C, runs each system in turn - ``pyconsensus bench cluster --protocol P ...
--json`` for each pyconsensus protocol, then the peer scripts in benchmarks/peers/ -
each on a fresh 3-replica cluster. Writes every result (plus machine and commands) to
``benchmarks/results/compare-<UTC time>.json``, and regenerates the comparison section
of docs/benchmarks.md and its plot docs/benchmarks-peers.svg. A system that is not
available (``pyconsensus bench cluster`` not built yet) is skipped with the reason in
the report; a system that fails is reported and the run goes on.

``--from-results FILE`` only rebuilds the docs section and plot from a results file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.peers.plot import render_svg
from benchmarks.peers.report import plot_series, render_section, replace_section
from benchmarks.peers.stats import missing_keys, scalar

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks-peers.svg"
HEADING = "## Against etcd, ZooKeeper and PySyncObj (`benchmarks/compare.py`)"

PYCONSENSUS_PROTOCOLS = ("raft", "zab", "paxos")
#: Peer systems: name -> extra arguments of its script.
PEERS: dict[str, tuple[str, list[str]]] = {
    "etcd": ("benchmarks.peers.etcd_peer", []),
    "zookeeper": ("benchmarks.peers.zookeeper_peer", []),
    "pysyncobj-journal": ("benchmarks.peers.pysyncobj_peer", ["--journal", "file"]),
    "pysyncobj-memory": ("benchmarks.peers.pysyncobj_peer", ["--journal", "memory"]),
    # PySyncObj's latency-oriented setting: an AppendEntries per command instead of
    # one every 100 ms (its own option, documented in SyncObjConf).
    "pysyncobj-journal-tuned": (
        "benchmarks.peers.pysyncobj_peer",
        ["--journal", "file", "--conf", "appendEntriesUseBatch=false"],
    ),
}
DEFAULT_SYSTEMS = ["pyconsensus-raft", *PEERS]


def machine_facts(data_dir: str) -> dict[str, Any]:
    """Cores, CPU model, memory, disk, kernel and Python of this machine."""
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(memory_kib / 2**20),
        "disk": disk_of(data_dir),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "flush_ms_before": flush_ms(data_dir),
    }


def flush_ms(path: str, seconds: float = 1.0) -> float | None:
    """Median milliseconds of a synced one-entry LMDB commit in ``path`` (the disk's
    flush latency, which drifts on shared VMs and moves every durable system's
    latency); ``None`` if py-lmdb is missing."""
    try:
        import lmdb  # noqa: PLC0415 - optional here
    except ImportError:
        return None
    import statistics  # noqa: PLC0415
    import tempfile  # noqa: PLC0415
    import time  # noqa: PLC0415

    with tempfile.TemporaryDirectory(dir=path) as directory:
        env = lmdb.open(directory, map_size=1 << 24, sync=True, metasync=True)
        times = []
        try:
            deadline = time.perf_counter() + seconds
            key = 0
            while time.perf_counter() < deadline:
                key += 1
                started = time.perf_counter()
                with env.begin(write=True) as txn:
                    txn.put(key.to_bytes(8, "big"), b"x" * 100)
                times.append(time.perf_counter() - started)
        finally:
            env.close()
    return round(statistics.median(times) * 1000, 3)


def disk_of(path: str) -> str:
    """Filesystem, device and whether it is rotational, for the directory ``path``."""
    found = subprocess.run(
        ["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", path],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if len(found) != 2:
        return f"{path} (filesystem unknown)"
    source, fstype = found
    device = Path(source).name
    # Virtual disks often claim rotational=1 whatever backs them: report the flag as is.
    kind = ""
    rotational = Path(f"/sys/block/{device}/queue/rotational")
    if rotational.exists():
        kind = f", queue/rotational={rotational.read_text().strip()}"
    virtual = ", a virtio disk" if device.startswith("vd") else ""
    return f"{fstype} on {source}{virtual}{kind} ({path})"


def pyconsensus_command() -> list[str]:
    return [sys.executable, "-m", "pyconsensus", "bench", "cluster"]


def pyconsensus_flags() -> str | None:
    """The help text of ``pyconsensus bench cluster``, or None if it does not exist."""
    result = subprocess.run(
        [*pyconsensus_command(), "--help"], capture_output=True, text=True, check=False
    )
    return result.stdout if result.returncode == 0 else None


def command_for(
    system: str, clients: int, args: argparse.Namespace, cluster_help: str | None
) -> list[str]:
    """The command line measuring ``system`` at C = ``clients``."""
    common = ["--duration", f"{args.duration:g}", "--payload", str(args.payload)]
    if system.startswith("pyconsensus-"):
        helps = cluster_help or ""
        argv = [*pyconsensus_command(), "--protocol", system.split("-", 1)[1]]
        argv += ["--clients", str(clients), *common]
        if "--duration" not in helps and "--seconds" in helps:
            argv[argv.index("--duration")] = "--seconds"  # an earlier spelling
        if "--warmup" in helps:
            argv += ["--warmup", f"{args.warmup:g}"]
        if "--repeats" in helps:
            argv += ["--repeats", "1"]  # one run, like every peer
        if "--keys" in helps:
            argv += ["--keys", str(args.keys)]
        if cluster_help and "--dir" in cluster_help and args.dir:
            argv += ["--dir", args.dir]
        return [*argv, "--json"]
    module, extra = PEERS[system]
    argv = [sys.executable, "-m", module, "--clients", str(clients), *common]
    argv += ["--warmup", f"{args.warmup:g}", "--keys", str(args.keys), *extra]
    if args.dir:
        argv += ["--dir", args.dir]
    return [*argv, "--json"]


def last_json_object(stdout: str) -> dict[str, Any]:
    """The last line of ``stdout`` that is a JSON object."""
    for raw in reversed(stdout.strip().splitlines()):
        line = raw.strip()
        if line.startswith("{"):
            parsed: dict[str, Any] = json.loads(line)
            return parsed
    raise ValueError("no JSON object in the output")


#: Other names a producer may use for a result key.
ALIASES = {"writes_per_s": "throughput_ops_s", "p99_9_ms": "p999_ms"}


def flatten(report: dict[str, Any], clients: int) -> dict[str, Any]:
    """The flat result for ``clients`` out of a report that nests one result per C under
    ``results`` (as an early ``bench cluster`` did), with alias keys renamed and
    ``peak_rss_kib`` per node turned into ``peak_rss_mb`` per replica."""
    result = dict(report)
    nested = report.get("results")
    if isinstance(nested, list):
        matching = [r for r in nested if r.get("clients") == clients] or nested[-1:]
        result = {k: v for k, v in report.items() if k != "results"} | dict(matching[0])
    for alias, key in ALIASES.items():
        if alias in result and key not in result:
            result[key] = result.pop(alias)
    kib = result.pop("peak_rss_kib", None)
    if "peak_rss_mb" not in result and isinstance(kib, dict):
        result["peak_rss_mb"] = [v / 1024 for _, v in sorted(kib.items())]
    return result


def normalise(result: dict[str, Any], system: str, clients: int) -> dict[str, Any]:
    """A result with the comparison's own system name, C, and scalar RSS/CPU."""
    result = flatten(result, clients)
    missing = missing_keys(result)
    if missing:
        raise ValueError(f"result lacks {', '.join(missing)}")
    out = dict(result)
    out["system"] = system
    out["clients"] = int(result.get("clients", clients))
    for key in ("peak_rss_mb", "cpu_s"):
        if isinstance(result[key], list):
            out[f"{key}_per_replica"] = result[key]
        out[key] = scalar(result[key])
    out.setdefault("durable", True)
    return out


def shown(argv: Sequence[str]) -> str:
    """A command as the reader would type it (``python`` for this interpreter)."""
    words = ["python" if w == sys.executable else w for w in argv]
    return " ".join(w if w and " " not in w and "=" not in w[:1] else repr(w) for w in words)


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = dt.datetime.now(dt.UTC)
    machine = machine_facts(args.dir or os.environ.get("TMPDIR", "/tmp"))
    cluster_help = pyconsensus_flags()
    systems = list(args.systems)
    skipped = []
    if cluster_help is None:
        for system in [s for s in systems if s.startswith("pyconsensus-")]:
            systems.remove(system)
            skipped.append(
                {
                    "system": system,
                    "reason": "`pyconsensus bench cluster` does not exist in this checkout yet",
                }
            )
            print(f"skipping {system}: `pyconsensus bench cluster` not available", flush=True)
    results: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    commands: list[str] = []
    for clients in args.clients:
        for system in systems:
            argv = command_for(system, clients, args, cluster_help)
            commands.append(shown(argv))
            print(f"--- {system} C={clients}: {shown(argv)}", flush=True)
            timeout = args.warmup + args.duration + 300
            try:
                done = subprocess.run(
                    argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT
                )
                if done.returncode != 0:
                    raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-1500:]}")
                result = normalise(last_json_object(done.stdout), system, clients)
            except (RuntimeError, ValueError, subprocess.TimeoutExpired) as error:
                print(f"    failed: {error}", flush=True)
                failures.append({"system": system, "clients": clients, "error": str(error)})
                continue
            result["command"] = shown(argv)
            results.append(result)
            print(
                f"    {result['throughput_ops_s']:,.0f} writes/s, p50 {result['p50_ms']} ms, "
                f"p99 {result['p99_ms']} ms, leader changes {result['leader_changes']}",
                flush=True,
            )
    machine["load_after"] = [round(x, 2) for x in os.getloadavg()]
    machine["flush_ms_after"] = flush_ms(args.dir or os.environ.get("TMPDIR", "/tmp"))
    finished = dt.datetime.now(dt.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    return {
        "label": args.label,
        "started": started.strftime("%Y-%m-%d %H:%M:%S"),
        "finished": finished.strftime("%Y-%m-%d %H:%M:%S"),
        "results_file": f"benchmarks/results/compare-{stamp}.json",
        "machine": machine,
        "config": {
            "clients": args.clients,
            "warmup": args.warmup,
            "duration": args.duration,
            "payload": args.payload,
            "keys": args.keys,
            "systems": args.systems,
        },
        "commands": commands,
        "results": results,
        "failures": failures,
        "skipped": skipped,
    }


def publish(document: dict[str, Any], *, doc: Path = DOC, plot: Path = PLOT) -> None:
    """Rewrite the plot and the generated section of the benchmarks page."""
    if document["results"]:
        throughput, p99 = plot_series(document["results"])
        dashed = {r["system"] for r in document["results"] if not r.get("durable", True)}
        plot.write_text(render_svg(throughput, p99, title="pyconsensus and peers", dashed=dashed))
    section = render_section(document, plot.name)
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    doc.write_text(replace_section(text, section, heading=HEADING))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--payload", type=int, default=100)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument(
        "--systems",
        nargs="+",
        default=DEFAULT_SYSTEMS,
        choices=[f"pyconsensus-{p}" for p in PYCONSENSUS_PROTOCOLS] + list(PEERS),
    )
    parser.add_argument("--dir", default=None, help="where the replicas' data go")
    parser.add_argument("--label", default="", help="a note printed above the table")
    parser.add_argument("--no-docs", action="store_true", help="only write the results file")
    parser.add_argument(
        "--from-results", type=Path, help="rebuild docs and plot from this results file"
    )
    args = parser.parse_args(argv)
    if args.from_results:
        document = json.loads(args.from_results.read_text())
    else:
        document = run(args)
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = ROOT / document["results_file"]
        out.write_text(json.dumps(document, indent=1) + "\n")
        print(f"results: {out}")
    if not args.no_docs:
        publish(document)
        print(f"updated {DOC} and {PLOT}")
    return 1 if document["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
