"""A cluster of node processes on loopback, for demos, tests and benchmarks.

::

    async with open_local_cluster(tmp_path, size=3, protocol="raft") as cluster:
        async with cluster.client() as client:
            leader = await cluster.wait_for_leader(client)
            cluster.kill(leader)                 # SIGKILL
            await cluster.start(leader)          # restarts from its LMDB directory

Each node is a ``python -m pyconsensus node`` process with its own LMDB
directory under ``root``, listening on a free loopback port chosen at run
time. Every process is stopped when the block exits - also on errors and
cancellation - and each watches its standard input, so it exits by itself if
this process dies.

Every wait here polls a condition against a deadline, and the deadlines are
generous (a minute): on a loaded machine things take longer, and a wait that
succeeds returns as soon as its condition holds, so only a failure costs the
whole bound.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from pyconsensus.adapters.trio.client import Client, open_client
from pyconsensus.adapters.trio.config import Address
from pyconsensus.adapters.trio.identity import Role
from pyconsensus.adapters.trio.tls import TlsConfig
from pyconsensus.service.messages import StatusReply

STATUS_TIMEOUT = 2.0
"""Seconds a node may take to answer a status request before it counts as
silent (a busy node on a loaded machine can take a while)."""
WAIT_TIMEOUT = 60.0
"""The default bound of the ``wait_*`` methods."""


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def cluster_toml(
    cluster_id: str,
    members: Mapping[int, Address],
    settings: Mapping[str, Any],
    protocol_options: Mapping[str, Any],
    transport: Mapping[str, Any] | None = None,
    *,
    tls: Mapping[str, Any] | None = None,
    observe: Mapping[str, Any] | None = None,
) -> str:
    """The text of a cluster file (``observe``: the ``[observe]`` table, whose
    ``metrics`` may be a mapping of node id to address)."""
    lines = [f"cluster_id = {_toml_value(cluster_id)}"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in settings.items()]
    lines += ["", "[members]"]
    lines += [f'{node} = "{address}"' for node, address in sorted(members.items())]
    if protocol_options:
        lines += ["", "[protocol_options]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in protocol_options.items()]
    if transport:
        lines += ["", "[transport]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in transport.items()]
    if tls:
        lines += ["", "[tls]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in tls.items()]
    if observe:
        lines += ["", "[observe]"]
        for key, value in observe.items():
            if isinstance(value, Mapping):
                pairs = ", ".join(f"{k} = {_toml_value(str(v))}" for k, v in sorted(value.items()))
                lines.append(f"{key} = {{ {pairs} }}")
            else:
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


@attrs.define
class LocalCluster:
    """Node processes of one cluster on this machine (see the module docstring)."""

    root: Path
    members: dict[int, Address]
    cluster_id: str
    protocol: str
    config_path: Path
    log_level: str = "warning"
    python: str = sys.executable
    metrics: dict[int, Address] = attrs.field(factory=dict)
    """Each node's /metrics and /health endpoint (``open_local_cluster(metrics=True)``)."""
    processes: dict[int, trio.Process] = attrs.field(factory=dict)
    starts: dict[int, int] = attrs.field(factory=dict)
    admin_tls: TlsConfig | None = None
    """The admin client's certificate when the cluster runs TLS (``tls=True``)."""

    def log_path(self, node_id: int) -> Path:
        """Where the node's output goes (appended across restarts)."""
        return self.root / f"node-{node_id}.log"

    def command(self, node_id: int) -> list[str]:
        return [
            self.python,
            "-m",
            "pyconsensus",
            "node",
            "--config",
            str(self.config_path),
            "--id",
            str(node_id),
            "--log-level",
            self.log_level,
            "--fault-signals",
            "--exit-with-parent",
        ]

    async def start(self, node_id: int, *, extra: Sequence[str] = ()) -> None:
        """Start (or restart) node ``node_id``'s process; returns once it runs
        (not necessarily listening yet - see ``wait_until_serving``).
        ``extra``: more ``pyconsensus node`` arguments (``--join``...)."""
        old = self.processes.get(node_id)
        if old is not None and old.returncode is None:
            raise RuntimeError(f"node {node_id} is already running (pid {old.pid})")
        with self.log_path(node_id).open("ab") as log:
            process = await trio.lowlevel.open_process(
                [*self.command(node_id), *extra],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes[node_id] = process
        self.starts[node_id] = self.starts.get(node_id, 0) + 1

    async def start_all(self) -> None:
        for node_id in sorted(self.members):
            await self.start(node_id)

    def running(self) -> list[int]:
        """Nodes whose process is alive."""
        return [n for n, p in sorted(self.processes.items()) if p.returncode is None]

    def signal(self, node_id: int, signum: int) -> None:
        process = self.processes[node_id]
        if process.returncode is None:
            process.send_signal(signum)

    def kill(self, node_id: int) -> None:
        """SIGKILL the node: no cleanup, no flush - a crash."""
        self.signal(node_id, signal.SIGKILL)

    def isolate(self, node_id: int, isolated: bool = True) -> None:
        """Cut the node off from its peers (SIGUSR1) or let it rejoin (SIGUSR2).

        Only for a node that serves (``wait_until_serving``): a process still
        starting up has no handler for these signals yet and would die of one."""
        self.signal(node_id, signal.SIGUSR1 if isolated else signal.SIGUSR2)

    async def wait_exit(self, node_id: int, timeout: float = 10.0) -> int:
        process = self.processes[node_id]
        with trio.fail_after(timeout):
            return await process.wait()

    async def stop(self, node_id: int, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if the node has not exited within ``timeout``."""
        process = self.processes.get(node_id)
        if process is None or process.returncode is not None:
            return
        process.terminate()
        with trio.move_on_after(timeout):
            await process.wait()
            return
        process.kill()
        await process.wait()

    async def stop_all(self, timeout: float = 5.0) -> None:
        async with trio.open_nursery() as nursery:
            for node_id in list(self.processes):
                nursery.start_soon(self.stop, node_id, timeout)

    def client_tls(self, name: str, role: Role) -> TlsConfig:
        """A new client certificate (``name``, ``role``) from the cluster's CA."""
        if self.admin_tls is None:
            raise RuntimeError("this cluster runs without TLS")
        from pyconsensus.adapters.trio import certs  # noqa: PLC0415 - tooling, only with TLS on

        directory = self.admin_tls.ca.parent
        issued = certs.issue(directory, client=name, role=role)
        return TlsConfig(self.admin_tls.ca, issued.cert, issued.key)

    def client(self, **kwargs: Any) -> AbstractAsyncContextManager[Client]:
        """A network client of this cluster (``open_client`` arguments welcome;
        with TLS on, it is the admin client unless ``tls`` says otherwise)."""
        if self.admin_tls is not None:
            kwargs.setdefault("tls", self.admin_tls)
        return open_client(self.members, self.cluster_id, **kwargs)

    async def statuses(
        self, client: Client, nodes: Iterable[int] | None = None, *, detail: int = 0
    ) -> dict[int, StatusReply | None]:
        """Every node's status (``None`` where it did not answer within
        ``STATUS_TIMEOUT`` seconds)."""
        found: dict[int, StatusReply | None] = {}

        async def ask(node_id: int) -> None:
            found[node_id] = None
            with trio.move_on_after(STATUS_TIMEOUT if detail < 2 else 5 * STATUS_TIMEOUT):
                try:
                    found[node_id] = await client.status(node_id, detail=detail)
                except Exception:  # any failure means no answer
                    found[node_id] = None

        async with trio.open_nursery() as nursery:
            for node_id in nodes if nodes is not None else sorted(self.members):
                nursery.start_soon(ask, node_id)
        return found

    async def wait_for_leader(
        self,
        client: Client,
        *,
        timeout: float = WAIT_TIMEOUT,
        exclude: Iterable[int] = (),
        after_term: int = -1,
    ) -> StatusReply:
        """Poll until a node other than ``exclude`` leads in a term above
        ``after_term`` and a majority of nodes agree on it; its status."""
        excluded = set(exclude)
        with trio.fail_after(timeout):
            while True:
                statuses = await self.statuses(client)
                for status in statuses.values():
                    if (
                        status is not None
                        and status.role == "leader"
                        and status.node_id not in excluded
                        and status.term > after_term
                    ):
                        agree = sum(
                            1
                            for other in statuses.values()
                            if other is not None and other.leader == status.node_id
                        )
                        if agree > len(self.members) // 2:
                            return status
                await trio.sleep(0.02)

    async def wait_until_serving(self, client: Client, timeout: float = WAIT_TIMEOUT) -> None:
        """Poll until every running node answers a status request."""
        with trio.fail_after(timeout):
            while True:
                running = self.running()
                statuses = await self.statuses(client, running)
                if all(statuses.get(n) is not None for n in running):
                    return
                await trio.sleep(0.05)

    async def wait_caught_up(self, client: Client, timeout: float = WAIT_TIMEOUT) -> int:
        """Poll until every node has applied the same index as the leader's
        commit index; returns that index. On time-out, ``trio.TooSlowError``
        says what each node reported last."""
        statuses: dict[int, StatusReply | None] = {}
        try:
            with trio.fail_after(timeout):
                while True:
                    statuses = await self.statuses(client)
                    known = [s for s in statuses.values() if s is not None]
                    if len(known) == len(self.members):
                        leaders = [s for s in known if s.role == "leader"]
                        target = max(s.commit_index for s in known)
                        if leaders and all(s.applied_index == target for s in known):
                            return target
                    await trio.sleep(0.05)
        except trio.TooSlowError:
            raise trio.TooSlowError(
                f"not caught up within {timeout:g} s; last seen: {describe_statuses(statuses)}"
            ) from None


def describe_statuses(statuses: Mapping[int, StatusReply | None]) -> str:
    """One line per poll result, for failure messages."""
    return "; ".join(
        f"node {n}: no answer"
        if s is None
        else f"node {n}: {s.role} term {s.term} leader {s.leader} commit {s.commit_index} "
        f"applied {s.applied_index} last {s.last_index}"
        for n, s in sorted(statuses.items())
    )


def tls_files(
    directory: Path, cluster_id: str, members: Iterable[int]
) -> tuple[dict[str, str], TlsConfig]:
    """A development CA in ``directory`` with a certificate per member and one
    for an ``admin`` client: the cluster file's ``[tls]`` table and the
    client's ``TlsConfig`` (needs the ``cryptography`` package)."""
    from pyconsensus.adapters.trio import certs  # noqa: PLC0415 - tooling, only with TLS on

    ca = certs.init_ca(directory, cluster_id, force=True)
    for member in members:
        certs.issue(directory, member=member)
    admin = certs.issue(directory, client="admin", role=Role.ADMIN)
    table = {
        "ca": str(ca.cert),
        "cert": str(directory / "node-{id}.pem"),
        "key": str(directory / "node-{id}.key"),
    }
    return table, TlsConfig(ca.cert, admin.cert, admin.key)


@asynccontextmanager
async def open_local_cluster(
    root: Path,
    *,
    size: int = 3,
    protocol: str = "raft",
    cluster_id: str = "local",
    settings: Mapping[str, Any] | None = None,
    protocol_options: Mapping[str, Any] | None = None,
    transport: Mapping[str, Any] | None = None,
    log_level: str = "warning",
    start: bool = True,
    tls: bool = False,
    observe: Mapping[str, Any] | None = None,
    metrics: bool = False,
) -> AsyncIterator[LocalCluster]:
    """Write a cluster file under ``root`` (created), start ``size`` nodes
    (unless ``start`` is False), and stop every process on exit.

    ``settings`` adds top-level keys of the cluster file (``tick_ms``,
    ``state_machine``, ``sync``...); ``data_dir`` defaults to ``root/data``.
    With ``tls``, a development CA and certificates go to ``root/certs``
    (``tls_files``), every connection uses mutual TLS, and ``client()`` is
    the ``admin`` client.
    ``observe`` is the ``[observe]`` table; ``metrics`` gives every node a
    /metrics and /health endpoint on a free loopback port (``cluster.metrics``).
    """
    root.mkdir(parents=True, exist_ok=True)
    ports = free_ports(2 * size if metrics else size)
    members = {i + 1: Address("127.0.0.1", port) for i, port in enumerate(ports[:size])}
    endpoints = {i + 1: Address("127.0.0.1", port) for i, port in enumerate(ports[size:])}
    observe = dict(observe or {})
    if metrics:
        observe["metrics"] = {node: str(address) for node, address in endpoints.items()}
    document: dict[str, Any] = {"protocol": protocol, "data_dir": str(root / "data")}
    document.update(settings or {})
    config_path = root / "cluster.toml"
    table, admin_tls = tls_files(root / "certs", cluster_id, members) if tls else ({}, None)
    config_path.write_text(
        cluster_toml(
            cluster_id,
            members,
            document,
            protocol_options or {},
            transport,
            tls=table,
            observe=observe,
        )
    )
    cluster = LocalCluster(
        root=root,
        members=members,
        cluster_id=cluster_id,
        protocol=protocol,
        config_path=config_path,
        log_level=log_level,
        admin_tls=admin_tls,
        metrics=endpoints,
    )
    try:
        if start:
            await cluster.start_all()
        yield cluster
    finally:
        with trio.CancelScope(shield=True):
            await cluster.stop_all()
