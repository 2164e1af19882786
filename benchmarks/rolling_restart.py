"""Rolling restart of a 3-node Raft cluster under load, with and without
leadership transfer: ``python -m benchmarks.rolling_restart [--rounds 2]``.

Four clients write (C=4, each one write at a time) to a local cluster of node
processes (``open_local_cluster``) while every node is restarted in turn -
followers first, the leader last, each one stopped with SIGTERM, started
again and waited for until the cluster has caught up. With ``transfer`` the
leader first hands leadership to a follower (``pyconsensus admin
transfer-leader``); without, its stop costs an election. Measured: the
longest write pause (the longest time no write completed, over all clients),
the slowest single write, and the writes that failed (``Unavailable`` or
``IndeterminateResult`` after the client's retries). Rounds interleave the two
variants; the medians are printed (docs/benchmarks.md). ``--keep DIR`` keeps
every round's node logs (``DIR/<variant>-<round>/node-N.log``) to look into a
stall.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
from pathlib import Path

import trio

from pyconsensus.adapters.trio.admin import administer
from pyconsensus.adapters.trio.localcluster import LocalCluster, open_local_cluster
from pyconsensus.core.errors import ConsensusError
from pyconsensus.rsm import kv
from pyconsensus.service.messages import AdminRequest, ReplyStatus

CLIENTS = 4


class Load:
    """The writers' record: completion times, slowest write, failures."""

    def __init__(self) -> None:
        self.completions: list[float] = []
        self.slowest = 0.0
        self.failures = 0
        self.done = False

    async def write(self, cluster: LocalCluster, number: int) -> None:
        async with cluster.client(timeout=10.0, attempt_timeout=0.5, seed=number) as client:
            count = 0
            while not self.done:
                count += 1
                began = trio.current_time()
                try:
                    await client.propose(kv.put(b"k%d" % number, b"%d" % count))
                except ConsensusError:
                    self.failures += 1
                    continue
                now = trio.current_time()
                self.slowest = max(self.slowest, now - began)
                self.completions.append(now)

    def longest_pause(self, start: float) -> float:
        times = sorted([start, *self.completions])
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


async def _restart_all(cluster: LocalCluster, transfer: bool) -> None:
    async with cluster.client(timeout=10.0) as admin:
        leader = (await cluster.wait_for_leader(admin)).node_id
        order = [n for n in sorted(cluster.members) if n != leader] + [leader]
        for node in order:
            current = (await cluster.wait_for_leader(admin)).node_id
            if transfer and node == current:
                target = next(n for n in sorted(cluster.members) if n != node)
                request = AdminRequest(0, "transfer-leader", target, -1, "", "")
                reply = await administer(cluster.members, cluster.cluster_id, request, timeout=10)
                if reply.status != ReplyStatus.OK:
                    print(f"transfer failed: {reply.message}", file=sys.stderr)
            await cluster.stop(node)
            await cluster.start(node)
            await cluster.wait_until_serving(admin)
            await cluster.wait_caught_up(admin)


async def one_round(root: Path, transfer: bool) -> tuple[float, float, int, int]:
    """(longest pause s, slowest write s, failed writes, completed writes)."""
    load = Load()
    async with open_local_cluster(root, settings={"tick_ms": 20}) as cluster:
        async with cluster.client() as client:
            await cluster.wait_until_serving(client)
            await cluster.wait_for_leader(client)
        async with trio.open_nursery() as nursery:
            for number in range(CLIENTS):
                nursery.start_soon(load.write, cluster, number)
            await trio.sleep(1.0)  # steady state first
            start = trio.current_time()
            await _restart_all(cluster, transfer)
            await trio.sleep(1.0)
            load.done = True
    return load.longest_pause(start), load.slowest, load.failures, len(load.completions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each variant")
    parser.add_argument(
        "--keep", default=None, help="keep the node logs and data in this directory"
    )
    args = parser.parse_args()
    rounds = args.rounds
    results: dict[str, list[tuple[float, float, int, int]]] = {"transfer": [], "no-transfer": []}
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep if args.keep is not None else scratch
        for number in range(rounds):
            for name, rows in results.items():
                root = Path(tmp) / f"{name}-{number}"
                row = trio.run(one_round, root, name == "transfer")
                rows.append(row)
                pause, slowest, failed, done = row
                print(
                    f"round {number} {name:11} longest pause {pause * 1000:.0f} ms, slowest "
                    f"write {slowest * 1000:.0f} ms, failed {failed}, completed {done}",
                    flush=True,
                )
    for name, rows in results.items():
        pause = statistics.median(r[0] for r in rows) * 1000
        slowest = statistics.median(r[1] for r in rows) * 1000
        failed = sum(r[2] for r in rows)
        print(
            f"median {name:11} longest pause {pause:.0f} ms, slowest write {slowest:.0f} ms, "
            f"failed writes (all rounds) {failed}"
        )


if __name__ == "__main__":
    main()
