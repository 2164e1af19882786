"""The runtime and a state machine that refuses or fails (issue 16, item 3).

``ApplyError`` reaches the client as itself, identical from every replica;
``validate_command`` refuses before anything is logged; any other exception
stops the node with one line naming the entry - raised alone from
``open_node``, never inside an exception group.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio

from pyconsensus.adapters.trio import NodeConfig, open_client, open_node
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.rsm import ApplyError, StateMachineFailed, kv
from tests.rsm.picky import Picky
from tests.trio.support import TICK, members, running_cluster, wait_for


async def test_an_apply_error_reaches_the_client_from_every_replica(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, machine=Picky) as nodes:
        addresses = {i: n.config.address for i, n in nodes.items()}
        async with open_client(addresses, "test") as client:
            assert await client.propose(kv.put(b"k", b"good")) == kv.OK
            with pytest.raises(ApplyError, match="values may not be bad") as caught:
                await client.propose(kv.put(b"k", b"bad"))
            assert caught.value.index > 0
            with pytest.raises(ApplyError, match="before it is logged") as early:
                await client.propose(kv.put(b"k", b"never"))
            assert early.value.index == 0
        last = max(n.status().commit_index for n in nodes.values())
        await wait_for(lambda: all(n.status().applied_index >= last for n in nodes.values()))
        assert {n.rsm.counters["commands.refused"] for n in nodes.values()} == {1}
        assert len({n.rsm.sessions.encode() for n in nodes.values()}) == 1
        assert {kv.decode_get(n.machine.query(kv.get(b"k"))) for n in nodes.values()} == {b"good"}


async def test_an_unexpected_apply_exception_stops_the_node_with_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = NodeConfig("test", 1, members(1), tick_interval=TICK)
    with trio.fail_after(30), pytest.raises(StateMachineFailed) as caught:
        async with open_node(config, Picky(), storage=MemoryStorage(), seed=1) as node:
            await node.propose(kv.put(b"k", b"ok"))
            await node.propose(kv.put(b"k", b"bug"))
    error = caught.value
    assert type(error) is StateMachineFailed  # alone: no exception group around it
    assert f"entry {error.index}" in str(error) and "RuntimeError: a bug in apply" in str(error)
    lines = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(lines) == 1 and "\n" not in lines[0].getMessage()
    assert f"entry {error.index}" in lines[0].getMessage()
