"""Errors a user can act on: typed errors out of ``open_node``/``open_client``
(never a trio ExceptionGroup around one error), and every startup failure of
``pyconsensus node`` as one line on stderr with exit status 2."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from pyconsensus.adapters.cbor import EncodeError
from pyconsensus.adapters.lmdb import DataDirectoryError, LmdbStorage
from pyconsensus.adapters.trio import (
    Address,
    AddressUnavailable,
    NodeConfig,
    Unavailable,
    open_client,
    open_node,
)
from pyconsensus.adapters.trio.groups import single_error
from pyconsensus.adapters.trio.localcluster import free_ports
from pyconsensus.adapters.trio.startup import PROTOCOL_KEY, claim_storage
from pyconsensus.cli import main
from pyconsensus.core.errors import ConsensusError, StorageError, StorageMismatch
from pyconsensus.core.ready import Write
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.rsm import KVStateMachine
from tests.trio.support import TICK, running_cluster

KVSTORE = Path(__file__).resolve().parents[2] / "examples" / "kvstore"


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def one_node(tmp_path: Path, port: int, protocol: str = "raft", cluster: str = "c") -> NodeConfig:
    return NodeConfig(
        cluster,
        1,
        {1: Address("127.0.0.1", port)},
        protocol=protocol,
        data_dir=tmp_path / "node-1",
        tick_interval=TICK,
    )


def cluster_file(
    tmp_path: Path, port: int, *, protocol: str = "raft", data_dir: str = "data"
) -> Path:
    path = tmp_path / "cluster.toml"
    path.write_text(
        f'cluster_id = "c"\nprotocol = "{protocol}"\ndata_dir = "{data_dir}"\n'
        f'[members]\n1 = "127.0.0.1:{port}"\n'
    )
    return path


def node_command(config: Path, *, prelude: str = "") -> subprocess.CompletedProcess[str]:
    """``pyconsensus node --id 1`` to completion (every case here refuses to start);
    ``prelude`` runs first in the same interpreter."""
    code = (
        f"{prelude}\nimport sys\nfrom pyconsensus.cli import main\n"
        f"sys.exit(main(['node', '--config', {str(config)!r}, '--id', '1']))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def refused_with(done: subprocess.CompletedProcess[str], *phrases: str) -> str:
    """The one line a refusal printed, checked for exit status 2 and ``phrases``."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


# -- typed errors out of the context managers --------------------------------


def test_a_group_of_one_error_stands_for_that_error_at_any_depth() -> None:
    error = Unavailable("gone")
    nested = ExceptionGroup("outer", [ExceptionGroup("inner", [error])])
    assert single_error(nested) is error
    assert single_error(ExceptionGroup("two", [error, ValueError()])) is None


async def test_except_consensus_error_around_open_client_catches_a_dead_clusters_unavailable() -> (
    None
):
    members = {1: Address("127.0.0.1", free_ports(1)[0])}
    with pytest.raises(Unavailable) as caught:
        async with open_client(members, "c", timeout=0.3, attempt_timeout=0.1) as client:
            await client.propose(b"x")
    assert not isinstance(caught.value, BaseExceptionGroup)


async def test_an_error_in_the_block_of_open_node_comes_out_as_itself(tmp_path: Path) -> None:
    config = one_node(tmp_path, free_ports(1)[0])
    with pytest.raises(KeyError):
        async with open_node(config, KVStateMachine(), storage=MemoryStorage()):
            raise KeyError("mine")


async def test_open_node_on_a_port_in_use_raises_address_unavailable_naming_it(
    tmp_path: Path, held_port: int
) -> None:
    with pytest.raises(AddressUnavailable, match=f"127.0.0.1:{held_port}: address already in use"):
        async with open_node(one_node(tmp_path, held_port), KVStateMachine()):
            pytest.fail("the node started on a port in use")


async def test_an_over_limit_proposal_is_an_encode_error_and_was_never_sent(
    tmp_path: Path,
) -> None:
    async with running_cluster(tmp_path, size=1) as nodes:
        members = {1: nodes[1].config.address}
        async with open_client(members, "test", timeout=2) as client:
            with pytest.raises(EncodeError, match="exceeds the limit"):
                await client.propose(b"x" * (17 << 20))
            assert await client.propose(b'{"op": "put", "key": "k", "value": "v"}')
        with pytest.raises(EncodeError, match="exceeds the limit"):
            await nodes[1].propose(b"x" * (17 << 20))  # the embedded API says the same
        assert await nodes[1].propose(b'{"op": "put", "key": "k", "value": "w"}')


def test_a_storage_remembers_its_protocol_and_refuses_another() -> None:
    storage = MemoryStorage()
    claim_storage(storage, one_node(Path("d"), 1, "raft"), "d")
    assert storage.metadata()[PROTOCOL_KEY] == "raft"
    claim_storage(storage, one_node(Path("d"), 1, "raft"), "d")  # the same again: fine
    with pytest.raises(StorageMismatch, match="d holds raft state; this node runs zab"):
        claim_storage(storage, one_node(Path("d"), 1, "zab"), "d")
    with pytest.raises(StorageMismatch, match="cluster 'c', not of 'other'"):
        claim_storage(storage, one_node(Path("d"), 1, "raft", cluster="other"), "d")


def test_a_storage_from_before_the_record_tells_its_protocol_by_its_keys() -> None:
    storage = MemoryStorage()
    storage.write(Write(metadata={"paxos.promised": 7}))
    with pytest.raises(StorageMismatch, match="holds paxos state; this node runs raft"):
        claim_storage(storage, one_node(Path("d"), 1, "raft"), "d")


