"""The protocol registry: names to node factories, tuned by options given as text."""

from __future__ import annotations

import subprocess
import sys
from random import Random

import pytest

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.protocols import CONSENSUS_PROTOCOLS, REGISTRY, get_protocol
from pyconsensus.raft import RaftConfig, RaftNode


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_protocol_builds_a_working_node(name: str) -> None:
    protocol = get_protocol(name)
    node = protocol.factory(1, [1, 2, 3], MemoryStorage(), Random(0))
    node.tick()
    assert protocol.name == name
    assert node.status().term >= 0


def test_the_consensus_protocols_are_registered() -> None:
    assert set(CONSENSUS_PROTOCOLS) <= set(REGISTRY)


def test_options_given_as_text_tune_the_protocol() -> None:
    protocol = get_protocol("raft").with_options({"pre_vote": "false", "election_ticks": "7"})
    node = protocol.factory(1, [1, 2, 3], MemoryStorage(), Random(0))
    assert isinstance(node, RaftNode)
    assert (node.config.pre_vote, node.config.election_ticks) == (False, 7)


def test_options_build_on_the_config_the_protocol_was_given() -> None:
    protocol = get_protocol("raft", RaftConfig(heartbeat_ticks=3))
    node = protocol.with_options({"pre_vote": "no"}).factory(1, [1], MemoryStorage(), Random(0))
    assert isinstance(node, RaftNode)
    assert (node.config.pre_vote, node.config.heartbeat_ticks) == (False, 3)


def test_an_unknown_option_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown option 'pre_votes'.*pre_vote"):
        get_protocol("raft").with_options({"pre_votes": "false"})


def test_an_option_that_does_not_parse_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a valid bool"):
        get_protocol("zab").with_options({"pipelined_writes": "maybe"})


def test_an_unknown_protocol_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown protocol 'rafts'; known: .*raft"):
        get_protocol("rafts")


def test_a_node_class_can_stand_in_for_the_registered_one() -> None:
    class Marked(RaftNode):
        pass

    node = get_protocol("raft", node_class=Marked).factory(1, [1], MemoryStorage(), Random(0))
    assert type(node) is Marked


def test_the_registry_loads_a_protocol_only_when_asked_for_it() -> None:
    program = (
        "import sys; import pyconsensus.protocols as p; p.get_protocol('zab'); "
        "print(sorted(m for m in ('pyconsensus.raft', 'pyconsensus.zab', 'pyconsensus.sim') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "['pyconsensus.zab']"
