"""Issue 15, with real processes: a follower that was stopped while the state
grew well past one frame (16 MiB) is restarted - as itself, or wiped - and
catches up from the leader's chunked snapshot, while the memory of sender
and receiver stays bounded. Waits poll conditions against generous bounds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import trio

from pyconsensus.adapters.procstats import peak_rss_kib
from pyconsensus.adapters.trio.localcluster import open_local_cluster
from pyconsensus.adapters.trio.snapshot_bench import fill
from pyconsensus.rsm import kv

TEST_BOUND = 240
VALUE_KIB = 256
SETTINGS = {"tick_ms": 20, "compact_every": 16, "request_timeout_s": 30.0}
"""A snapshot every 16 puts (4 MiB of state): the follower's missing log is
long compacted away, so it can only catch up through a snapshot."""

pytestmark = pytest.mark.skipif(
    not Path("/proc").exists(), reason="needs a Unix with /proc-style process control"
)


def rss_bound_mb(state_mb: int) -> float:
    """What a node may hold at its peak: the state as the KV machine keeps it
    (values plus dict and bytes overhead, under 1.2x for 256 KiB values),
    the interpreter with its imports (~70 MiB), the log kept in memory until
    the next compaction (up to 16 puts, 4 MiB, plus their encodings), a few
    chunks in flight, and the issue's 64 MiB allowance. A snapshot held whole
    once more (as before issue 15: in the message, the storage record and the
    restore) would exceed it."""
    return 1.2 * state_mb + 70 + 16 + 64


async def stopped_follower_catches_up(root: Path, state_mb: int, *, wipe: bool) -> None:
    async with (
        open_local_cluster(root, settings=SETTINGS) as cluster,
        cluster.client(timeout=60.0) as client,
    ):
        await cluster.wait_until_serving(client)
        leader = (await cluster.wait_for_leader(client)).node_id
        follower = max(n for n in cluster.members if n != leader)
        await cluster.stop(follower)
        await fill(client, state_mb, VALUE_KIB)
        if wipe:
            shutil.rmtree(root / "data" / f"node-{follower}")
        await cluster.start(follower)
        await cluster.wait_caught_up(client, timeout=TEST_BOUND / 2)
        # Peak RSS before the digests below: a digest copies the whole state.
        for node in (leader, follower):
            rss = peak_rss_kib(cluster.processes[node].pid) / 1024
            assert 0 < rss <= rss_bound_mb(state_mb), (node, rss, rss_bound_mb(state_mb))
        # A digest hashes the whole state in the node's loop, which takes a
        # while on a loaded machine: one node at a time, with a long bound.
        digests = {(await client.status(node, detail=1)).digest for node in cluster.members}
        assert len(digests) == 1
        answer = await client.read(kv.get(b"big%08d" % 0))
        assert kv.decode_get(answer) is not None


async def test_a_follower_stopped_while_the_state_grew_past_a_frame_catches_up(
    tmp_path: Path,
) -> None:
    with trio.fail_after(TEST_BOUND):
        await stopped_follower_catches_up(tmp_path, 24, wipe=False)


@pytest.mark.slow
async def test_a_wiped_follower_catches_up_from_a_64_mib_snapshot(tmp_path: Path) -> None:
    with trio.fail_after(TEST_BOUND):
        await stopped_follower_catches_up(tmp_path, 64, wipe=True)
