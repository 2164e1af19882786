"""How long the event loop stalls while a large state machine is snapshotted:
``python -m benchmarks.snapshot_stall [--state-mb 1024] [--value-bytes 1024]
[--inline] [--dir PATH] [--json]``.

A ``KVStateMachine`` is filled with ``--state-mb`` MiB of distinct values,
then, after a 5 s baseline of the same loop without a snapshot,
snapshotted the way the runtime does it (``take_snapshot``: a
point-in-time source taken in the loop, streamed into a ``FileSnapshotStore``
in a worker thread) while, in the loop, a task applies a put every
millisecond and ``LoopStallGauge`` records the longest lateness of a 1 ms
sleep. ``--inline`` also times the old way for contrast: ``snapshot()`` into
one ``bytes`` and written from the loop, which stalls it for the whole time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import trio

from pyconsensus.adapters.lmdb.snapshots import FileSnapshotStore
from pyconsensus.adapters.trio.snapshotting import LoopStallGauge, take_snapshot
from pyconsensus.rsm import kv
from pyconsensus.rsm.kv import KVStateMachine

MIB = 1 << 20
BASELINE_S = 5.0


def fill(state_mb: int, value_bytes: int) -> KVStateMachine:
    machine = KVStateMachine()
    filler = os.urandom(value_bytes - 8)
    data = machine.data
    for i in range(state_mb * MIB // value_bytes):
        data[b"key%09d" % i] = b"%08d" % i + filler  # a distinct object each
    return machine


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def streamed(machine: KVStateMachine, store: FileSnapshotStore) -> dict[str, float]:
    gauge = LoopStallGauge()
    applied = 0

    async def writes() -> None:
        nonlocal applied
        while True:
            machine.apply(kv.put(b"live%06d" % (applied % 1000), b"v" * 100))
            applied += 1
            await trio.sleep(0.001)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(gauge.run)
        nursery.start_soon(writes)
        # The same loop for as long without a snapshot: what the machine
        # itself costs (other processes, the writes task) - the baseline.
        await trio.sleep(BASELINE_S)
        before = gauge.max_ms
        gauge.reset()
        start = time.perf_counter()
        taken = time.perf_counter()
        source = machine.snapshot_source()
        taken = time.perf_counter() - taken
        meta = await take_snapshot(store, source, 1, 1)
        seconds = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return {
        "max_loop_stall_ms": round(gauge.max_ms, 1),
        "baseline_max_loop_stall_ms": round(before, 1),
        "source_taken_ms": round(taken * 1000, 2),
        "snapshot_s": round(seconds, 2),
        "snapshot_mb_s": round(meta.size / 1e6 / seconds, 1),
        "snapshot_bytes": meta.size,
        "applied_during": applied,
        "stall_samples": gauge.samples,
    }


async def inline(machine: KVStateMachine, directory: Path) -> dict[str, float]:
    gauge = LoopStallGauge()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gauge.run)
        await trio.sleep(0.2)
        gauge.reset()
        start = time.perf_counter()
        data = machine.snapshot()
        (directory / "inline.snap").write_bytes(data)
        del data
        seconds = time.perf_counter() - start
        await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    return {"inline_max_loop_stall_ms": round(gauge.max_ms, 1), "inline_s": round(seconds, 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-mb", type=int, default=1024, help="state size in MiB")
    parser.add_argument("--value-bytes", type=int, default=1024, help="bytes per value")
    parser.add_argument("--inline", action="store_true", help="also time the old, inline way")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()), help="where")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    machine = fill(args.state_mb, args.value_bytes)
    result: dict[str, object] = {
        "state_mb": args.state_mb,
        "keys": len(machine.data),
        "fill_s": round(time.perf_counter() - start, 1),
        "rss_mb_after_fill": round(rss_mb()),
    }
    root = Path(tempfile.mkdtemp(dir=args.dir, prefix="stallbench-"))
    try:
        result.update(trio.run(streamed, machine, FileSnapshotStore(root / "snapshots")))
        result["peak_rss_mb"] = round(rss_mb())
        if args.inline:
            result.update(trio.run(inline, machine, root))
            result["peak_rss_mb_with_inline"] = round(rss_mb())
    finally:
        shutil.rmtree(root)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<28} {value}")


if __name__ == "__main__":
    main()
