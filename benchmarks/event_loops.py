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
AnyIO's API on the trio backend), ``anyio/asyncio`` (AnyIO on asyncio). Each
operation is written once against a ``Loop`` (trio's API or AnyIO's); the
calls a timed loop makes are looked up before it starts, so both variants pay
only for their own API.
"""

from __future__ import annotations

import argparse
import functools
import json
import queue
import statistics
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import attrs
import trio

FRAME = b"x" * 100
Handler = Callable[[Any], Awaitable[None]]


@attrs.frozen
class Loop:
    """One API's way to do what the operations need. Each operation below is
    written once against it; ``TRIO`` calls trio directly and ``ANYIO`` goes
    through AnyIO (on whichever backend ``anyio.run`` chose). Stream methods are
    looked up once per run, outside the timed loops."""

    task_group: Callable[[], AbstractAsyncContextManager[Any]]
    event: Callable[[], Any]
    checkpoint: Callable[[], Awaitable[None]]
    memory_channel: Callable[[int], tuple[Any, Any]]
    to_thread: Callable[[Callable[[], None]], Awaitable[None]]
    serve: Callable[[Handler], AbstractAsyncContextManager[int]]
    """Serve loopback TCP with ``handler`` for the block; yields the port."""
    connect: Callable[[int], Awaitable[Any]]
    sender: Callable[[Any], Callable[[bytes], Awaitable[None]]]
    receiver: Callable[[Any], Callable[[int], Awaitable[bytes]]]
    closed: tuple[type[BaseException], ...]
    """What receiving raises once the other end is gone (besides b"")."""
    waker: Callable[[], Callable[[Any], None]]
    """In the loop: a function that, from any thread, sets an event of it."""


@asynccontextmanager
async def _trio_serve(handler: Handler) -> AsyncIterator[int]:
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
        )
        yield listeners[0].socket.getsockname()[1]
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def _anyio_serve(handler: Handler) -> AsyncIterator[int]:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, handler)
        yield listener.extra(anyio.abc.SocketAttribute.local_port)
        group.cancel_scope.cancel()
    await listener.aclose()


def _trio_waker() -> Callable[[Any], None]:
    token = trio.lowlevel.current_trio_token()
    return lambda event: token.run_sync_soon(event.set)


def _anyio_waker() -> Callable[[Any], None]:
    token = anyio.lowlevel.current_token()
    return lambda event: anyio.from_thread.run_sync(event.set, token=token)


SIDE_BY_SIDE: dict[str, tuple[Any, Any]] = {
    # each of Loop's fields: (trio's way, AnyIO's way)
    "task_group": (trio.open_nursery, anyio.create_task_group),
    "event": (trio.Event, anyio.Event),
    "checkpoint": (trio.lowlevel.checkpoint, anyio.lowlevel.checkpoint),
    "memory_channel": (trio.open_memory_channel[bytes], anyio.create_memory_object_stream[bytes]),
    "to_thread": (trio.to_thread.run_sync, anyio.to_thread.run_sync),
    "serve": (_trio_serve, _anyio_serve),
    "connect": (
        functools.partial(trio.open_tcp_stream, "127.0.0.1"),
        functools.partial(anyio.connect_tcp, "127.0.0.1"),
    ),
    "sender": (lambda stream: stream.send_all, lambda stream: stream.send),
    "receiver": (lambda stream: stream.receive_some, lambda stream: stream.receive),
    "closed": ((trio.BrokenResourceError,), (anyio.EndOfStream, anyio.BrokenResourceError)),
    "waker": (_trio_waker, _anyio_waker),
}
TRIO = Loop(**{need: ways[0] for need, ways in SIDE_BY_SIDE.items()})
ANYIO = Loop(**{need: ways[1] for need, ways in SIDE_BY_SIDE.items()})


# --- the operations, each written once -------------------------------------


async def round_trip(loop: Loop, count: int) -> float:
    async def echo(stream: Any) -> None:
        receive, send = loop.receiver(stream), loop.sender(stream)
        with suppress(*loop.closed):
            while data := await receive(65536):
                await send(data)

    async with loop.serve(echo) as port:
        stream = await loop.connect(port)
        send, receive = loop.sender(stream), loop.receiver(stream)
        began = time.perf_counter()
        for _ in range(count):
            await send(FRAME)
            await receive(65536)
        elapsed = time.perf_counter() - began
        await stream.aclose()
    return elapsed


async def send_burst(loop: Loop, count: int) -> float:
    total = count * len(FRAME)
    done = loop.event()

    async def drain(stream: Any) -> None:
        receive = loop.receiver(stream)
        got = 0
        while got < total:
            got += len(await receive(1 << 18))
        done.set()

    async with loop.serve(drain) as port:
        stream = await loop.connect(port)
        send = loop.sender(stream)
        began = time.perf_counter()
        for _ in range(count):
            await send(FRAME)
        await done.wait()
        elapsed = time.perf_counter() - began
        await stream.aclose()
    return elapsed


async def memory_stream(loop: Loop, count: int) -> float:
    send, receive = loop.memory_channel(1000)

    async def consume() -> None:
        for _ in range(count):
            await receive.receive()

    began = time.perf_counter()
    async with loop.task_group() as group:
        group.start_soon(consume)
        for _ in range(count):
            await send.send(FRAME)
    return time.perf_counter() - began


async def event_wake(loop: Loop, count: int) -> float:
    began = time.perf_counter()
    for _ in range(count):
        event = loop.event()
        async with loop.task_group() as group:
            group.start_soon(event.wait)
            await loop.checkpoint()
            event.set()
    return time.perf_counter() - began


async def to_thread(loop: Loop, count: int) -> float:
    began = time.perf_counter()
    for _ in range(count):
        await loop.to_thread(_nothing)
    return time.perf_counter() - began


async def writer_hand_off(loop: Loop, count: int) -> float:
    jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
    thread = threading.Thread(target=_serve_jobs, args=(jobs,), daemon=True)
    thread.start()
    wake = loop.waker()
    began = time.perf_counter()
    for _ in range(count):
        event = loop.event()
        jobs.put(functools.partial(wake, event))
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


OPERATIONS: dict[str, tuple[int, Callable[[Loop, int], Awaitable[float]]]] = {
    "tcp round trip": (5_000, round_trip),
    "tcp send": (20_000, send_burst),
    "memory stream": (50_000, memory_stream),
    "event wake": (20_000, event_wake),
    "to_thread": (3_000, to_thread),
    "writer hand-off": (5_000, writer_hand_off),
}
VARIANTS = ("trio", "anyio/trio", "anyio/asyncio")


def measure(name: str, variant: str) -> float:
    """Microseconds per operation, one run."""
    count, operation = OPERATIONS[name]
    if variant == "trio":
        seconds = trio.run(operation, TRIO, count)
    else:
        backend = variant.split("/")[1]
        seconds = anyio.run(operation, ANYIO, count, backend=backend)
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
