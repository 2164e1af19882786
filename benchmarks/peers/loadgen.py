"""The load generator of the standard workload, both sides of it.

The orchestrator (:func:`run_load`) starts one or more *worker* processes, each keeping
its share of the C outstanding writes. Start-up is a handshake: a worker connects to
the cluster, prints ``READY``, and waits for ``GO <t0>`` on stdin, where ``t0`` is a
``time.monotonic()`` instant (CLOCK_MONOTONIC, the same clock in every process on
Linux). All workers then run the warm-up ``[t0, t0+W)`` and the measured window
``[t0+W, t0+W+D)`` together; a write counts when its acknowledgement arrives inside
the measured window, and its latency is from the moment it was issued to that
acknowledgement. Each worker also measures its own CPU seconds over the window,
which tells whether the load generator, not the cluster, was the bottleneck.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import select
import subprocess
import sys
import time
from array import array
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from benchmarks.peers.procs import ProcessSet
from benchmarks.peers.stats import split_evenly

#: A worker whose CPU use over the window exceeds this share of one core was (close to)
#: saturated: the figures may then measure the client rather than the cluster.
SATURATED_CPU_SHARE = 0.85


@attrs.frozen
class WorkerSpec:
    """What one load process does; passed as JSON on its command line."""

    index: int
    processes: int
    target: str
    clients: int
    keys: int
    payload: int
    warmup: float
    duration: float
    out: str
    seed: int
    extra: dict[str, Any] = attrs.field(factory=dict)

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        return cls(**json.loads(text))


class Recorder:
    """Counts acknowledged writes and their latencies inside the measured window."""

    def __init__(self, t0: float, warmup: float, duration: float) -> None:
        self.t0 = t0
        self.window_start = t0 + warmup
        self.window_end = self.window_start + duration
        self.latencies_ms = array("d")
        self.completed = 0
        self.errors = 0
        self.first_error = ""
        self.cpu_at_start: float | None = None
        self.cpu_at_end: float | None = None

    def record(self, began: float, ended: float) -> None:
        """One write issued at ``began`` was acknowledged at ``ended``."""
        if self.window_start <= ended < self.window_end:
            self.completed += 1
            self.latencies_ms.append((ended - began) * 1000.0)

    def failed(self, ended: float, error: object) -> None:
        """One write failed (counted whenever it happened; the first error is kept)."""
        self.errors += 1
        if not self.first_error:
            self.first_error = repr(error)[:300]

    def mark_window(self, now: float) -> None:
        """Sample this process's CPU time at the start and at the end of the window."""
        if self.cpu_at_start is None and now >= self.window_start:
            self.cpu_at_start = time.process_time()
        elif self.cpu_at_start is not None and self.cpu_at_end is None and now >= self.window_end:
            self.cpu_at_end = time.process_time()

    def save(self, out: str) -> None:
        cpu = (
            (self.cpu_at_end - self.cpu_at_start)
            if self.cpu_at_start is not None and self.cpu_at_end is not None
            else None
        )
        with open(out + ".lat", "wb") as f:
            self.latencies_ms.tofile(f)
        Path(out).write_text(
            json.dumps(
                {
                    "completed": self.completed,
                    "errors": self.errors,
                    "first_error": self.first_error,
                    "cpu_s": cpu,
                }
            )
        )


def make_keys(count: int) -> list[bytes]:
    """The key space: ``count`` fixed-width keys (the same for every system)."""
    return [b"k%05d" % i for i in range(count)]


def make_value(payload: int, seed: int) -> bytes:
    """One ``payload``-byte value of random bytes (incompressible)."""
    return random.Random(seed).randbytes(payload)


def announce_ready() -> float:
    """Worker side of the handshake: say READY, wait for GO, return ``t0``."""
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    line = sys.stdin.readline().split()
    if len(line) != 2 or line[0] != "GO":
        raise SystemExit(f"expected 'GO <t0>', got {line!r}")
    return float(line[1])


@attrs.frozen
class LoadResult:
    """All workers' results merged."""

    completed: int
    errors: int
    first_error: str
    latencies_ms: list[float]
    cpu_s: list[float | None]
    procs: int

    def describe(self, duration: float) -> dict[str, Any]:
        shares = [c / duration for c in self.cpu_s if c is not None]
        return {
            "procs": self.procs,
            "cpu_s": [None if c is None else round(c, 3) for c in self.cpu_s],
            "max_cpu_share": round(max(shares), 3) if shares else None,
            "saturated": any(s > SATURATED_CPU_SHARE for s in shares),
        }


def _read_line(proc: subprocess.Popen[bytes], deadline: float) -> str:
    assert proc.stdout is not None
    remaining = deadline - time.monotonic()
    ready, _, _ = select.select([proc.stdout], [], [], max(remaining, 0))
    if not ready:
        raise TimeoutError(f"load process {proc.pid} did not answer in time")
    return proc.stdout.readline().decode().strip()


