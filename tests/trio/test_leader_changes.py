"""Leader-change notifications on the node: a callback and an async iterator
report the first leader, a new leader after the old one is cut off, and end
when the node stops."""

from __future__ import annotations

from pathlib import Path

import trio

from pyconsensus.adapters.trio import LeaderChange, Node
from pyconsensus.adapters.trio.leadership import BACKLOG, LeaderWatch
from pyconsensus.core.types import Role, Status
from tests.trio.support import leader_of, running_cluster, wait_for


def status(leader: int | None, term: int, role: Role = Role.FOLLOWER) -> Status:
    return Status(1, role, term, leader, 0, 0, 0)


def test_a_change_is_reported_once_per_new_leader_or_term_not_per_leaderless_term() -> None:
    seen: list[LeaderChange] = []
    watch = LeaderWatch(1)
    watch.subscribe(seen.append)
    for leader, term in [(None, 1), (2, 1), (2, 1), (None, 2), (None, 3), (2, 3), (1, 4)]:
        watch.check(status(leader, term, Role.LEADER if leader == 1 else Role.FOLLOWER))
    assert [(c.leader, c.term, c.previous) for c in seen] == [
        (2, 1, None),
        (None, 2, 2),
        (2, 3, None),
        (1, 4, 2),
    ]
    assert seen[-1].is_me and not seen[0].is_me


def test_a_failing_callback_does_not_stop_the_others() -> None:
    seen: list[LeaderChange] = []
    watch = LeaderWatch(1)

    def broken(change: LeaderChange) -> None:
        raise ZeroDivisionError

    watch.subscribe(broken)
    unsubscribe = watch.subscribe(seen.append)
    watch.check(status(2, 1))
    unsubscribe()
    watch.check(status(3, 2))
    assert [c.leader for c in seen] == [2]


async def test_a_slow_reader_keeps_the_newest_changes() -> None:
    watch = LeaderWatch(1)
    with watch.changes() as changes:
        for term in range(1, BACKLOG + 10):
            watch.check(status(2, term))
        watch.close()
        got = [change.term async for change in changes]
    assert len(got) == BACKLOG and got[-1] == BACKLOG + 9


async def test_callback_and_iterator_report_the_new_leader_after_the_old_is_cut_off(
    tmp_path: Path,
) -> None:
    with trio.fail_after(60):
        async with running_cluster(tmp_path) as nodes:
            old = leader_of(nodes)
            assert old is not None
            follower = next(n for n in nodes.values() if n is not old)
            heard: dict[int, list[LeaderChange]] = {n: [] for n in nodes}
            for node_id, node in nodes.items():
                node.on_leader_change(heard[node_id].append)
            iterated: list[LeaderChange] = []

            async def read_changes(node: Node, task_status: trio.TaskStatus[None]) -> None:
                with node.leader_changes() as changes:
                    task_status.started()
                    async for change in changes:
                        iterated.append(change)
                        if change.leader not in (None, old.node_id):
                            return

            async with trio.open_nursery() as nursery:
                await nursery.start(read_changes, follower)
                old.isolate(True)
                await wait_for(
                    lambda: bool(iterated) and iterated[-1].leader not in (None, old.node_id)
                )
            new = iterated[-1].leader
            assert new is not None and new != old.node_id
            await wait_for(lambda: any(c.is_me for c in heard[new]))
            mine = [c for c in heard[new] if c.is_me][-1]
            assert mine.role is Role.LEADER and mine.term > 0
            assert heard[follower.node_id][-1].leader == new
