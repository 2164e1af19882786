"""A real cluster: three node processes on loopback, LMDB on disk, TCP between
them, SIGKILL and isolation as the faults. Every wait polls a condition
against a generous deadline (``LocalCluster``'s waits: a minute), never a
fixed delay, so that a loaded machine makes the tests slower, not red; ports
are chosen at run time."""

from __future__ import annotations

import random
import struct
from collections import Counter
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from pyconsensus.adapters.cbor import encode
from pyconsensus.adapters.trio import Client, IndeterminateResult
from pyconsensus.adapters.trio.framing import prefixed
from pyconsensus.adapters.trio.localcluster import LocalCluster, open_local_cluster
from pyconsensus.core.errors import ConsensusError
from pyconsensus.rsm import kv
from pyconsensus.service.messages import WIRE_VERSION, ConnectionKind, Hello
from pyconsensus.sim.history import FAIL, INFO, OK, History, counts
from pyconsensus.sim.linearizability import check

SETTINGS = {"tick_ms": 20}
"""Elections take 200-400 ms: a loaded machine (the suite shares two cores)
should not depose a leader by accident."""

TEST_BOUND = 180
"""Seconds a whole test may take before it fails (on a quiet machine each
takes a few seconds; the bound is there to end a hang, not to time anything)."""

pytestmark = pytest.mark.skipif(
    not Path("/proc").exists(), reason="needs a Unix with /proc-style process control"
)


@asynccontextmanager
async def _serving_cluster(
    tmp_path: Path, **options: Any
) -> AsyncIterator[tuple[LocalCluster, Client]]:
    """Three node processes with ``SETTINGS``, and a client of them, once
    they serve and have a leader (``options`` go to ``open_local_cluster``)."""
    async with (
        open_local_cluster(tmp_path, settings=SETTINGS, **options) as cluster,
        cluster.client() as client,
    ):
        await cluster.wait_until_serving(client)
        await cluster.wait_for_leader(client)
        yield cluster, client


async def _write_many(client: Client, prefix: bytes, count: int) -> dict[bytes, bytes]:
    written = {}
    for i in range(count):
        key, value = prefix + b"%03d" % i, b"value-%d" % i
        assert await client.propose(kv.put(key, value)) == kv.OK
        written[key] = value
    return written


async def _same_state_everywhere(cluster: LocalCluster, client: Client) -> bytes:
    """Wait until every node applied the leader's commit index; the shared digest."""
    await cluster.wait_caught_up(client)
    statuses = await cluster.statuses(client, detail=1)
    digests = {s.digest for s in statuses.values() if s is not None}
    assert len(digests) == 1 and None not in statuses.values()
    return digests.pop()


async def test_three_processes_elect_a_leader_and_commit(tmp_path: Path) -> None:
    with trio.fail_after(TEST_BOUND):
        async with _serving_cluster(tmp_path) as (cluster, client):
            leader = await cluster.wait_for_leader(client)
            written = await _write_many(client, b"k", 20)
            assert client.leader == leader.node_id
            for key, value in written.items():
                assert kv.decode_get(await client.read(kv.get(key))) == value
            await _same_state_everywhere(cluster, client)


async def test_sigkilled_leader_is_replaced_and_restarts_from_lmdb_to_catch_up(
    tmp_path: Path,
) -> None:
    with trio.fail_after(TEST_BOUND):
        async with _serving_cluster(tmp_path) as (cluster, client):
            old = await cluster.wait_for_leader(client)
            before = await _write_many(client, b"before", 20)
            cluster.kill(old.node_id)
            await cluster.wait_exit(old.node_id)
            new = await cluster.wait_for_leader(client, exclude={old.node_id}, after_term=old.term)
            assert new.node_id != old.node_id and new.term > old.term
            after = await _write_many(client, b"after", 20)
            await cluster.start(old.node_id)
            await _same_state_everywhere(cluster, client)
            restarted = (await cluster.statuses(client, [old.node_id]))[old.node_id]
            assert restarted is not None and restarted.role == "follower"
            assert restarted.leader == new.node_id
            for key, value in {**before, **after}.items():
                assert kv.decode_get(await client.read(kv.get(key))) == value


async def test_isolated_follower_rejoins_without_disrupting_the_leader(tmp_path: Path) -> None:
    with trio.fail_after(TEST_BOUND):
        async with _serving_cluster(tmp_path) as (cluster, client):
            leader = await cluster.wait_for_leader(client)
            follower = next(n for n in cluster.members if n != leader.node_id)
            cluster.isolate(follower)
            await _write_many(client, b"while-away", 10)
            # Cut off, the follower notices the silence and campaigns - with
            # PreVote, without raising its term above the leader's: so it cannot depose anyone
            # when it returns. (The term is what is checked, not that the
            # leader still leads: on a loaded machine an election among the
            # other two may happen for reasons of its own.)
            with trio.fail_after(60):
                while True:
                    seen = (await cluster.statuses(client, [follower]))[follower]
                    if seen is not None and seen.role != "follower":
                        break
                    await trio.sleep(0.02)
            assert seen.term <= leader.term  # (below it if it never heard of the leader)
            cluster.isolate(follower, False)
            await _same_state_everywhere(cluster, client)


