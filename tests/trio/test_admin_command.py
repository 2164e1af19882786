"""``pyconsensus admin`` and ``node --join``: arguments checked, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from pyconsensus.adapters.trio import Address, NodeConfig, open_node
from pyconsensus.adapters.trio.members import MembershipUnsupported
from pyconsensus.cli import main
from pyconsensus.cli.admin_command import request_fields
from pyconsensus.core.errors import ConfigError
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.rsm import KVStateMachine
from tests.trio.support import addresses_of, running_cluster


def test_command_lines_become_wire_operations() -> None:
    assert request_fields("add", [4], voter=False) == ("add-learner", 4, -1)
    assert request_fields("add", [4], voter=True) == ("add-voter", 4, -1)
    assert request_fields("replace", [3, 5], voter=False) == ("replace", 3, 5)
    assert request_fields("members", [], voter=False) == ("members", -1, -1)
    with pytest.raises(ValueError, match="takes 2 member id"):
        request_fields("replace", [3], voter=False)


def test_a_bad_command_line_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["admin", "remove", "--config", str(tmp_path / "missing.toml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyconsensus admin: remove takes 1 member id") and err.count("\n") == 1


def test_a_refused_change_is_one_line_and_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def run() -> int:
        async with running_cluster(tmp_path) as nodes:
            members = addresses_of(nodes)
            lines = [f'{n} = "{a}"' for n, a in members.items()]
            path = tmp_path / "cluster.toml"
            path.write_text('cluster_id = "test"\n[members]\n' + "\n".join(lines) + "\n")
            argv = ["admin", "promote", "2", "--config", str(path), "--timeout", "5"]
            return await trio.to_thread.run_sync(main, argv)

    assert trio.run(run) == 1
    err = capsys.readouterr().err
    assert "promote failed: refused:" in err and "node 2 is not a learner" in err
    assert err.count("\n") == 1


def test_members_prints_one_line_per_member(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def run() -> int:
        async with running_cluster(tmp_path) as nodes:
            lines = [f'{n} = "{a}"' for n, a in addresses_of(nodes).items()]
            path = tmp_path / "cluster.toml"
            path.write_text('cluster_id = "test"\n[members]\n' + "\n".join(lines) + "\n")
            return await trio.to_thread.run_sync(main, ["admin", "members", "--config", str(path)])

    assert trio.run(run) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("leader ")
    assert [line.split()[:2] for line in out[1:]] == [
        ["1", "voter"],
        ["2", "voter"],
        ["3", "voter"],
    ]


@pytest.mark.parametrize("protocol", ["zab", "paxos"])
async def test_joining_is_refused_for_protocols_that_cannot_change_membership(
    protocol: str,
) -> None:
    config = NodeConfig(
        "test",
        4,
        {1: Address("127.0.0.1", 1)},
        protocol=protocol,
        listen=Address("127.0.0.1", 0),
        join=True,
    )
    with pytest.raises(MembershipUnsupported, match="not supported for protocol"):
        async with open_node(config, KVStateMachine(), storage=MemoryStorage()):
            pass


def test_a_joining_node_outside_the_members_needs_its_address() -> None:
    with pytest.raises(ConfigError, match="--listen"):
        NodeConfig("test", 4, {1: Address("127.0.0.1", 7101)}, join=True)
