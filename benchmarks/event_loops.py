"""What AnyIO costs against plain trio on the runtime's hot operations:
``python -m benchmarks.event_loops [--rounds 5] [--json]``.

Each operation is timed in one process, alternating the variants round by
round (medians reported, microseconds per operation):

- ``tcp round trip``: a 100-byte frame over loopback TCP and its echo
  (one ``send_all`` and one ``receive_some`` per side), as between two nodes;
- ``tcp send``: a burst of 100-byte frames, one ``send_all`` each, drained by
  a reader on the other end (a leader's appends and a client's requests);
- ``memory stream``: one item through a bounded in-memory channel between two
  tasks (trio's memory channel, AnyIO's memory object stream);
- ``event wake``: a task waits on a new event, another sets it (a request's
  waiter, the pump's wake-up);
- ``to_thread``: ``to_thread.run_sync`` of a function that does nothing;
- ``writer hand-off``: the ``StorageWriter`` shape - a long-lived thread takes a
  job from a queue and wakes the waiting task through the loop's token
  (``TrioToken.run_sync_soon``; AnyIO's ``from_thread.run_sync(token=...)``).

Variants: ``trio`` (the runtime today), ``anyio/trio`` (the same work through
AnyIO's API on the trio backend), ``anyio/asyncio`` (AnyIO on asyncio).
"""

from __future__ import annotations

import argparse
import functools
import json
import queue
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import trio

FRAME = b"x" * 100
Timer = Callable[[int], Awaitable[float]]


# --- plain trio -------------------------------------------------------------


async def trio_round_trip(count: int) -> float:
    async def echo(stream: trio.SocketStream) -> None:
        while data := await stream.receive_some(65536):
            await stream.send_all(data)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, echo, 0, host="127.0.0.1")
        )
        port = listeners[0].socket.getsockname()[1]
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        began = time.perf_counter()
        for _ in range(count):
            await stream.send_all(FRAME)
            await stream.receive_some(65536)
        elapsed = time.perf_counter() - began
        await stream.aclose()
        nursery.cancel_scope.cancel()
    return elapsed


async def trio_send(count: int) -> float:
    total = count * len(FRAME)
    done = trio.Event()

    async def drain(stream: trio.SocketStream) -> None:
        got = 0
        while got < total:
            got += len(await stream.receive_some(1 << 18))
        done.set()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, drain, 0, host="127.0.0.1")
        )
        port = listeners[0].socket.getsockname()[1]
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        began = time.perf_counter()
        for _ in range(count):
            await stream.send_all(FRAME)
        await done.wait()
        elapsed = time.perf_counter() - began
        await stream.aclose()
        nursery.cancel_scope.cancel()
    return elapsed


async def trio_memory(count: int) -> float:
    send, receive = trio.open_memory_channel[bytes](1000)

    async def consume() -> None:
        for _ in range(count):
            await receive.receive()

    began = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        for _ in range(count):
            await send.send(FRAME)
    return time.perf_counter() - began


async def trio_event(count: int) -> float:
    began = time.perf_counter()
    for _ in range(count):
        event = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(event.wait)
            await trio.lowlevel.checkpoint()
            event.set()
    return time.perf_counter() - began


async def trio_to_thread(count: int) -> float:
    began = time.perf_counter()
    for _ in range(count):
        await trio.to_thread.run_sync(_nothing)
    return time.perf_counter() - began


async def trio_writer(count: int) -> float:
    jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
    thread = threading.Thread(target=_serve_jobs, args=(jobs,), daemon=True)
    thread.start()
    token = trio.lowlevel.current_trio_token()
    began = time.perf_counter()
    for _ in range(count):
        event = trio.Event()
        jobs.put(lambda event=event: token.run_sync_soon(event.set))  # type: ignore[misc]
        await event.wait()
    elapsed = time.perf_counter() - began
    jobs.put(None)
    thread.join()
    return elapsed


# --- AnyIO (either backend) -------------------------------------------------


async def anyio_round_trip(count: int) -> float:
    async def echo(stream: anyio.abc.SocketStream) -> None:
        try:
            while True:
                await stream.send(await stream.receive(65536))
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            pass

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, echo)
        stream = await anyio.connect_tcp("127.0.0.1", port)
        began = time.perf_counter()
        for _ in range(count):
            await stream.send(FRAME)
            await stream.receive(65536)
        elapsed = time.perf_counter() - began
        await stream.aclose()
        group.cancel_scope.cancel()
    await listener.aclose()
    return elapsed


