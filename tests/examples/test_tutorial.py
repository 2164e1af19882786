"""docs/tutorial.md stays true: its state machine and cluster file work as shown."""

from __future__ import annotations

import re
import types
from pathlib import Path

import trio

from pyconsensus.adapters.trio import open_node, parse_config
from pyconsensus.adapters.trio.config import load_document
from pyconsensus.core.storage import MemoryStorage
from tests.trio.support import members

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"


def _file(name: str) -> str:
    """The code block of the tutorial that starts with ``# <name>``."""
    for code in re.findall(r"```\w+\n(.*?)```", TUTORIAL.read_text(), re.S):
        if code.startswith(f"# {name}\n"):
            return str(code)
    raise AssertionError(f"no {name} in the tutorial")


def _counters_module() -> types.ModuleType:
    module = types.ModuleType("counters")
    exec(compile(_file("counters.py"), "counters.py", "exec"), module.__dict__)
    return module


def test_the_tutorial_state_machine_round_trips_and_refuses_bad_commands() -> None:
    counters = _counters_module().Counters()
    assert counters.apply(b"add visits 2") == b"2"
    assert counters.apply(b"add visits 3") == b"5"
    assert counters.apply(b"subtract visits 1").startswith(b"error")
    copy = _counters_module().Counters()
    copy.restore(counters.snapshot())
    assert copy.query(b"get visits") == b"5"


async def test_the_tutorial_cluster_file_runs_three_replicas(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(_file("cluster.toml"))
    document = load_document(path)
    addresses = members(3)
    document["members"] = {str(n): str(a) for n, a in addresses.items()}
    module = _counters_module()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nodes = {}

            async def run(node_id: int, task_status: trio.TaskStatus[None]) -> None:
                config = parse_config(document, node_id, tmp_path)
                assert config.cluster_id == "counters" and config.protocol == "raft"
                async with open_node(config, module.Counters(), storage=MemoryStorage()) as node:
                    nodes[node_id] = node
                    task_status.started()
                    await trio.sleep_forever()

            for node_id in addresses:
                await nursery.start(run, node_id)
            assert await nodes[2].propose(b"add visits 1") == b"1"
            assert await nodes[3].propose(b"add visits 1") == b"2"
            assert await nodes[1].read(b"get visits") == b"2"
            nursery.cancel_scope.cancel()
