"""The limits of docs/security.md: their defaults, and their keys in a cluster file."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from pyconsensus.adapters.trio import NodeConfig, TransportConfig
from pyconsensus.adapters.trio.config import parse_config
from pyconsensus.core.errors import ConfigError

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"

LIMITS = {
    "handshake_frame_bytes": 4096,
    "handshake_timeout_s": 5.0,
    "max_frame_bytes": 16 << 20,
    "receive_budget_bytes": 256 << 20,
    "max_connections": 1024,
    "max_connections_per_address": 256,
    "idle_timeout_s": 60.0,
    "max_client_requests": 1024,
}


def test_the_limits_have_small_defaults() -> None:
    defaults = TransportConfig()
    assert {name: getattr(defaults, name) for name in LIMITS} == LIMITS
    assert attrs.fields_dict(NodeConfig)["max_pending_requests"].default == 10_000


def test_every_limit_is_read_from_the_transport_table() -> None:
    table = {name: value * 2 for name, value in LIMITS.items()}
    document = {"cluster_id": "c", "members": {"1": "127.0.0.1:7101"}, "transport": table}
    transport = parse_config(document, 1).transport
    assert {name: getattr(transport, name) for name in LIMITS} == table


def test_every_limit_is_listed_in_the_security_page() -> None:
    text = DOC.read_text()
    section = text[text.index("## Limits") :]
    listed = set(re.findall(r"^\| `(\w+)`", section, re.MULTILINE))
    assert set(LIMITS) <= listed


@pytest.mark.parametrize(
    "bad",
    [{"max_connections": 0}, {"idle_timeout_s": -1}, {"receive_budget_bytes": 1 << 20}],
)
def test_a_limit_that_makes_no_sense_is_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        TransportConfig(**bad)
