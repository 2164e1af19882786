"""Chunked InstallSnapshot (issue 15): the rules of core/transfer.py as Raft
applies them, one scenario each."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from pyconsensus.core.snapshots import read_all
from pyconsensus.core.transfer import TransferConfig
from pyconsensus.core.types import NodeId, Role
from pyconsensus.raft import InstallSnapshot, InstallSnapshotResponse, RaftNode
from pyconsensus.raft.messages import MESSAGE_TYPES
from pyconsensus.sim.harness import Harness
from tests.raft.support import elected

STATE = bytes(range(256)) * 2  # 512 bytes: 16 chunks of 32
SMALL = TransferConfig(chunk_size=32, window=2, retry_ticks=2)


def lagging(
    config: TransferConfig = SMALL, size: int = 3, behind: tuple[NodeId, ...] = (3,)
) -> Harness[RaftNode]:
    """Nodes ``behind`` missed entries that the leader (1) then compacted into ``STATE``."""
    h = elected(size, transfer=config)
    for node in behind:
        h.isolate(node)
    for i in range(6):
        h.propose(1, b"%d" % i)
    h.stabilize()
    h.compact(1, 6, STATE)
    h.flush(1)
    h.heal()
    return h


def catch_up(
    h: Harness[RaftNode],
    rounds: int = 40,
    leader: NodeId = 1,
    each: Callable[[Harness[RaftNode]], bool] | None = None,
) -> None:
    """Tick the leader ``rounds`` times, delivering wave after wave of messages
    in between; ``each`` looks at the cluster after every wave (and may change
    what is pending) - it returns True to stop."""
    for _ in range(rounds):
        h.tick(leader)
        for _ in range(100):
            if each is not None and each(h):
                return
            if not h.deliver():
                break


def installed(h: Harness[RaftNode], node: NodeId) -> bytes | None:
    meta = h.storages[node].snapshot()
    return None if meta is None else read_all(h.storages[node].snapshots.open(meta))


def test_a_snapshot_travels_as_bounded_chunks_and_is_installed_once_complete() -> None:
    h = lagging()
    sent: list[InstallSnapshot] = []
    h.listeners.append(
        lambda node, ready: sent.extend(m for m in ready.messages if isinstance(m, InstallSnapshot))
    )
    catch_up(h)
    assert installed(h, 3) == STATE
    assert h.node(3).log.snapshot_index == 6
    assert max(len(m.data) for m in sent) <= SMALL.chunk_size
    assert sorted({m.offset for m in sent}) == list(range(0, len(STATE), 32))
    restores = [r.restore for r in h.readies[3] if r.restore is not None]
    assert len(restores) == 1  # asked to install once, when every byte was staged


def test_the_window_bounds_chunks_in_flight_per_follower() -> None:
    h = lagging()
    others = tuple(t for t in MESSAGE_TYPES if t is not InstallSnapshot)
    for _ in range(6):  # everything but the chunks gets through
        h.tick(1)
        h.deliver(types=others)
    in_flight = {m.offset for m in h.pending if isinstance(m, InstallSnapshot)}
    assert 0 < len(in_flight) <= SMALL.window  # (resent copies share their offsets)


def test_a_follower_acknowledges_only_bytes_its_write_staged() -> None:
    h = lagging()
    catch_up(h)
    staged_end = 0
    for ready in h.readies[3]:
        if ready.write is not None and ready.write.stage is not None:
            staged_end = max(staged_end, ready.write.stage.end)
        for message in ready.messages:
            if isinstance(message, InstallSnapshotResponse):
                assert message.offset <= staged_end


def staged_bytes(h: Harness[RaftNode], node: NodeId) -> int:
    staged = h.storages[node].snapshots.staged()
    return 0 if staged is None else staged[1]


def partly_staged(h: Harness[RaftNode]) -> bool:
    return 64 <= staged_bytes(h, 3) < len(STATE)


def test_a_transfer_resumes_from_what_was_staged_after_the_follower_restarts() -> None:
    h = lagging()
    catch_up(h, each=partly_staged)  # a few chunks get through
    h.crash(3)
    h.restart(3)
    first_after: list[int] = []
    h.listeners.append(
        lambda node, ready: first_after.extend(
            m.offset for m in ready.messages if isinstance(m, InstallSnapshot) and m.dst == 3
        )
    )
    catch_up(h)
    assert installed(h, 3) == STATE
    assert h.node(3).counters["transfer.chunks_staged"] < len(STATE) // 32


def test_a_corrupted_chunk_is_rejected_at_install_and_the_transfer_starts_again() -> None:
    h = lagging()
    corrupted: list[int] = []

    def corrupt(h: Harness[RaftNode]) -> bool:
        for i, message in enumerate(h.pending):
            if not corrupted and isinstance(message, InstallSnapshot) and message.offset == 64:
                flipped = bytes([message.data[0] ^ 0xFF]) + message.data[1:]
                h.pending[i] = attrs.evolve(message, data=flipped)
                corrupted.append(i)
        return False

    catch_up(h, each=corrupt)
    assert corrupted
    assert h.node(3).counters["snapshots.rejected"] == 1
    assert installed(h, 3) == STATE


def test_a_new_leader_with_the_same_snapshot_resumes_the_transfer() -> None:
    h = lagging()
    h.compact(2, 6, STATE)  # node 2 took the very same snapshot
    h.flush(2)
    catch_up(h, each=lambda h: staged_bytes(h, 3) >= 160)
    offsets: list[int] = []
    h.listeners.append(
        lambda node, ready: offsets.extend(
            m.offset for m in ready.messages if isinstance(m, InstallSnapshot) and m.src == 2
        )
    )
    h.crash(1)
    while h.node(2).status().role is not Role.LEADER:  # node 3's lease must run out too
        h.tick(3)
        h.tick(2)
        h.stabilize()
    catch_up(h, leader=2)
    assert installed(h, 3) == STATE
    assert offsets and 96 not in offsets  # what was staged was not sent again


def test_the_leader_caps_concurrent_outgoing_transfers() -> None:
    h = lagging(attrs.evolve(SMALL, max_transfers=1), size=5, behind=(4, 5))
    peaks: list[int] = []

    def watch(h: Harness[RaftNode]) -> bool:
        sender = h.node(1)._sender
        peaks.append(sum(sender.sending(p) is not None for p in (2, 3, 4, 5)))
        return False

    catch_up(h, rounds=80, each=watch)
    assert max(peaks) == 1
    assert h.node(1).counters["transfer.deferred"] >= 1
    assert installed(h, 4) == installed(h, 5) == STATE
