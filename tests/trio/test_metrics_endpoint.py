"""The operator endpoint of a node in this process: /metrics in Prometheus'
text format, /health, and what a misbehaving HTTP client gets (never a
disturbed node)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from pyconsensus.adapters.trio import Node, NodeConfig, open_node
from pyconsensus.adapters.trio import http as http_module
from pyconsensus.adapters.trio.config import Address, ObserveConfig
from pyconsensus.adapters.trio.metrics import Histogram, NodeMetrics
from pyconsensus.adapters.trio.observe import TimedWrites
from pyconsensus.cli import main
from pyconsensus.core.errors import ConfigError, NotLeader, ProposalDropped
from pyconsensus.core.ready import Ready, Write
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Entry, Role
from pyconsensus.rsm import KVStateMachine, kv
from pyconsensus.rsm.replicated import Completed, Failed
from tests.trio.support import TICK, http_get, members, wait_for


def test_histogram_buckets_are_cumulative_with_inf_last() -> None:
    histogram = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(value)
    assert histogram.cumulative() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert histogram.sum == pytest.approx(3.65)


def test_commit_latency_runs_from_a_write_of_entries_to_their_commit() -> None:
    now = [10.0]
    metrics = NodeMetrics(clock=lambda: now[0])
    entries = [Entry(i, 1, b"x") for i in (1, 2, 3)]
    metrics.batch(Ready(write=Write(entries=entries)))
    now[0] = 10.004
    metrics.batch(Ready(write=Write(entries=[Entry(4, 1)])))
    now[0] = 10.010
    metrics.batch(Ready(committed=entries))  # the first write is committed, not the second
    assert metrics.commit_seconds.cumulative()[-1] == ("+Inf", 1)
    assert metrics.commit_seconds.sum == pytest.approx(0.010)
    assert metrics.batch_entries.sum == 4


@asynccontextmanager
async def single_node(tmp_path: Path) -> AsyncIterator[Node]:
    config = NodeConfig(
        "test",
        1,
        members(1),
        data_dir=tmp_path,
        tick_interval=TICK,
        observe=ObserveConfig(metrics=Address("127.0.0.1", 0)),
    )
    async with open_node(config, KVStateMachine(), storage=MemoryStorage(), seed=1) as node:
        await wait_for(lambda: node.status().role is Role.LEADER)
        yield node


async def request(port: int, raw: bytes) -> tuple[int, bytes]:
    return await http_get(("127.0.0.1", port), raw)


async def test_metrics_and_health_of_a_serving_leader(tmp_path: Path) -> None:
    async with single_node(tmp_path) as node:
        assert await node.propose(kv.put(b"k", b"v")) == kv.OK
        assert node.metrics_port is not None
        status, body = await request(node.metrics_port, b"GET /metrics HTTP/1.1\r\n\r\n")
        text = body.decode()
        assert status == 200
        assert 'pyconsensus_role{role="leader"} 1.0' in text
        assert "pyconsensus_proposal_latency_seconds_count 1.0" in text
        assert "pyconsensus_fsync_seconds_count" in text
        assert 'pyconsensus_events_total{event="election_won"} 1.0' in text
        assert "process_cpu_seconds_total" in text
        status, body = await request(node.metrics_port, b"GET /health HTTP/1.0\r\n\r\n")
        report = json.loads(body)
        assert status == 200
        assert report["serving"] and report["has_leader"] and report["caught_up"]


async def test_bad_http_requests_get_an_error_status_and_the_node_keeps_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_module, "REQUEST_TIMEOUT_S", 0.3)
    async with single_node(tmp_path) as node:
        port = node.metrics_port
        assert port is not None
        assert (await request(port, b"GET /nothing HTTP/1.1\r\n\r\n"))[0] == 404
        assert (await request(port, b"POST /metrics HTTP/1.1\r\n\r\n"))[0] == 405
        assert (await request(port, b"\x00\xff garbage\r\n\r\n"))[0] == 400
        assert (await request(port, b"GET /" + b"a" * 9000))[0] == 431
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"GET /metr")  # and nothing more
            answer = await stream.receive_some(4096)
        assert answer.startswith(b"HTTP/1.1 408")
        assert await node.propose(kv.put(b"still", b"here")) == kv.OK


def test_metrics_without_prometheus_client_is_a_one_line_error_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "prometheus_client" else real(name, *a),
    )
    config = NodeConfig("t", 1, members(1), observe=ObserveConfig(metrics=Address("::1", 0)))
    with pytest.raises(ConfigError, match=r"pyconsensus-lib\[metrics\]"):
        Node(config, KVStateMachine(), MemoryStorage())
    path = tmp_path / "cluster.toml"
    path.write_text('cluster_id = "t"\n[members]\n1 = "127.0.0.1:7101"\n')
    assert main(["node", "--config", str(path), "--id", "1", "--metrics", "9101"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "prometheus_client" in error and "pip install 'pyconsensus-lib[metrics]'" in error


def test_a_followers_not_leader_answer_is_not_timed_the_leader_times_the_forward() -> None:
    now = [1.0]
    metrics = NodeMetrics(clock=lambda: now[0])
    metrics.proposed.update({7: 0.5, 8: 0.75})
    metrics.queried[9] = 0.9
    metrics.answered([Failed(7, NotLeader(2)), Failed(8, ProposalDropped(5))])
    metrics.answered([Completed(9, b"", 3), Completed(10, b"", 3)])  # 10: not stamped
    assert metrics.proposal_seconds.cumulative()[-1] == ("+Inf", 1)
    assert metrics.proposal_seconds.sum == pytest.approx(0.25)
    assert metrics.read_seconds.sum == pytest.approx(0.1)
    assert not metrics.proposed and not metrics.queried


def test_timed_writes_feed_the_fsync_histogram_and_the_slow_write_report() -> None:
    ticks = iter([0.0, 0.25, 1.0, 1.001])
    fsync = Histogram((0.01, 1.0))
    reports: list[tuple[float, int]] = []

    class Reports:
        def stored(self, seconds: float, entries: int, now: float) -> None:
            reports.append((seconds, entries))

    storage = MemoryStorage()
    timed = TimedWrites(storage, Reports(), fsync, clock=lambda: next(ticks))  # type: ignore[arg-type]
    timed.write(Write(entries=[Entry(1, 1, b"a"), Entry(2, 1, b"b")]))
    timed.write(Write(metadata={"raft.term": 2}))
    assert reports == [(0.25, 2), (pytest.approx(0.001), 0)]
    assert fsync.cumulative() == [("0.01", 1), ("1.0", 2), ("+Inf", 2)]
    assert storage.last_index() == 2
