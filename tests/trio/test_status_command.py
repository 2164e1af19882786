"""``pyconsensus status``: one table of a real cluster of node processes, in
text, in JSON and under ``--watch``; and its pure parts (lag, ballots)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from pyconsensus.adapters.trio.localcluster import open_local_cluster
from pyconsensus.cli.status_table import NodeRow, render, term_text, with_lag
from pyconsensus.paxos.ballot import Ballot
from pyconsensus.rsm import kv

pytestmark = pytest.mark.skipif(
    not Path("/proc").exists(), reason="needs a Unix with /proc-style process control"
)


async def status_command(config: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``pyconsensus status --config config *options``, to completion, off the loop."""
    command = [sys.executable, "-m", "pyconsensus", "status", "--config", str(config), *options]
    return await trio.to_thread.run_sync(
        lambda: subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    )


async def test_status_watches_every_node_the_leader_and_an_unreachable_one(tmp_path: Path) -> None:
    with trio.fail_after(180):
        async with (
            open_local_cluster(tmp_path, settings={"tick_ms": 20}) as cluster,
            cluster.client() as client,
        ):
            await cluster.wait_until_serving(client)
            leader = (await cluster.wait_for_leader(client)).node_id
            for i in range(5):
                await client.propose(kv.put(b"k%d" % i, b"v"))
            await cluster.wait_caught_up(client)

            done = await status_command(
                cluster.config_path, "--watch", "--interval", "0.2", "--count", "2", "--json"
            )
            assert done.returncode == 0, done.stderr
            tables = [json.loads(line) for line in done.stdout.splitlines()]
            assert len(tables) == 2  # --watch: one document per refresh, --count of them
            table = tables[-1]
            assert all(0 <= row["contact"] < 5 for row in table["nodes"])
            assert table["leader"] == leader
            nodes = {row["node_id"]: row for row in table["nodes"]}
            assert set(nodes) == {1, 2, 3}
            assert {row["leader"] for row in nodes.values()} == {leader}
            assert all(row["applied"] >= 5 and row["lag"] == 0 for row in nodes.values())
            assert nodes[leader]["role"] == "leader"

            follower = next(n for n in nodes if n != leader)
            await cluster.stop(follower)
            done = await status_command(cluster.config_path, "--timeout", "2")
            assert done.returncode == 1  # not every member answered
            lines = done.stdout.strip().splitlines()
            assert lines[0].split() == [
                *("node", "address", "role", "term", "leader"),
                *("commit", "applied", "lag", "contact"),
            ]
            rows = {int(line.split()[0]): line.split() for line in lines[1:]}
            assert rows[follower][2:] == ["unreachable", "never"]
            assert rows[leader][2] == "leader" and rows[leader][4] == str(leader)


def test_lag_is_counted_against_the_highest_commit_any_node_reported() -> None:
    rows = with_lag(
        [
            NodeRow(1, "a", role="leader", term="3", leader=1, commit=10, applied=10),
            NodeRow(2, "b", role="follower", term="3", leader=1, commit=7, applied=6),
            NodeRow(3, "c", error="refused"),
        ]
    )
    assert [row.lag for row in rows] == [0, 4, None]
    assert "unreachable" in render(rows).splitlines()[3]


def test_a_paxos_ballot_reads_as_round_dot_node() -> None:
    assert term_text("paxos", Ballot(7, 2).packed) == "7.2"
    assert term_text("raft", 7) == "7"


def test_status_with_a_missing_cluster_file_is_one_line_and_status_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pyconsensus", "status", "--config", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert (
        done.stderr.startswith("pyconsensus status: cannot read") and done.stderr.count("\n") == 1
    )
