"""The example key-value service: its state machine alone, and replicated."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import trio

from pyconsensus.adapters.trio import NodeConfig, open_node
from pyconsensus.cli.node_command import load_state_machine
from pyconsensus.core.storage import MemoryStorage
from tests.trio.support import members, wait_for

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kvstore"


def _command(op: str, key: str, **fields: object) -> bytes:
    return json.dumps({"op": op, "key": key, **fields}).encode()


def test_the_store_answers_put_get_cas_delete_and_errors_alike() -> None:
    store = load_state_machine("kvstore:KVStore", EXAMPLE)
    assert json.loads(store.apply(_command("put", "a", value="1"))) == {"ok": True}
    assert json.loads(store.query(_command("get", "a"))) == {"value": "1"}
    assert json.loads(store.apply(_command("cas", "a", expected="0", value="2"))) == {
        "ok": False,
        "value": "1",
    }
    assert json.loads(store.apply(_command("cas", "a", expected="1", value="2"))) == {"ok": True}
    assert json.loads(store.apply(_command("cas", "b", expected=None, value="x"))) == {"ok": True}
    assert json.loads(store.apply(_command("delete", "a"))) == {"ok": True}
    assert json.loads(store.apply(_command("delete", "a"))) == {"ok": False}
    assert "error" in json.loads(store.apply(b"not json"))
    copy = load_state_machine("kvstore:KVStore", EXAMPLE)
    copy.restore(store.snapshot())
    assert copy.snapshot() == store.snapshot()


def test_the_store_ranges_over_its_keys_in_order_and_pages() -> None:
    store = load_state_machine("kvstore:KVStore", EXAMPLE)
    for key in ("c", "a", "d", "b"):
        store.apply(_command("put", key, value=key * 2))
    answer = json.loads(store.query(_command("range", "b", end="d", limit=10)))
    assert answer == {"items": [["b", "bb"], ["c", "cc"]], "more": False}
    answer = json.loads(store.query(_command("range", "", end=None, limit=3)))
    assert answer == {"items": [["a", "aa"], ["b", "bb"], ["c", "cc"]], "more": True}
    assert "error" in json.loads(store.query(_command("range", "", limit=0)))
    assert "error" in json.loads(store.query(_command("scan", "")))


def test_a_snapshot_of_the_all_json_store_still_restores() -> None:
    store = load_state_machine("kvstore:KVStore", EXAMPLE)
    store.restore(json.dumps({"a": "1", "b": "2"}).encode())
    assert json.loads(store.query(_command("get", "b"))) == {"value": "2"}
    assert json.loads(store.apply(_command("delete", "a"))) == {"ok": True}


def test_the_store_streams_a_point_in_time_snapshot_while_it_goes_on_applying() -> None:
    store = load_state_machine("kvstore:KVStore", EXAMPLE)
    for key in ("a", "b", "c"):
        store.apply(_command("put", key, value=key))
    source = store.snapshot_source()
    store.apply(_command("put", "a", value="changed"))
    store.apply(_command("delete", "b"))
    copy = load_state_machine("kvstore:KVStore", EXAMPLE)
    copy.restore_chunks(source.chunks())
    source.close()
    assert json.loads(copy.query(_command("get", "a"))) == {"value": "a"}
    assert json.loads(copy.query(_command("get", "b"))) == {"value": "b"}
    assert json.loads(store.query(_command("get", "a"))) == {"value": "changed"}
    legacy = load_state_machine("kvstore:KVStore", EXAMPLE)
    legacy.restore_chunks([b'{"a": ', b'"1"}'])
    assert json.loads(legacy.query(_command("get", "a"))) == {"value": "1"}


async def test_the_cli_follows_range_pages_to_the_end() -> None:
    spec = importlib.util.spec_from_file_location("kvstore_cli", EXAMPLE / "kv.py")
    assert spec is not None and spec.loader is not None
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    store = load_state_machine("kvstore:KVStore", EXAMPLE)
    for n in range(7):
        store.apply(_command("put", f"k{n}", value=str(n)))

    class LocalClient:
        async def read(self, query: bytes) -> bytes:
            return bytes(store.query(query))

    args = cli.parse(["range", "k1", "k6", "--limit", "2", "--all"])
    answer = await cli.scan(LocalClient(), args)
    assert [k for k, _ in answer["items"]] == ["k1", "k2", "k3", "k4", "k5"]
    one_page = await cli.scan(LocalClient(), cli.parse(["range", "--limit", "2"]))
    assert one_page == {"items": [["k0", "0"], ["k1", "1"]], "more": True}


async def test_three_replicas_of_the_example_store_agree(tmp_path: Path) -> None:
    addresses = members(3)
    machines = {n: load_state_machine("kvstore:KVStore", EXAMPLE) for n in addresses}
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nodes = {}

            async def run(node_id: int, task_status: trio.TaskStatus[None]) -> None:
                config = NodeConfig("kv", node_id, addresses, data_dir=tmp_path / str(node_id))
                async with open_node(config, machines[node_id], storage=MemoryStorage()) as node:
                    nodes[node_id] = node
                    task_status.started()
                    await trio.sleep_forever()

            for node_id in addresses:
                await nursery.start(run, node_id)
            answer = await nodes[1].propose(_command("put", "color", value="blue"))
            assert json.loads(answer) == {"ok": True}
            answer = await nodes[2].propose(_command("cas", "color", expected="blue", value="red"))
            assert json.loads(answer) == {"ok": True}
            assert json.loads(await nodes[3].read(_command("get", "color"))) == {"value": "red"}
            await wait_for(lambda: len({m.snapshot() for m in machines.values()}) == 1)
            nursery.cancel_scope.cancel()
