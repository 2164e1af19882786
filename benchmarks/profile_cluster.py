"""Profile the nodes of a loopback cluster under the standard load, with py-spy.

    python benchmarks/profile_cluster.py --clients 64 --seconds 8 [--idle] [--set key=value]

Starts a 3-process cluster (as ``pyconsensus bench cluster`` does), runs the load
generator, and while it runs records the leader and one follower with
``py-spy record --format raw`` (collapsed stacks). Prints, per node, the functions
with the most samples on the stack (inclusive) and at the top of the stack (self),
and keeps the raw files for flame graphs (``--out``). ``--idle`` also samples the
threads while they wait (epoll, the fsync thread), which shows where wall time,
rather than CPU, goes. py-spy must be installed (``pip install py-spy``) and
allowed to attach (root, or ptrace_scope 0).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import trio

from pyconsensus.adapters.trio.bench import _run_loadgen
from pyconsensus.adapters.trio.localcluster import open_local_cluster


def summarise(raw: Path, top: int) -> str:
    """Inclusive and self sample shares of the functions in a collapsed-stack file."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = [_short(f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples", "inclusive:"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in inclusive.most_common(top)]
    lines.append("self:")
    lines += [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    name, _, where = frame.partition(" (")
    module = where.rsplit("/", 1)[-1].split(":", 1)[0].rstrip(")")
    return f"{name} ({module})" if module else name


async def profile(args: argparse.Namespace) -> None:
    settings: dict[str, object] = {"tick_ms": 10, "sync": not args.no_sync}
    for item in args.set:
        key, _, value = item.partition("=")
        settings[key] = {"true": True, "false": False}.get(value, value)
    options = dict(item.partition("=")[::2] for item in args.option)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as root:
        async with (
            open_local_cluster(
                Path(root),
                protocol=args.protocol,
                cluster_id="bench",
                settings=settings,
                protocol_options=options,
                log_level="info",
            ) as cluster,
            cluster.client() as admin,
        ):
            await cluster.wait_until_serving(admin)
            leader = (await cluster.wait_for_leader(admin)).node_id
            follower = min(n for n in cluster.members if n != leader)
            targets = {"leader": leader, "follower": follower}
            spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            async with trio.open_nursery() as nursery:

                async def record(role: str, node: int) -> None:
                    await trio.sleep(args.warmup)
                    command = [
                        spy,
                        "record",
                        "--format",
                        "raw",
                        "--rate",
                        str(args.rate),
                        "--duration",
                        str(int(args.seconds)),
                        "--pid",
                        str(cluster.processes[node].pid),
                        "--output",
                        str(out / f"{role}.txt"),
                        "--nonblocking",
                    ]
                    if args.idle:
                        command.append("--idle")
                    if args.gil:
                        command.append("--gil")
                    await trio.run_process(command, capture_stdout=True, capture_stderr=True)

                for role, node in targets.items():
                    nursery.start_soon(record, role, node)
                result = await _run_loadgen(
                    cluster,
                    clients=args.clients,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    payload=args.payload,
                )
            await cluster.stop_all()
            for role, node in targets.items():
                # A node logs its counters when it stops.
                lines = cluster.log_path(node).read_text().splitlines()
                counters = [line for line in lines if "counters:" in line]
                if counters:
                    (out / f"{role}.counters").write_text(counters[-1] + "\n")
    print(
        f"C={args.clients}: {result.writes_per_s:,.0f} writes/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms (while profiling)"
    )
    for role in targets:
        print(f"\n== {role} ==")
        counters_file = out / f"{role}.counters"
        if counters_file.exists():
            print(counters_file.read_text().strip())
        print(summarise(out / f"{role}.txt", args.top))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", default="raft")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--payload", type=int, default=100)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--idle", action="store_true", help="also sample waiting threads")
    parser.add_argument(
        "--gil", action="store_true", help="only samples holding the GIL: Python CPU time"
    )
    parser.add_argument("--no-sync", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", default="profiles", help="directory for the raw stacks")
    parser.add_argument("--set", action="append", default=[], help="cluster file key=value")
    parser.add_argument("--option", action="append", default=[], help="protocol option k=v")
    args = parser.parse_args(argv)
    trio.run(profile, args)


if __name__ == "__main__":
    main()
