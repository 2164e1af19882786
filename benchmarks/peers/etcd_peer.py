"""etcd under the standard workload: three members on loopback, WAL fsync on (etcd's default).

    python -m benchmarks.peers.etcd_peer [--clients 1 16 64 256] [--duration 15] [--json]

Server: Debian's ``etcd-server`` (3.4.x), installed with apt-get when ``etcd`` is missing.
Each member fsyncs its write-ahead log before it acknowledges an append (etcd has no
switch to skip it in this setup; ``--unsafe-no-fsync`` is not passed), so every
acknowledged write is on disk on a majority.

Client (``--client grpc``, the default): etcd's native protocol, gRPC ``KV/Put``, from
Python with ``grpcio``'s asyncio API over one HTTP/2 channel per load process. The
``PutRequest`` is encoded by hand (two length-delimited fields, key and value) and the
response is not decoded, so the client costs as little Python as a gRPC call can.
``--client http`` uses the JSON gateway (``POST /v3/kv/put``) with ``aiohttp`` instead;
the gateway costs etcd extra CPU (JSON to protobuf and a loopback gRPC call inside the
server: about 2.5 times the CPU per write at C=64 here), so it is the less favourable
option for etcd and is kept for cross-checks.

Why it is fair: like every system in the comparison, the load is Python asyncio code in
separate processes keeping exactly C writes outstanding against the leader, 100-byte
values, keys drawn uniformly from 10,000; writes go to the leader directly (a
follower would forward them, one more hop). Each load process reports its CPU
use; a process above 85% of a core is flagged "saturated" in the result. Leader
changes: the largest Raft term over the members (``/v3/maintenance/status``) before
and after the run; every election raises it.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.peers.loadgen import Put, WorkerSpec, run_async_worker
from benchmarks.peers.procs import ProcessSet, free_ports, wait_until
from benchmarks.peers.runner import (
    REPLICAS,
    Peer,
    PeerInfo,
    debian_version,
    ensure_debian,
    ensure_python,
    main,
)

PYTHON_REQUIREMENTS = {"grpc": "grpcio>=1.60", "aiohttp": "aiohttp>=3.9"}


class EtcdCluster:
    """Three etcd members on 127.0.0.1, data in ``workdir``."""

    def __init__(self, procs: ProcessSet, workdir: Path) -> None:
        ports = free_ports(2 * REPLICAS)
        self.client_ports = ports[:REPLICAS]
        peer_ports = ports[REPLICAS:]
        token = f"bench-{workdir.name}"
        initial = ",".join(f"m{i}=http://127.0.0.1:{peer_ports[i]}" for i in range(REPLICAS))
        self._replicas = []
        for i in range(REPLICAS):
            client_url = f"http://127.0.0.1:{self.client_ports[i]}"
            peer_url = f"http://127.0.0.1:{peer_ports[i]}"
            argv = [
                "etcd",
                f"--name=m{i}",
                f"--data-dir={workdir / f'm{i}'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster={initial}",
                "--initial-cluster-state=new",
                f"--initial-cluster-token={token}",
                "--logger=zap",
                "--log-level=warn",
            ]
            self._replicas.append(procs.start(argv, log=workdir / f"m{i}.log"))

    @property
    def replicas(self) -> Sequence[subprocess.Popen[bytes]]:
        return self._replicas

    def status(self, i: int) -> dict[str, Any]:
        """``/v3/maintenance/status`` of member ``i`` (through its JSON gateway)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.client_ports[i]}/v3/maintenance/status",
            data=b"{}",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=2) as response:
            status: dict[str, Any] = json.load(response)
        return status

    def wait_healthy(self, timeout: float) -> None:
        def healthy() -> bool:
            statuses = [self.status(i) for i in range(REPLICAS)]
            leaders = {s.get("leader", "0") for s in statuses}
            return len(leaders) == 1 and "0" not in leaders

        wait_until(healthy, timeout=timeout, what="waiting for etcd", procs=self._replicas)

    def leader_index(self) -> int:
        statuses = [self.status(i) for i in range(REPLICAS)]
        leader = statuses[0]["leader"]
        for i, status in enumerate(statuses):
            if status["header"]["member_id"] == leader:
                return i
        raise RuntimeError(f"leader {leader} is not a member")

    def election_counter(self) -> int:
        return max(int(self.status(i)["raftTerm"]) for i in range(REPLICAS))

    def target(self, leader: int, worker: int) -> str:
        return f"127.0.0.1:{self.client_ports[leader]}"


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def put_request(key: bytes, value: bytes) -> bytes:
    """A protobuf ``etcdserverpb.PutRequest`` with fields 1 (key) and 2 (value)."""
    return b"\x0a" + _varint(len(key)) + key + b"\x12" + _varint(len(value)) + value


async def connect_grpc(spec: WorkerSpec) -> tuple[Put, Callable[[], Awaitable[None]]]:
    import grpc  # noqa: PLC0415 (only the load processes need it)

    channel = grpc.aio.insecure_channel(spec.target)
    await channel.channel_ready()
    # No serializers: the request is protobuf bytes built by put_request.
    call = channel.unary_unary("/etcdserverpb.KV/Put")

    async def put(key: bytes, value: bytes) -> None:
        await call(put_request(key, value), timeout=10)

    return put, channel.close


async def connect_http(spec: WorkerSpec) -> tuple[Put, Callable[[], Awaitable[None]]]:
    import aiohttp  # noqa: PLC0415 (only the load processes need it)

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=spec.clients),
        timeout=aiohttp.ClientTimeout(total=10),
    )
    url = f"http://{spec.target}/v3/kv/put"
    encoded: dict[bytes, bytes] = {}
    headers = {"Content-Type": "application/json"}

    def body(key: bytes, value: bytes) -> bytes:
        # The gateway takes bytes fields as base64; keys repeat, so encode each once.
        if (text := encoded.get(key)) is None:
            text = encoded[key] = base64.b64encode(key)
        return b'{"key":"%s","value":"%s"}' % (text, base64.b64encode(value))

    async def put(key: bytes, value: bytes) -> None:
        async with session.post(url, data=body(key, value), headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {await response.text()}")
            await response.read()

    return put, session.close


def worker(spec: WorkerSpec) -> None:
    run_async_worker(spec, connect_http if spec.extra["client"] == "http" else connect_grpc)


def install(args: argparse.Namespace) -> None:
    ensure_debian("etcd", ["etcd-server", "etcd-client"])
    ensure_python(PYTHON_REQUIREMENTS)


def info(args: argparse.Namespace) -> PeerInfo:
    version = subprocess.run(["etcd", "--version"], capture_output=True, text=True, check=True)
    first = version.stdout.splitlines()[0].split()[-1]
    client = (
        "aiohttp on the v3 JSON gateway (POST /v3/kv/put)"
        if args.client == "http"
        else "grpcio asyncio, KV/Put with hand-encoded protobuf"
    )
    return PeerInfo(
        system="etcd",
        version=f"{first} (Debian {debian_version('etcd-server')})",
        client=client,
        durable=True,
        notes="WAL fsync before acknowledging (etcd default)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--client", choices=["grpc", "http"], default="grpc")


PEER = Peer(
    module="benchmarks.peers.etcd_peer",
    info=info,
    install=install,
    start=lambda procs, workdir, args: EtcdCluster(procs, workdir),
    worker=worker,
    default_procs=lambda clients: 1 if clients < 16 else 2,
    extra=lambda args: {"client": args.client},
    add_arguments=add_arguments,
)

if __name__ == "__main__":
    raise SystemExit(main(PEER, __doc__))
