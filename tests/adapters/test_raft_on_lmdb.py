"""A Raft cluster on LmdbStorage survives SIGKILL: terms, votes and logs come back intact.

A forked child runs three Raft nodes (one LMDB directory each, messages through
the CBOR codec) and reports each node's term and vote after every durable
write, and every proposal the leader acknowledged as committed. The parent
kills it with SIGKILL at a seeded moment, then checks the Raft durability
rules the paper relies on (Figure 2, "Persistent state on all servers"):

* a node's stored term never goes below one it acknowledged, and within the
  same term its vote never changes;
* every acknowledged commit is on disk in a majority of the nodes;
* restarted nodes load exactly the stored term, vote and log, elect a
  leader, and that leader's log holds every acknowledged commit at its index
  (State Machine Safety across a crash of the whole cluster).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from random import Random

import pytest

from pyconsensus.adapters.lmdb import LmdbStorage
from pyconsensus.core.types import NodeId
from tests.adapters.forked import spawn_child, spin
from tests.adapters.raft_driver import CLUSTER_ID, Cluster, hard_state, storage_path

MEMBERS = (1, 2, 3)
SEEDS = range(3)
KILLS_PER_SEED = 6


def run_child(root: Path, seed: int, incarnation: int, report_fd: int) -> None:
    def report(line: str) -> None:
        os.write(report_fd, f"{line}\n".encode())

    cluster = Cluster(root, seed, MEMBERS, report)
    proposal = 0
    while True:
        cluster.step()
        if cluster.propose(f"cmd {seed}/{incarnation}/{proposal}".encode()):
            proposal += 1


def spawn(root: Path, seed: int, incarnation: int) -> tuple[int, int]:
    return spawn_child(lambda report: run_child(root, seed, incarnation, report))


class Reports:
    """What the child acknowledged: last (term, vote) per node, and commits."""

    def __init__(self) -> None:
        self.hard_state: dict[NodeId, tuple[int, NodeId | None]] = {}
        self.commits: list[tuple[int, bytes]] = []
        self._buffer = b""

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            kind, *fields = line.decode().split()
            if kind == "error":
                raise AssertionError(f"the child failed: {line.decode()}")
            if kind == "state":
                node, term, vote = int(fields[0]), int(fields[1]), fields[2]
                self.hard_state[node] = (term, None if vote == "-" else int(vote))
            else:
                self.commits.append((int(fields[0]), bytes.fromhex(fields[1])))

    def read_until(self, fd: int, commits: int) -> None:
        while len(self.commits) < commits:
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError("the child exited before it was killed")
            self.feed(chunk)

    def drain(self, fd: int) -> None:
        while chunk := os.read(fd, 65536):
            self.feed(chunk)
        assert self._buffer == b""


@pytest.mark.parametrize("seed", SEEDS)
def test_a_killed_raft_cluster_resumes_with_term_vote_and_log_intact(
    tmp_path: Path, seed: int
) -> None:
    rng = Random(seed)
    every_commit: dict[int, bytes] = {}
    for incarnation in range(KILLS_PER_SEED):
        reports = Reports()
        pid, fd = spawn(tmp_path, seed, incarnation)
        try:
            reports.read_until(fd, rng.randint(3, 30))
            spin(rng.random() * 0.003)
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        reports.drain(fd)
        os.close(fd)
        for index, data in reports.commits:
            assert every_commit.setdefault(index, data) == data, "two values committed at once"

        # What is on disk, read directly.
        stored_logs: dict[NodeId, dict[int, bytes]] = {}
        for m in MEMBERS:
            with LmdbStorage(
                storage_path(tmp_path, m), cluster_id=CLUSTER_ID, node_id=m, verify_entries=None
            ) as storage:
                term, vote = hard_state(storage)
                if m in reports.hard_state:
                    acked_term, acked_vote = reports.hard_state[m]
                    assert term >= acked_term, f"node {m} forgot term {acked_term}"
                    if term == acked_term:
                        assert vote == acked_vote, f"node {m} changed its vote in term {term}"
                stored_logs[m] = {e.index: e.data for e in storage.entries(1, 1 << 62)}
        for index, data in every_commit.items():
            holders = [m for m in MEMBERS if stored_logs[m].get(index) == data]
            assert len(holders) >= 2, f"commit {index} is on {holders} only"

        every_commit.update(restart_and_commit(tmp_path, seed, stored_logs, every_commit))
    assert len(every_commit) >= KILLS_PER_SEED * 3


def restart_and_commit(
    root: Path,
    seed: int,
    stored_logs: dict[NodeId, dict[int, bytes]],
    every_commit: dict[int, bytes],
) -> list[tuple[int, bytes]]:
    """Restart the cluster from disk, check every node resumes from exactly what
    is stored, commit one more entry; return what committed."""
    cluster = Cluster(root, seed, MEMBERS)
    try:
        for m in MEMBERS:
            node = cluster.nodes[m]
            assert (node.term, node.voted_for) == hard_state(cluster.storages[m])
            stored = cluster.storages[m].entries(1, 1 << 62)
            assert node.log.entries == stored
            assert {e.index: e.data for e in stored} == stored_logs[m]
        marker = f"after restart with {len(every_commit)} commits".encode()
        cluster.run_until(lambda: cluster.leader() is not None)
        cluster.run_until(lambda: cluster.propose(marker))
        cluster.run_until(lambda: any(d == marker for _, d in cluster.committed))
        leader = cluster.leader()
        assert leader is not None
        log = {e.index: e.data for e in cluster.nodes[leader].log.entries}
        for index, data in every_commit.items():
            assert log.get(index) == data, f"commit {index} lost after restart"
        applied = dict(cluster.applied[leader])
        assert all(applied.get(i) == d for i, d in every_commit.items())
        return cluster.committed
    finally:
        cluster.close()