async def test_garbage_and_oversized_frames_are_refused_while_the_cluster_commits(
    tmp_path: Path,
) -> None:
    with trio.fail_after(TEST_BOUND):
        async with _serving_cluster(tmp_path, transport={"max_frame_bytes": 65536}) as (
            cluster,
            client,
        ):
            target = cluster.members[2]
            hello = prefixed(encode(Hello("local", ConnectionKind.PEER, 1, "raft", WIRE_VERSION)))
            attacks = [
                prefixed(b"not cbor at all, just noise" * 10),  # a whole frame of garbage
                struct.pack(">I", 1 << 31) + b"x" * 64,  # 2 GiB claimed
                hello + prefixed(b"\x01\x12" + b"\xff" * 40),  # a broken AppendEntries
            ]
            for attack in attacks:
                stream = await trio.open_tcp_stream(target.host, target.port)
                async with stream:
                    await stream.send_all(attack)
                    with trio.fail_after(60):  # the node hangs up on us
                        try:
                            while await stream.receive_some(4096):
                                pass
                        except trio.BrokenResourceError:
                            pass
                await _write_many(client, b"still-%d-" % len(attack), 5)
            await _same_state_everywhere(cluster, client)
            log = cluster.log_path(2).read_text()
            assert "exceeds the limit" in log and "undecodable frame" in log


async def test_client_history_under_crash_and_isolation_is_linearizable(tmp_path: Path) -> None:
    history = History()
    keys = [b"a", b"b", b"c"]
    with trio.fail_after(2 * TEST_BOUND):
        async with _serving_cluster(tmp_path) as (cluster, admin):
            began = trio.current_time()
            faults_done = trio.Event()
            progress: Counter[str] = Counter()

            def enough() -> bool:
                # The faults are over and the history holds real work (on a
                # loaded machine both take longer: wait for them, not for a time).
                return faults_done.is_set() and progress[OK] >= 150

            async def run_client(number: int) -> None:
                async with cluster.client(timeout=2.0, attempt_timeout=0.5, seed=number) as c:
                    recorder = RecordingClient(
                        c, history, number, began, keys, random.Random(number), progress
                    )
                    await recorder.run_until(enough)

            async def faults() -> None:
                await trio.sleep_until(began + 1.0)
                leader = await cluster.wait_for_leader(admin)
                cluster.kill(leader.node_id)
                await cluster.wait_exit(leader.node_id)
                await cluster.wait_for_leader(
                    admin, exclude={leader.node_id}, after_term=leader.term
                )
                await trio.sleep_until(began + 2.5)
                await cluster.start(leader.node_id)
                # Serving before anything else is done to it: a process still
                # importing (seconds on a loaded machine) has no handler for
                # the isolation signal yet, and SIGUSR1 would kill it silently.
                await cluster.wait_until_serving(admin)
                await trio.sleep_until(began + 3.5)
                current = await cluster.wait_for_leader(admin)
                victim = next(n for n in cluster.members if n != current.node_id)
                cluster.isolate(victim)
                await trio.sleep_until(began + 4.5)
                cluster.isolate(victim, False)
                await trio.sleep_until(began + 6.0)
                faults_done.set()

            async with trio.open_nursery() as nursery:
                for number in range(1, 5):
                    nursery.start_soon(run_client, number)
                nursery.start_soon(faults)
            await _same_state_everywhere(cluster, admin)
    operations = history.operations()
    ok = [op for op in operations if op.status == OK]
    assert len(ok) > 100  # the run did real work...
    assert {op.f for op in ok} == {"put", "get", "cas", "append"}
    result = check(operations)
    print(f"history: {counts(operations)}, explored {result.explored}")
    assert result.valid is True, result.failure.explain() if result.failure else result


@attrs.define
class RecordingClient:
    """Runs random put/get/cas/append operations and records them in ``history``
    as a Jepsen-style client would: ``ok`` with the answer, ``fail`` when the
    operation certainly had no effect, ``info`` when nobody can tell."""

    client: Client
    history: History
    number: int
    began: float
    keys: list[bytes]
    rng: random.Random
    progress: Counter[str]
    """Completed operations by status, shared by the clients of one test."""
    last_seen: dict[bytes, bytes | None] = attrs.field(factory=dict)
    count: int = 0

    def clock(self) -> int:
        return int((trio.current_time() - self.began) * 1000)

    async def run_until(self, done: Callable[[], bool]) -> None:
        while not done():
            await self.one_operation()

    async def one_operation(self) -> None:
        self.count += 1
        key = self.rng.choice(self.keys)
        kind = self.rng.choice(["put", "get", "cas", "append"])
        unique = b"%d.%d" % (self.number, self.count)
        if kind == "get":
            await self._read(key)
            return
        given: Hashable
        if kind == "put":
            command, given = kv.put(key, unique), unique
        elif kind == "append":
            command, given = kv.append(key, b"," + unique), b"," + unique
        else:
            expected = self.last_seen.get(key)
            command, given = kv.cas(key, expected, unique), (expected, unique)
        op = self.history.invoke(self.number, kind, key, given, self.clock())
        try:
            answer = await self.client.propose(command)
        except IndeterminateResult:
            self.history.complete(op, INFO, None, self.clock())
        except ConsensusError:  # Unavailable, RequestRejected, NotLeader: no effect
            self.history.complete(op, FAIL, None, self.clock())
        else:
            output = kv.decode_cas(answer) if kind == "cas" else None
            self.history.complete(op, OK, output, self.clock())
            self.progress[OK] += 1

    async def _read(self, key: bytes) -> None:
        op = self.history.invoke(self.number, "get", key, None, self.clock())
        try:
            value = kv.decode_get(await self.client.read(kv.get(key)))
        except ConsensusError:
            self.history.complete(op, FAIL, None, self.clock())  # a read has no effect
            return
        self.last_seen[key] = value
        self.history.complete(op, OK, value, self.clock())
        self.progress[OK] += 1