# -- pyconsensus node: one line, exit status 2 -------------------------------


def test_node_on_a_port_in_use_is_one_line_naming_the_address(
    tmp_path: Path, held_port: int
) -> None:
    done = node_command(cluster_file(tmp_path, held_port))
    refused_with(done, "pyconsensus node: cannot listen on", f"127.0.0.1:{held_port}", "in use")


def test_node_with_a_data_dir_it_cannot_create_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the directory should be")
    done = node_command(cluster_file(tmp_path, free_ports(1)[0]))
    refused_with(done, "cannot create the data directory", str(tmp_path / "data" / "node-1"))


def can_mount_read_only() -> bool:
    """Whether this root may bind-mount read-only in a mount namespace of its own."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o ro tmpfs /mnt"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    os.geteuid() == 0 and not can_mount_read_only(),
    reason="root writes into read-only directories, and may not mount one here",
)
def test_node_with_a_read_only_data_dir_is_one_line_naming_it(tmp_path: Path) -> None:
    directory = tmp_path / "data" / "node-1"
    directory.mkdir(parents=True)
    config = cluster_file(tmp_path, free_ports(1)[0])
    if os.geteuid() == 0:  # a read-only bind mount, seen by the node's process only
        node = [sys.executable, "-m", "pyconsensus", "node", "--config", str(config), "--id", "1"]
        script = f'mount --bind -o ro "{directory}" "{directory}" && exec "$@"'
        done = subprocess.run(
            ["unshare", "-m", "sh", "-c", script, "node", *node],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        reason = "read-only file system"
    else:
        directory.chmod(0o555)
        try:
            done = node_command(config)
        finally:
            directory.chmod(0o755)
        reason = "permission denied"
    refused_with(done, f"cannot write in the data directory {directory}: {reason}")


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs")
def test_node_with_a_data_dir_where_nobody_may_write_is_one_line_naming_it(
    tmp_path: Path,
) -> None:
    # sysfs refuses new directories even to root: read-only for any user.
    config = cluster_file(tmp_path, free_ports(1)[0], data_dir="/sys/kernel")
    done = node_command(config)
    refused_with(done, "cannot create the data directory /sys/kernel/node-1", "not permitted")


def test_node_on_another_clusters_data_dir_is_one_line_naming_both(tmp_path: Path) -> None:
    LmdbStorage(tmp_path / "data" / "node-1", cluster_id="other", node_id=1).close()
    done = node_command(cluster_file(tmp_path, free_ports(1)[0]))
    refused_with(done, "cluster 'other'", "cluster 'c'")


def test_node_switched_from_raft_to_zab_on_its_data_is_one_line_not_corruption(
    tmp_path: Path,
) -> None:
    port = free_ports(1)[0]

    async def first_start() -> None:
        async with open_node(one_node(tmp_path / "data", port, "raft"), KVStateMachine()) as node:
            with trio.fail_after(10):
                while node.status().commit_index < 1:  # a term and an entry on disk
                    await trio.sleep(0.01)

    trio.run(first_start)
    done = node_command(cluster_file(tmp_path, port, protocol="zab"))
    line = refused_with(done, "holds raft state; this node runs zab", 'protocol = "raft"')
    assert "corrupt" not in line


def test_node_without_the_runtime_extras_says_which_to_install(tmp_path: Path) -> None:
    done = node_command(
        cluster_file(tmp_path, free_ports(1)[0]), prelude="import sys; sys.modules['lmdb'] = None"
    )
    refused_with(done, "needs lmdb, which is not installed", "pip install 'pyconsensus-lib[lmdb]'")


# -- the kvstore example ------------------------------------------------------


def test_kv_put_on_a_dead_cluster_prints_one_line(tmp_path: Path) -> None:
    config = tmp_path / "cluster.toml"
    config.write_text(
        'cluster_id = "kv"\n[members]\n'
        + "".join(f'{n} = "127.0.0.1:{p}"\n' for n, p in enumerate(free_ports(3), start=1))
    )
    done = subprocess.run(
        [
            *(sys.executable, str(KVSTORE / "kv.py"), "--config", str(config)),
            *("--timeout", "0.5", "put", "color", "blue"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith("failed: no node took the request")


def test_startup_errors_are_consensus_errors() -> None:
    assert issubclass(AddressUnavailable, ConsensusError)
    assert issubclass(DataDirectoryError, ConsensusError)


def test_demo_and_status_name_the_missing_extras_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "cbor2", None)
    for argv in (["demo"], ["status", "--config", "cluster.toml"]):
        assert main(argv) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"pyconsensus {argv[0]} needs cbor2, which is not installed")
        assert "pip install 'pyconsensus-lib[cbor]'" in line


@pytest.mark.parametrize(("started", "outcome"), [(False, (2, "")), (True, (1, "stopped: "))])
def test_a_failure_before_serving_is_a_startup_failure_and_after_it_a_stop(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    started: bool,
    outcome: tuple[int, str],
) -> None:
    async def failing_serve(config: NodeConfig, machine: object, serving: Any, **_: Any) -> None:
        serving.started = started
        raise StorageError("the disk\nis full")

    monkeypatch.setattr("pyconsensus.cli.node_service.serve", failing_serve)
    config = cluster_file(tmp_path, free_ports(1)[0])
    status, prefix = outcome
    assert main(["node", "--config", str(config), "--id", "1"]) == status
    assert capsys.readouterr().err == f"pyconsensus node: {prefix}the disk is full\n"
