"""PySyncObj under the standard workload: three replicas of a replicated dict on loopback.

    python -m benchmarks.peers.pysyncobj_peer [--journal file|memory] [--clients ...] [--json]

Server: ``pysyncobj`` from PyPI (0.3.17 when this was written). Each replica is a
process holding a ``SyncObj`` subclass with one ``@replicated`` method,
``put(key, value)``, on a dict, with PySyncObj's defaults (automatic tick thread,
batched AppendEntries, log compaction every 5,000 entries). PySyncObj has no client
protocol of its own - an application embeds it - so each replica also runs a small
asyncio TCP front end in its main thread: a length-prefixed ``put`` request calls
``put(..., callback=...)`` and the reply is sent when the callback reports the entry
committed and applied. Replies produced together are written together.

**Durability: PySyncObj never fsyncs.** ``--journal file`` (the default) keeps its Raft
log in a memory-mapped journal file (plus ``fullDumpFile`` snapshots), but 0.3.17 never
calls ``msync``/``fsync`` on it before acknowledging (``FileJournal.flush`` exists and
nothing calls it), so an acknowledged write survives a process crash but not a power
loss. ``--journal memory`` keeps the log in RAM only, for reference. Both results are
marked ``"durable": false``; the other systems in the comparison fsync before
acknowledging, which costs them a disk flush per batch that PySyncObj does not pay.

Client: a Python asyncio protocol, one connection per load process, pipelining C
outstanding requests to the leader's front end. Why it is fair: the same workload and
machine, the minimal front end any embedding application needs, writes sent to the
leader (a follower would forward them). Leader changes: the largest Raft term over the
replicas (``getStatus()['raft_term']``) before and after the run.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.peers.loadgen import Put, WorkerSpec, run_async_worker
from benchmarks.peers.procs import ProcessSet, free_ports, wait_until
from benchmarks.peers.runner import REPLICAS, Peer, PeerInfo, ensure_python, main

PYTHON_REQUIREMENTS = {"pysyncobj": "pysyncobj==0.3.17"}

# Front-end frames: u32 length, then kind (u8), request id (u32), body.
#   put request:    key length (u8), key, value      reply: ok (u8)
#   status request: (empty)                          reply: getStatus() as JSON
PUT, STATUS = 1, 2
LENGTH = struct.Struct("<I")
HEADER = struct.Struct("<BI")


def frame(kind: int, request: int, body: bytes) -> bytes:
    """One length-prefixed front-end frame."""
    return LENGTH.pack(HEADER.size + len(body)) + HEADER.pack(kind, request) + body


def split_frames(buffer: bytearray) -> list[bytes]:
    """Remove and return the complete frames at the start of ``buffer``."""
    frames = []
    offset = 0
    while len(buffer) - offset >= LENGTH.size:
        (size,) = LENGTH.unpack_from(buffer, offset)
        end = offset + LENGTH.size + size
        if end > len(buffer):
            break
        frames.append(bytes(buffer[offset + LENGTH.size : end]))
        offset = end
    del buffer[:offset]
    return frames


# --- replica process -------------------------------------------------------------------


def run_replica(spec: dict[str, Any]) -> None:
    """A replica: SyncObj (its own tick thread) plus the asyncio front end."""
    from pysyncobj import SyncObj, SyncObjConf, replicated  # noqa: PLC0415

    class ReplicatedDict(SyncObj):  # type: ignore[misc]
        def __init__(self, address: str, partners: list[str], conf: Any) -> None:
            super().__init__(address, partners, conf)
            self.data: dict[bytes, bytes] = {}

        @replicated  # type: ignore[untyped-decorator, unused-ignore]
        def put(self, key: bytes, value: bytes) -> None:
            self.data[key] = value

    workdir = Path(spec["workdir"])
    options = dict(spec["conf"])
    if spec["journal"] == "file":
        options |= {"journalFile": str(workdir / "journal"), "fullDumpFile": str(workdir / "dump")}
    conf = SyncObjConf(**options)
    replica = ReplicatedDict(spec["address"], spec["partners"], conf)
    asyncio.run(_serve(replica, spec["client_port"]))


async def _serve(replica: Any, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _FrontEnd(replica, loop), "127.0.0.1", port, reuse_address=True
    )
    async with server:
        await server.serve_forever()


class _FrontEnd(asyncio.Protocol):
    def __init__(self, replica: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.replica = replica
        self.loop = loop
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        # Filled by SyncObj's thread, written out by the event loop in one go.
        self.lock = threading.Lock()
        self.replies: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        for request in split_frames(self.buffer):
            kind, request_id = HEADER.unpack_from(request)
            if kind == PUT:
                key_length = request[HEADER.size]
                key = request[HEADER.size + 1 : HEADER.size + 1 + key_length]
                value = request[HEADER.size + 1 + key_length :]
                self.replica.put(key, value, callback=functools.partial(self.done, request_id))
            elif kind == STATUS:
                status = {k: _plain(v) for k, v in self.replica.getStatus().items()}
                self._send([frame(STATUS, request_id, json.dumps(status).encode())])

    def done(self, request_id: int, result: Any, error: Any) -> None:
        # Runs in SyncObj's thread; error 0 is FAIL_REASON.SUCCESS.
        reply = frame(PUT, request_id, b"\x01" if error == 0 else b"\x00")
        with self.lock:
            self.replies.append(reply)
            first = len(self.replies) == 1
        if first:
            self.loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        with self.lock:
            replies, self.replies = self.replies, []
        self._send(replies)

    def _send(self, replies: list[bytes]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(replies))


def _plain(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool | type(None)) else str(value)


# --- orchestrator side -----------------------------------------------------------------


class PySyncObjCluster:
    """Three replica processes on 127.0.0.1; ``journal`` is ``file`` or ``memory``."""

    def __init__(
        self, procs: ProcessSet, workdir: Path, journal: str, conf: dict[str, Any]
    ) -> None:
        ports = free_ports(2 * REPLICAS)
        self.raft_addresses = [f"127.0.0.1:{p}" for p in ports[:REPLICAS]]
        self.client_ports = ports[REPLICAS:]
        self._replicas = []
        for i in range(REPLICAS):
            data = workdir / f"r{i}"
            data.mkdir()
            spec = {
                "address": self.raft_addresses[i],
                "partners": [a for j, a in enumerate(self.raft_addresses) if j != i],
                "client_port": self.client_ports[i],
                "journal": journal,
                "conf": conf,
                "workdir": str(data),
            }
            argv = [sys.executable, "-m", PEER.module, "--replica", json.dumps(spec)]
            self._replicas.append(procs.start(argv, log=workdir / f"r{i}.log"))

    @property
    def replicas(self) -> Sequence[subprocess.Popen[bytes]]:
        return self._replicas

    def status(self, i: int) -> dict[str, Any]:
        with socket.create_connection(("127.0.0.1", self.client_ports[i]), timeout=2) as sock:
            sock.sendall(frame(STATUS, 0, b""))
            buffer = bytearray()
            while not (frames := split_frames(buffer)):
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("front end closed the connection")
                buffer += chunk
        status: dict[str, Any] = json.loads(frames[0][HEADER.size :])
        return status

    def wait_healthy(self, timeout: float) -> None:
        def healthy() -> bool:
            statuses = [self.status(i) for i in range(REPLICAS)]
            leaders = {s["leader"] for s in statuses}
            return (
                len(leaders) == 1 and None not in leaders and all(s["has_quorum"] for s in statuses)
            )

        wait_until(healthy, timeout=timeout, what="waiting for PySyncObj", procs=self._replicas)

    def leader_index(self) -> int:
        return self.raft_addresses.index(self.status(0)["leader"])

    def election_counter(self) -> int:
        return max(int(self.status(i)["raft_term"]) for i in range(REPLICAS))

    def target(self, leader: int, worker: int) -> str:
        return f"127.0.0.1:{self.client_ports[leader]}"


#: A write not acknowledged after this long is failed (and counted as an error), so
#: that a lost reply cannot hang the run.
WRITE_TIMEOUT_S = 10.0


class _Client(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        # request id -> (future, monotonic time it was sent)
        self.pending: dict[int, tuple[asyncio.Future[None], float]] = {}

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        for reply in split_frames(self.buffer):
            _, request_id = HEADER.unpack_from(reply)
            entry = self.pending.pop(request_id, None)
            if entry is None or entry[0].done():
                continue  # already timed out
            if reply[HEADER.size] == 1:
                entry[0].set_result(None)
            else:
                entry[0].set_exception(RuntimeError("PySyncObj refused the write"))

    def expire(self, now: float) -> None:
        """Fail the writes sent more than :data:`WRITE_TIMEOUT_S` ago."""
        for request_id, (future, sent) in list(self.pending.items()):
            if now - sent > WRITE_TIMEOUT_S:
                del self.pending[request_id]
                if not future.done():
                    future.set_exception(TimeoutError(f"no reply in {WRITE_TIMEOUT_S:g} s"))

    def connection_lost(self, exc: Exception | None) -> None:
        for future, _ in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionError("front end closed the connection"))
        self.pending.clear()


async def connect(spec: WorkerSpec) -> tuple[Put, Callable[[], Awaitable[None]]]:
    loop = asyncio.get_running_loop()
    host, port = spec.target.rsplit(":", 1)
    transport, client = await loop.create_connection(_Client, host, int(port))
    counter = iter(range(1, 2**32))

    async def sweep() -> None:
        # One timer for all writes rather than one per write.
        while True:
            await asyncio.sleep(1.0)
            client.expire(time.monotonic())

    sweeper = asyncio.create_task(sweep())

    async def put(key: bytes, value: bytes) -> None:
        if transport.is_closing():
            raise ConnectionError("front end connection closed")
        request_id = next(counter)
        future = loop.create_future()
        client.pending[request_id] = (future, time.monotonic())
        transport.write(frame(PUT, request_id, bytes([len(key)]) + key + value))
        await future

    async def close() -> None:
        sweeper.cancel()
        transport.close()

    return put, close


def worker(spec: WorkerSpec) -> None:
    run_async_worker(spec, connect)


def install(args: argparse.Namespace) -> None:
    ensure_python(PYTHON_REQUIREMENTS)


def info(args: argparse.Namespace) -> PeerInfo:
    from importlib.metadata import version  # noqa: PLC0415

    journal = (
        "journal file (mmap, never fsynced), fullDumpFile snapshots"
        if args.journal == "file"
        else "in-memory log"
    )
    conf = syncobj_conf(args)
    tuning = (
        "SyncObjConf(" + ", ".join(f"{k}={v!r}" for k, v in conf.items()) + ")"
        if conf
        else "PySyncObj defaults otherwise"
    )
    return PeerInfo(
        system=f"pysyncobj-{'journal' if args.journal == 'file' else 'memory'}"
        + ("-tuned" if conf else ""),
        version=version("pysyncobj"),
        client="asyncio pipelined TCP to a minimal front end in each replica",
        durable=False,
        notes=f"{journal}; {tuning}; no fsync before acknowledging",
    )


def syncobj_conf(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--conf KEY=VALUE`` options as SyncObjConf keyword arguments (JSON values)."""
    options = {}
    for item in args.conf:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--conf wants KEY=VALUE, got {item!r}")
        options[key] = json.loads(value)
    return options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--journal",
        choices=["file", "memory"],
        default="file",
        help="PySyncObj's log: its journal file (default) or RAM only",
    )
    parser.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a SyncObjConf option, VALUE in JSON (e.g. appendEntriesUseBatch=false); "
        "the system is then reported as ...-tuned",
    )


PEER = Peer(
    module="benchmarks.peers.pysyncobj_peer",
    info=info,
    install=install,
    start=lambda procs, workdir, args: PySyncObjCluster(
        procs, workdir, args.journal, syncobj_conf(args)
    ),
    worker=worker,
    default_procs=lambda clients: 1,
    add_arguments=add_arguments,
)

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--replica":
        run_replica(json.loads(sys.argv[2]))
    else:
        raise SystemExit(main(PEER, __doc__))