async def anyio_send(count: int) -> float:
    total = count * len(FRAME)
    done = anyio.Event()

    async def drain(stream: anyio.abc.SocketStream) -> None:
        got = 0
        while got < total:
            got += len(await stream.receive(1 << 18))
        done.set()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, drain)
        stream = await anyio.connect_tcp("127.0.0.1", port)
        began = time.perf_counter()
        for _ in range(count):
            await stream.send(FRAME)
        await done.wait()
        elapsed = time.perf_counter() - began
        await stream.aclose()
        group.cancel_scope.cancel()
    await listener.aclose()
    return elapsed


async def anyio_memory(count: int) -> float:
    send, receive = anyio.create_memory_object_stream[bytes](1000)

    async def consume() -> None:
        for _ in range(count):
            await receive.receive()

    began = time.perf_counter()
    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        for _ in range(count):
            await send.send(FRAME)
    return time.perf_counter() - began


async def anyio_event(count: int) -> float:
    began = time.perf_counter()
    for _ in range(count):
        event = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(event.wait)
            await anyio.lowlevel.checkpoint()
            event.set()
    return time.perf_counter() - began


async def anyio_to_thread(count: int) -> float:
    began = time.perf_counter()
    for _ in range(count):
        await anyio.to_thread.run_sync(_nothing)
    return time.perf_counter() - began


async def anyio_writer(count: int) -> float:
    jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
    thread = threading.Thread(target=_serve_jobs, args=(jobs,), daemon=True)
    thread.start()
    token = anyio.lowlevel.current_token()
    began = time.perf_counter()
    for _ in range(count):
        event = anyio.Event()

        def wake(event: anyio.Event = event) -> None:
            anyio.from_thread.run_sync(event.set, token=token)

        jobs.put(wake)
        await event.wait()
    elapsed = time.perf_counter() - began
    jobs.put(None)
    thread.join()
    return elapsed


# --- driver -----------------------------------------------------------------


def _nothing() -> None:
    pass


def _serve_jobs(jobs: queue.SimpleQueue[Callable[[], None] | None]) -> None:
    while (job := jobs.get()) is not None:
        job()


OPERATIONS: dict[str, tuple[int, Timer, Timer]] = {
    "tcp round trip": (5_000, trio_round_trip, anyio_round_trip),
    "tcp send": (20_000, trio_send, anyio_send),
    "memory stream": (50_000, trio_memory, anyio_memory),
    "event wake": (20_000, trio_event, anyio_event),
    "to_thread": (3_000, trio_to_thread, anyio_to_thread),
    "writer hand-off": (5_000, trio_writer, anyio_writer),
}
VARIANTS = ("trio", "anyio/trio", "anyio/asyncio")


def measure(name: str, variant: str) -> float:
    """Microseconds per operation, one run."""
    count, native, portable = OPERATIONS[name]
    if variant == "trio":
        seconds = trio.run(native, count)
    else:
        backend = variant.split("/")[1]
        seconds = anyio.run(portable, count, backend=backend)
    return seconds / count * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures: dict[str, dict[str, list[float]]] = {
        name: {v: [] for v in VARIANTS} for name in OPERATIONS
    }
    for _ in range(args.rounds):
        for name in OPERATIONS:
            for variant in VARIANTS:
                figures[name][variant].append(measure(name, variant))
    medians: dict[str, Any] = {
        name: {v: round(statistics.median(runs), 2) for v, runs in by_variant.items()}
        for name, by_variant in figures.items()
    }
    if args.json:
        print(json.dumps({"rounds": args.rounds, "us_per_operation": medians}))
        return
    print("| operation (us each) | trio | anyio/trio | anyio/asyncio | anyio/trio vs trio |")
    print("|---|---:|---:|---:|---:|")
    for name, row in medians.items():
        ratio = row["anyio/trio"] / row["trio"] - 1
        print(
            f"| {name} | {row['trio']:.2f} | {row['anyio/trio']:.2f} | "
            f"{row['anyio/asyncio']:.2f} | {ratio:+.0%} |"
        )


if __name__ == "__main__":
    main()
