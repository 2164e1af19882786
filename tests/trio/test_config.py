"""Cluster files: parsed into typed configs, mistakes refused with a reason."""

from __future__ import annotations

from pathlib import Path
from random import Random

import attrs
import pytest

from pyconsensus.adapters.trio import Address, NodeConfig, load_config
from pyconsensus.adapters.trio.config import DEFAULT_STATE_MACHINE, ObserveConfig
from pyconsensus.adapters.trio.runtime import _protocol_spec
from pyconsensus.core.errors import ConfigError
from pyconsensus.core.node import pipelined
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.raft import RaftNode

CLUSTER = """
cluster_id = "orders"
protocol = "zab"
data_dir = "state"
tick_ms = 20
request_timeout_s = 2.5
forward = false
compact_every = 500
storage_writes = "inline"
pipelined_writes = false
state_machine = "mymodule:Machine"

[members]
1 = "127.0.0.1:7001"
2 = "127.0.0.1:7002"
3 = "[::1]:7003"

[protocol_options]
sync_ticks = 8
init_ticks = 16

[transport]
max_frame_bytes = 65536
"""


def test_a_cluster_file_becomes_one_typed_config_per_node(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(CLUSTER)
    config = load_config(path, 3)
    assert config.cluster_id == "orders" and config.node_id == 3 and config.protocol == "zab"
    assert config.members[3] == Address("::1", 7003) and str(config.members[3]) == "[::1]:7003"
    assert config.address == config.members[3]
    assert sorted(config.peers) == [1, 2]
    assert config.data_dir == tmp_path / "state" / "node-3"
    assert config.tick_interval == pytest.approx(0.02)
    assert config.request_timeout == 2.5 and config.forward is False
    assert config.compact_every == 500 and config.state_machine == "mymodule:Machine"
    assert config.storage_writes == "inline" and config.pipelined_writes is False
    assert config.protocol_options == {"sync_ticks": "8", "init_ticks": "16"}
    assert config.transport.max_frame_bytes == 65536


def test_defaults_suit_a_lan() -> None:
    config = NodeConfig("c", 1, {1: Address("127.0.0.1", 1)})
    assert config.protocol == "raft" and config.forward and config.sync
    assert config.tick_interval == 0.02 and config.state_machine == DEFAULT_STATE_MACHINE
    assert config.max_pending_requests == 10_000 and config.requests_per_batch == 64
    assert config.storage_writes == "auto" and config.pipelined_writes
    assert config.session_timeout == 0  # sessions expire by count only


def test_a_session_timeout_is_read_in_seconds(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(CLUSTER.replace("compact_every = 500", "session_timeout_s = 900"))
    assert load_config(path, 1).session_timeout == 900
    for bad in ("-1", "1e9", '"1h"'):
        path.write_text(CLUSTER.replace("compact_every = 500", f"session_timeout_s = {bad}"))
        with pytest.raises(ConfigError, match="session_timeout"):
            load_config(path, 1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('cluster_id = "orders"', "cluster_id"),
        ('protocol = "zab"', "unknown protocol"),
        ('3 = "[::1]:7003"', "not a host:port"),
        ("tick_ms = 20", "must be a number"),
        ("forward = false", "true or false"),
        ("request_timeout_s = 2.5", "unknown keys in the cluster file: colour"),
        ('storage_writes = "inline"', "storage_writes must be one of auto, inline, thread"),
    ],
)
def test_mistakes_are_refused_with_a_reason(tmp_path: Path, change: str, message: str) -> None:
    broken = {
        'cluster_id = "orders"': 'cluster_id = ""',
        'protocol = "zab"': 'protocol = "pbft"',
        '3 = "[::1]:7003"': '3 = "localhost"',
        "tick_ms = 20": 'tick_ms = "fast"',
        "forward = false": 'forward = "no"',
        "request_timeout_s = 2.5": "request_timeout_s = 2.5\ncolour = 3",
        'storage_writes = "inline"': 'storage_writes = "async"',
    }[change]
    path = tmp_path / "cluster.toml"
    path.write_text(CLUSTER.replace(change, broken))
    with pytest.raises(ConfigError, match=message):
        load_config(path, 1)


def test_a_node_must_be_a_member(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(CLUSTER)
    with pytest.raises(ConfigError, match="not among the members"):
        load_config(path, 4)


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text("members = [")
    with pytest.raises(ConfigError, match=str(path)):
        load_config(path, 1)


def _core(config: NodeConfig) -> object:
    return _protocol_spec(config).factory(1, [1, 2, 3], MemoryStorage(), Random(1))


def test_the_runtime_runs_raft_pipelined_and_without_commit_broadcasts() -> None:
    members = {i: Address("127.0.0.1", 7000 + i) for i in (1, 2, 3)}
    core = _core(NodeConfig("c", 1, members))
    assert isinstance(core, RaftNode)
    assert core.config.pipelined_writes and not core.config.broadcast_commit


def test_the_cluster_file_overrides_the_runtimes_core_defaults() -> None:
    members = {i: Address("127.0.0.1", 7000 + i) for i in (1, 2, 3)}
    options = {"broadcast_commit": "true"}
    core = _core(NodeConfig("c", 1, members, protocol_options=options, pipelined_writes=False))
    assert isinstance(core, RaftNode)
    assert not core.config.pipelined_writes and core.config.broadcast_commit


@pytest.mark.parametrize("protocol", ["zab", "paxos"])
def test_protocols_without_those_options_run_as_configured(protocol: str) -> None:
    members = {i: Address("127.0.0.1", 7000 + i) for i in (1, 2, 3)}
    core = _core(NodeConfig("c", 1, members, protocol=protocol))
    assert type(core).__module__ == f"pyconsensus.{protocol}.node"


@pytest.mark.parametrize("protocol", ["zab", "paxos"])
def test_the_runtime_runs_zab_and_paxos_pipelined_unless_the_cluster_file_says_otherwise(
    protocol: str,
) -> None:
    members = {i: Address("127.0.0.1", 7000 + i) for i in (1, 2, 3)}
    core = _core(NodeConfig("c", 1, members, protocol=protocol))
    assert pipelined(core)  # type: ignore[arg-type]
    core = _core(NodeConfig("c", 1, members, protocol=protocol, pipelined_writes=False))
    assert not pipelined(core)  # type: ignore[arg-type]


def test_snapshot_transfer_limits_are_set_in_a_protocol_options_sub_table(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(
        CLUSTER.replace('protocol = "zab"', 'protocol = "raft"').replace(
            "[transport]",
            "[protocol_options.transfer]\nchunk_size = 4194304\nmax_transfers = 1\n\n[transport]",
        )
    )
    config = load_config(path, 1)
    assert config.protocol_options["transfer.chunk_size"] == "4194304"
    node = _protocol_spec(
        attrs.evolve(config, protocol_options={"transfer.chunk_size": "4194304"})
    ).factory(1, [1, 2, 3], MemoryStorage(), Random(1))
    assert isinstance(node, RaftNode)
    assert node.config.transfer.chunk_size == 4194304
    assert node.config.transfer.max_transfers == 2  # the default, untouched
    with pytest.raises(ConfigError, match="TransferConfig"):
        _protocol_spec(attrs.evolve(config, protocol_options={"transfer.chunk": "1"}))


@pytest.mark.parametrize("host", ["10.1.2.3", "0.0.0.0", "node1.example"])
def test_metrics_on_a_non_loopback_address_need_an_explicit_opt_in(host: str) -> None:
    members = {1: Address("127.0.0.1", 7101)}
    observe = ObserveConfig(metrics=Address(host, 9101))
    with pytest.raises(ConfigError, match="metrics_public = true"):
        NodeConfig("c", 1, members, observe=observe)
    public = ObserveConfig(metrics=Address(host, 9101), metrics_public=True)
    assert NodeConfig("c", 1, members, observe=public).observe.metrics_public


def test_metrics_on_loopback_need_no_opt_in() -> None:
    observe = ObserveConfig(metrics=Address("127.0.0.1", 9101))
    assert NodeConfig("c", 1, {1: Address("127.0.0.1", 7101)}, observe=observe)
