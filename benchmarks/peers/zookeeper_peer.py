"""ZooKeeper under the standard workload: a 3-server ensemble on loopback, ``forceSync=yes``.

    python -m benchmarks.peers.zookeeper_peer [--clients 1 16 64 256] [--duration 15] [--json]

Server: Debian's ``zookeeper`` (3.8.x), installed with apt-get when missing, started
directly as ``java ... QuorumPeerMain zoo.cfg`` (JVM heap capped at 1000 MB, the
default of upstream's zkEnv.sh - Debian's scripts set none, and the JVM would take up
to a quarter of RAM; SLF4J's simple logger at WARN). ``forceSync=yes`` (also the
default) makes every server fsync its transaction log before it acknowledges a
proposal, so an acknowledged write is on disk on a majority. The four-letter words
``srvr``, ``mntr`` and ``ruok`` are enabled for health and leader checks; the AdminServer
(Jetty) is off.

Client: ``kazoo`` (pure Python, its threading handler), ``set_async`` on existing znodes
``/bench/kNNNNN`` (the 10,000 keys are created before the warm-up), each completion
issuing the next write, so exactly C writes are outstanding. kazoo spends more Python
per write than the other clients, so the load is spread over several processes (one
ZooKeeper session each) as soon as C > 1; every process reports its CPU use and is
flagged "saturated" above 85% of a core.

Why it is fair: same workload, same machine, same durability (fsync before ack on a
majority), writes sent to the leader directly (a follower would forward them to the
leader, one more hop). ``set`` of an existing znode is ZooKeeper's plain overwrite,
the equivalent of a put. Leader changes: the ZAB epoch (upper 32 bits of the zxid
that ``srvr`` reports) before and after the run; every new leader starts a new epoch.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.peers.loadgen import Recorder, WorkerSpec, announce_ready, make_keys, make_value
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

ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"
LOGGER_JAR = "/usr/share/java/slf4j-simple.jar"
HEAP = "-Xmx1000m"
PYTHON_REQUIREMENTS = {"kazoo": "kazoo>=2.9"}


def four_letter_word(port: int, word: str) -> str:
    """Send a four-letter word to the server on ``port`` and return its whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(word.encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def parse_srvr(text: str) -> dict[str, str]:
    """``srvr``'s ``Name: value`` lines as a dict."""
    fields = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


class ZooKeeperCluster:
    """Three ZooKeeper servers on 127.0.0.1, data in ``workdir``."""

    def __init__(self, procs: ProcessSet, workdir: Path) -> None:
        ports = free_ports(3 * REPLICAS)
        self.client_ports = ports[:REPLICAS]
        servers = "\n".join(
            f"server.{i + 1}=127.0.0.1:{ports[REPLICAS + i]}:{ports[2 * REPLICAS + i]}"
            for i in range(REPLICAS)
        )
        self._replicas = []
        for i in range(REPLICAS):
            data = workdir / f"zk{i + 1}"
            data.mkdir()
            (data / "myid").write_text(f"{i + 1}\n")
            config = workdir / f"zk{i + 1}.cfg"
            config.write_text(
                "tickTime=2000\ninitLimit=10\nsyncLimit=5\n"
                f"dataDir={data}\nclientPort={self.client_ports[i]}\n"
                "clientPortAddress=127.0.0.1\n"
                "forceSync=yes\n"
                "4lw.commands.whitelist=srvr,mntr,ruok\n"
                "admin.enableServer=false\n"
                f"{servers}\n"
            )
            argv = [
                "java",
                HEAP,
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-cp",
                f"{ZOOKEEPER_JAR}:{LOGGER_JAR}",
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                str(config),
            ]
            self._replicas.append(procs.start(argv, log=workdir / f"zk{i + 1}.log"))

    @property
    def replicas(self) -> Sequence[subprocess.Popen[bytes]]:
        return self._replicas

    def srvr(self, i: int) -> dict[str, str]:
        return parse_srvr(four_letter_word(self.client_ports[i], "srvr"))

    def wait_healthy(self, timeout: float) -> None:
        def healthy() -> bool:
            modes = [self.srvr(i).get("Mode", "") for i in range(REPLICAS)]
            return sorted(modes) == ["follower", "follower", "leader"]

        wait_until(healthy, timeout=timeout, what="waiting for ZooKeeper", procs=self._replicas)

    def leader_index(self) -> int:
        modes = [self.srvr(i).get("Mode") for i in range(REPLICAS)]
        return modes.index("leader")

    def election_counter(self) -> int:
        return max(int(self.srvr(i)["Zxid"], 16) >> 32 for i in range(REPLICAS))

    def target(self, leader: int, worker: int) -> str:
        return f"127.0.0.1:{self.client_ports[leader]}"


def worker(spec: WorkerSpec) -> None:
    """A kazoo session keeping ``spec.clients`` writes outstanding."""
    from kazoo.client import KazooClient  # noqa: PLC0415 (only the load processes need it)
    from kazoo.exceptions import NodeExistsError  # noqa: PLC0415

    client = KazooClient(hosts=spec.target, timeout=15)
    client.start(timeout=30)
    paths = ["/bench/" + key.decode() for key in make_keys(spec.keys)]
    value = make_value(spec.payload, spec.seed)
    client.ensure_path("/bench")
    # Each process creates its share of the key space before the handshake.
    creations = [client.create_async(p, value) for p in paths[spec.index :: spec.processes]]
    for creation in creations:
        with contextlib.suppress(NodeExistsError):
            creation.get(timeout=120)
    t0 = announce_ready()
    recorder = Recorder(t0, spec.warmup, spec.duration)
    rng = random.Random(spec.seed)
    outstanding = [0]
    lock = threading.Lock()
    drained = threading.Event()

    def issue() -> None:
        if time.monotonic() >= recorder.window_end:
            with lock:
                outstanding[0] -= 1
                if outstanding[0] == 0:
                    drained.set()
            return
        began = time.monotonic()
        result = client.set_async(paths[rng.randrange(len(paths))], value)
        result.rawlink(lambda done: completed(done, began))

    def completed(done: Any, began: float) -> None:
        now = time.monotonic()
        if done.successful():
            recorder.record(began, now)
        else:
            recorder.failed(now, done.exception)
        issue()

    time.sleep(max(t0 - time.monotonic(), 0))
    outstanding[0] = spec.clients
    for _ in range(spec.clients):
        issue()
    for edge in (recorder.window_start, recorder.window_end):
        time.sleep(max(edge - time.monotonic(), 0))
        recorder.mark_window(time.monotonic())
    if not drained.wait(timeout=30):
        # Writes never acknowledged: count them as failures rather than hang.
        for _ in range(outstanding[0]):
            recorder.failed(time.monotonic(), TimeoutError("no reply 30 s after the window"))
    client.stop()
    client.close()
    recorder.save(spec.out)


def install(args: argparse.Namespace) -> None:
    ensure_debian(ZOOKEEPER_JAR, ["zookeeper"])
    ensure_python(PYTHON_REQUIREMENTS)


def info(args: argparse.Namespace) -> PeerInfo:
    from importlib.metadata import version as python_version  # noqa: PLC0415

    debian = debian_version("zookeeper")
    return PeerInfo(
        system="zookeeper",
        version=f"{debian.split('-')[0]} (Debian {debian})",
        client=f"kazoo {python_version('kazoo')} set_async (threading handler)",
        durable=True,
        notes="forceSync=yes: transaction log fsync before acknowledging",
    )


PEER = Peer(
    module="benchmarks.peers.zookeeper_peer",
    info=info,
    install=install,
    start=lambda procs, workdir, args: ZooKeeperCluster(procs, workdir),
    worker=worker,
    default_procs=lambda clients: min(clients, 4),
)

if __name__ == "__main__":
    raise SystemExit(main(PEER, __doc__))
