"""A real cluster as an operator sees it: three node processes with their
/metrics and /health endpoints and JSON logs. Waits poll conditions against
generous deadlines; ports are chosen at run time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from pyconsensus.adapters.trio.localcluster import LocalCluster, open_local_cluster
from pyconsensus.rsm import kv
from tests.trio.support import http_get

TEST_BOUND = 180
OBSERVE = {"log_format": "json", "no_leader_after_s": 0.5, "no_leader_every_s": 1}

pytestmark = pytest.mark.skipif(
    not Path("/proc").exists(), reason="needs a Unix with /proc-style process control"
)


async def scrape(cluster: LocalCluster, node: int) -> dict[str, float]:
    """``/metrics`` of ``node`` as ``{"name{labels}": value}``."""
    status, body = await http_get(cluster.metrics[node], b"GET /metrics HTTP/1.1\r\n\r\n")
    assert status == 200
    samples = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


async def health(cluster: LocalCluster, node: int) -> tuple[int, dict[str, Any]]:
    status, body = await http_get(cluster.metrics[node], b"GET /health HTTP/1.1\r\n\r\n")
    report: dict[str, Any] = json.loads(body)
    return status, report


async def wait_health(cluster: LocalCluster, node: int, wanted: int) -> dict[str, Any]:
    with trio.fail_after(60):
        while True:
            status, report = await health(cluster, node)
            if status == wanted:
                return report
            await trio.sleep(0.05)


def events(cluster: LocalCluster, node: int) -> list[dict[str, Any]]:
    """The JSON log records of ``node`` that are events."""
    records = []
    for line in cluster.log_path(node).read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if "event" in record:
                records.append(record)
    return records


async def test_a_running_cluster_serves_metrics_health_and_json_event_logs(
    tmp_path: Path,
) -> None:
    with trio.fail_after(TEST_BOUND):
        async with (
            open_local_cluster(
                tmp_path,
                settings={"tick_ms": 20},
                observe=OBSERVE,
                metrics=True,
                log_level="info",
            ) as cluster,
            cluster.client() as client,
        ):
            await cluster.wait_until_serving(client)
            leader = (await cluster.wait_for_leader(client)).node_id
            for i in range(20):
                assert await client.propose(kv.put(b"k%d" % i, b"v")) == kv.OK
            await cluster.wait_caught_up(client)
            for node in cluster.members:
                status, report = await health(cluster, node)
                assert status == 200, report
                assert report["serving"] and report["has_leader"] and report["caught_up"]
            metrics = await scrape(cluster, leader)
            assert metrics['pyconsensus_role{role="leader"}'] == 1
            assert metrics["pyconsensus_commit_index"] >= 20
            assert metrics["pyconsensus_elections_won_total"] >= 1
            assert metrics["pyconsensus_commit_latency_seconds_count"] >= 1
            assert metrics["pyconsensus_fsync_seconds_count"] >= 1
            assert metrics["pyconsensus_batch_entries_sum"] >= 20
            for peer in cluster.members:
                if peer != leader:
                    assert metrics[f'pyconsensus_peer_match_index{{peer="{peer}"}}'] >= 20
                    label = f'direction="out",peer="{peer}"'
                    assert metrics[f"pyconsensus_peer_bytes_total{{{label}}}"] > 0
            assert any(e["event"] == "election_won" for e in events(cluster, leader))

            # Cut off, a follower loses its leader: /health says so, and its
            # log says "no leader for N s" (not once per tick: rate-bounded).
            follower = next(n for n in cluster.members if n != leader)
            cluster.isolate(follower)
            report = await wait_health(cluster, follower, 503)
            assert not report["has_leader"] and not report["caught_up"]
            with trio.fail_after(60):
                while not any(e["event"] == "no_leader" for e in events(cluster, follower)):
                    await trio.sleep(0.05)
            cluster.isolate(follower, False)
            await wait_health(cluster, follower, 200)
            seen = events(cluster, follower)
            assert {"peer_connected", "peer_disconnected", "leader_changed"} <= {
                e["event"] for e in seen
            }
            no_leader = [e for e in seen if e["event"] == "no_leader"]
            assert all(e["node"] == follower and e["seconds"] >= 0.5 for e in no_leader)