def run_load(
    *,
    module: str,
    procs: ProcessSet,
    workdir: Path,
    target: Callable[[int], str],
    clients: int,
    processes: int,
    keys: int,
    payload: int,
    warmup: float,
    duration: float,
    seed: int,
    extra: dict[str, Any],
    on_window_start: Callable[[], None],
    on_window_end: Callable[[], None],
    before_go: Callable[[], None] = lambda: None,
    setup_timeout: float = 120.0,
) -> LoadResult:
    """Run the workload with ``processes`` workers (``python -m module --worker SPEC``)
    sharing ``clients`` outstanding writes; worker ``i`` sends to ``target(i)``.

    ``on_window_start``/``on_window_end`` run in the orchestrator at the window's edges
    (to sample the replicas' CPU); ``before_go`` just before the workers start (to read
    the election counter).
    """
    shares = split_evenly(clients, processes)
    workers = []
    specs = []
    for index, share in enumerate(shares):
        spec = WorkerSpec(
            index=index,
            processes=len(shares),
            target=target(index),
            clients=share,
            keys=keys,
            payload=payload,
            warmup=warmup,
            duration=duration,
            out=str(workdir / f"load{index}.json"),
            seed=seed * 1000 + index,
            extra=extra,
        )
        specs.append(spec)
        workers.append(
            procs.start(
                [sys.executable, "-m", module, "--worker", spec.to_json()],
                log=workdir / f"load{index}.log",
                pipes=True,
                env=os.environ | {"PYTHONUNBUFFERED": "1"},
            )
        )
    deadline = time.monotonic() + setup_timeout
    for worker in workers:
        line = _read_line(worker, deadline)
        if line != "READY":
            log = (workdir / f"load{specs[workers.index(worker)].index}.log").read_text()
            raise RuntimeError(f"load process failed to start: {line!r}\n{log[-2000:]}")
    before_go()
    t0 = time.monotonic() + 0.2
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(f"GO {t0!r}\n".encode())
        worker.stdin.flush()
    _sleep_until(t0 + warmup)
    on_window_start()
    _sleep_until(t0 + warmup + duration)
    on_window_end()
    finish_by = time.monotonic() + 60.0
    for worker in workers:
        worker.wait(timeout=max(finish_by - time.monotonic(), 1.0))
        if worker.returncode != 0:
            log = (workdir / f"load{workers.index(worker)}.log").read_text()
            raise RuntimeError(f"load process exited with {worker.returncode}\n{log[-2000:]}")
    return _merge(specs)


def _merge(specs: Sequence[WorkerSpec]) -> LoadResult:
    completed = errors = 0
    first_error = ""
    latencies: list[float] = []
    cpu: list[float | None] = []
    for spec in specs:
        summary = json.loads(Path(spec.out).read_text())
        completed += summary["completed"]
        errors += summary["errors"]
        first_error = first_error or summary["first_error"]
        cpu.append(summary["cpu_s"])
        values = array("d")
        with open(spec.out + ".lat", "rb") as f:
            values.frombytes(f.read())
        latencies.extend(values)
    return LoadResult(completed, errors, first_error, latencies, cpu, len(specs))


def _sleep_until(instant: float) -> None:
    while (left := instant - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))


#: One write: ``await put(key, value)`` returns once the cluster acknowledged it and
#: raises if it failed.
Put = Callable[[bytes, bytes], Awaitable[None]]
#: Connects a worker to the cluster: returns its ``put`` and a coroutine that closes it.
Connect = Callable[[WorkerSpec], Awaitable[tuple[Put, Callable[[], Awaitable[None]]]]]

#: After a failed write, a client waits this long before the next (no busy loop while a
#: cluster is unavailable).
ERROR_BACKOFF_S = 0.05


async def closed_loop(put: Put, spec: WorkerSpec, recorder: Recorder) -> None:
    """``spec.clients`` asyncio tasks, each issuing its next write as soon as the
    previous one is acknowledged, from ``recorder.t0`` to the end of the window."""
    keys = make_keys(spec.keys)
    value = make_value(spec.payload, spec.seed)
    rng = random.Random(spec.seed)
    loop = asyncio.get_running_loop()
    stop_at = recorder.window_end

    async def client() -> None:
        while time.monotonic() < stop_at:
            key = keys[rng.randrange(len(keys))]
            began = time.monotonic()
            try:
                await put(key, value)
            except Exception as error:  # counted and reported, the run goes on
                recorder.failed(time.monotonic(), error)
                await asyncio.sleep(ERROR_BACKOFF_S)
                continue
            recorder.record(began, time.monotonic())

    await asyncio.sleep(max(recorder.t0 - time.monotonic(), 0))
    for edge in (recorder.window_start, recorder.window_end):
        loop.call_at(edge, lambda: recorder.mark_window(time.monotonic()))
    await asyncio.gather(*(client() for _ in range(spec.clients)))
    recorder.mark_window(time.monotonic())


def run_async_worker(spec: WorkerSpec, connect: Connect) -> None:
    """Body of an asyncio worker process: connect, handshake, run, save the results."""

    async def main() -> None:
        put, close = await connect(spec)
        try:
            t0 = await asyncio.get_running_loop().run_in_executor(None, announce_ready)
            recorder = Recorder(t0, spec.warmup, spec.duration)
            await closed_loop(put, spec, recorder)
        finally:
            await close()
        recorder.save(spec.out)

    asyncio.run(main())
