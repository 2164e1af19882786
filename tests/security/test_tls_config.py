"""TLS configuration: the ``[tls]`` table, and no plaintext off loopback unless asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyconsensus.adapters.trio import Address, NodeConfig, TlsConfig, open_node, parse_config
from pyconsensus.cli import main
from pyconsensus.core.errors import ConfigError
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.rsm import KVStateMachine


def config_at(host: str, **kwargs: object) -> NodeConfig:
    return NodeConfig("c", 1, {1: Address(host, 7101)}, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["10.1.2.3", "0.0.0.0", "::", "node1.example"])
def test_a_plaintext_listener_off_loopback_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="in plaintext: configure \\[tls\\]"):
        config_at(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_a_plaintext_listener_on_loopback_is_allowed(host: str) -> None:
    assert config_at(host).tls is None


def test_insecure_or_tls_allows_any_listener() -> None:
    assert config_at("10.1.2.3", insecure=True).insecure
    assert config_at("10.1.2.3", tls=TlsConfig("ca.pem", "c.pem", "k.pem")).tls is not None


def test_the_tls_table_resolves_paths_per_node(tmp_path: Path) -> None:
    document = {
        "cluster_id": "c",
        "members": {"1": "10.0.0.1:7101", "2": "10.0.0.2:7101"},
        "tls": {"ca": "certs/ca.pem", "cert": "certs/node-{id}.pem", "key": "/k/{id}.key"},
    }
    config = parse_config(document, 2, tmp_path)
    assert config.tls == TlsConfig(
        tmp_path / "certs/ca.pem", tmp_path / "certs/node-2.pem", Path("/k/2.key")
    )
    assert config.tls.max_handshakes == 32


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"ca": "a", "cert": "b"}, "needs key"),
        ({"ca": "a", "cert": "b", "key": "c", "verify": False}, "unknown \\[tls\\] keys: verify"),
        ({"ca": "a", "cert": "b", "key": "c", "max_handshakes": 0}, "max_handshakes"),
        ("ca.pem", "must be a table"),
    ],
)
def test_a_bad_tls_table_is_a_one_line_config_error(table: object, message: str) -> None:
    document = {"cluster_id": "c", "members": {"1": "127.0.0.1:7101"}, "tls": table}
    with pytest.raises(ConfigError, match=message):
        parse_config(document, 1)


async def test_missing_tls_files_stop_a_node_before_it_starts(tmp_path: Path) -> None:
    tls = TlsConfig(tmp_path / "ca.pem", tmp_path / "n.pem", tmp_path / "n.key")
    with pytest.raises(ConfigError, match="cannot load the TLS files"):
        async with open_node(
            config_at("127.0.0.1", tls=tls), KVStateMachine(), storage=MemoryStorage()
        ):
            pass


def test_the_node_command_refuses_plaintext_off_loopback_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text('cluster_id = "c"\n[members]\n1 = "10.9.8.7:7101"\n')
    assert main(["node", "--config", str(path), "--id", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "in plaintext" in err[0] and "insecure = true" in err[0]
