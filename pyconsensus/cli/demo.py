"""The body of ``pyconsensus demo`` (imports trio; loaded on use)."""

from __future__ import annotations

import hashlib
import itertools
import shutil
import sys
import tempfile
from pathlib import Path

import attrs
import trio

from pyconsensus.adapters.trio import Client, IndeterminateResult, Role
from pyconsensus.adapters.trio.localcluster import WAIT_TIMEOUT, LocalCluster, open_local_cluster
from pyconsensus.core.errors import ConsensusError
from pyconsensus.rsm import kv
from pyconsensus.rsm.kv import KVStateMachine
from pyconsensus.service.messages import StatusReply

VALUE_BYTES = 100


@attrs.frozen
class DemoOptions:
    protocol: str = "raft"
    nodes: int = 3
    clients: int = 16
    duration: float = 8.0
    timeout: float = 120.0
    directory: str | None = None
    keep: bool = False
    kill: bool = True
    tls: bool = False


@attrs.define
class Workload:
    """What the writers did."""

    acked: dict[bytes, bytes] = attrs.field(factory=dict)
    indeterminate: dict[bytes, bytes] = attrs.field(factory=dict)
    failed: int = 0
    latencies: list[float] = attrs.field(factory=list)
    ack_times: list[float] = attrs.field(factory=list)
    started: float = 0.0
    finished: float = 0.0


@attrs.define
class Timeline:
    """What the monitor and the fault schedule saw."""

    leaderships: dict[int, int] = attrs.field(factory=dict)  # term -> leader
    leader: int | None = None
    killed: int | None = None
    killed_at: float | None = None
    elected_after: float | None = None
    new_leader: int | None = None
    restarted_at: float | None = None
    missed_index: int = 0
    caught_up_after: float | None = None


class Console:
    """Progress bar on a terminal, plain lines elsewhere."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self._bar_shown = False
        self._last_line = 0.0

    def say(self, text: str) -> None:
        self._clear()
        print(text, flush=True)

    def progress(self, fraction: float, text: str) -> None:
        width = 30
        filled = int(width * min(1.0, fraction))
        bar = f"  [{'#' * filled}{'.' * (width - filled)}] {fraction * 100:3.0f}%  {text}"
        if self.tty:
            sys.stdout.write("\r" + bar + "\x1b[K")
            sys.stdout.flush()
            self._bar_shown = True
        else:
            now = trio.current_time()
            if now - self._last_line >= 1.0:
                self._last_line = now
                print(bar, flush=True)

    def _clear(self) -> None:
        if self._bar_shown:
            sys.stdout.write("\r\x1b[K")
            self._bar_shown = False


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _value(key: bytes) -> bytes:
    return (key + b":" + hashlib.sha256(key).hexdigest().encode() * 4)[:VALUE_BYTES]


async def run(options: DemoOptions) -> int:
    """Run the demo; the exit status (0 ok, 1 discrepancy, 2 could not run)."""
    console = Console()
    if options.directory is not None:
        root = Path(options.directory)
        root.mkdir(parents=True, exist_ok=True)
        options = attrs.evolve(options, keep=True)  # the user's directory is left alone
    else:
        root = Path(tempfile.mkdtemp(prefix="pyconsensus-demo-"))
    try:
        with trio.fail_after(options.timeout):
            return await _run(options, root, console)
    except trio.TooSlowError:
        console.say(f"FAILED: the demo did not finish within {options.timeout:.0f} s")
        console.say(f"node logs: {root}")
        options = attrs.evolve(options, keep=True)
        return 2
    finally:
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)


async def _run(options: DemoOptions, root: Path, console: Console) -> int:
    console.say(
        f"pyconsensus demo: {options.nodes} {options.protocol} nodes as separate processes "
        f"on 127.0.0.1, LMDB (sync on) in {root}"
        + (", mutual TLS (a development CA in certs/)" if options.tls else "")
    )
    async with open_local_cluster(
        root,
        size=options.nodes,
        protocol=options.protocol,
        cluster_id="demo",
        settings={},
        tls=options.tls,
    ) as cluster:
        ports = ", ".join(f"node {n} :{a.port}" for n, a in sorted(cluster.members.items()))
        console.say(f"started {ports}")
        async with cluster.client(timeout=2.0, attempt_timeout=0.5) as admin:
            start = trio.current_time()
            await cluster.wait_until_serving(admin)
            first = await cluster.wait_for_leader(admin)
            console.say(
                f"node {first.node_id} elected leader (term {first.term}) "
                f"{trio.current_time() - start:.2f} s after start"
            )
            demo = Demo(
                options,
                cluster,
                admin,
                console,
                Timeline(leaderships={first.term: first.node_id}, leader=first.node_id),
                Workload(),
                start,
            )
            await _exercise(demo)
            return await _verify(demo)


@attrs.define
class Demo:
    """Everything one run of the demo shares."""

    options: DemoOptions
    cluster: LocalCluster
    admin: Client
    console: Console
    timeline: Timeline
    workload: Workload
    start: float


async def _exercise(demo: Demo) -> None:
    options, cluster, console, workload = demo.options, demo.cluster, demo.console, demo.workload
    duration = options.duration
    workload.started = trio.current_time()
    stop_at = workload.started + duration
    console.say(
        f"writing for {duration:.0f} s with {options.clients} clients "
        f"({VALUE_BYTES}-byte values)"
        + (", killing the leader at 30% and restarting it at 55%" if options.kill else "")
    )
    # With TLS the writers hold a certificate of role write, the monitor admin.
    tls = {"tls": cluster.client_tls("writer", Role.WRITE)} if options.tls else {}
    async with (
        cluster.client(timeout=10.0, attempt_timeout=1.0, **tls) as writers,
        trio.open_nursery() as nursery,
    ):
        # Each writer has a session of its own; they share the connections.
        for index in range(options.clients):
            nursery.start_soon(_writer, writers.new_session(), index, stop_at, workload)
        nursery.start_soon(_monitor, demo, stop_at)
        if options.kill:
            nursery.start_soon(_faults, demo)
        nursery.start_soon(_show_progress, demo, stop_at)
    workload.finished = trio.current_time()
    console.say(
        f"workload done: {len(workload.acked):,} writes acknowledged, "
        f"{len(workload.indeterminate)} indeterminate, {workload.failed} failed"
    )


async def _writer(client: Client, index: int, stop_at: float, workload: Workload) -> None:
    count = 0
    while trio.current_time() < stop_at:
        count += 1
        key = f"w{index:03d}-{count:07d}".encode()
        value = _value(key)
        began = trio.current_time()
        try:
            await client.propose(kv.put(key, value))
        except IndeterminateResult:
            workload.indeterminate[key] = value
        except ConsensusError:
            workload.failed += 1
        else:
            now = trio.current_time()
            workload.acked[key] = value
            workload.latencies.append(now - began)
            workload.ack_times.append(now)


async def _monitor(demo: Demo, stop_at: float) -> None:
    cluster, admin, timeline = demo.cluster, demo.admin, demo.timeline
    while trio.current_time() < stop_at:
        statuses = await cluster.statuses(admin)
        for status in statuses.values():
            if status is not None and status.role == "leader":
                timeline.leaderships.setdefault(status.term, status.node_id)
                timeline.leader = status.node_id
        await trio.sleep(0.05)


async def _faults(demo: Demo) -> None:
    cluster, admin, console = demo.cluster, demo.admin, demo.console
    timeline, workload, duration = demo.timeline, demo.workload, demo.options.duration
    await trio.sleep_until(workload.started + 0.3 * duration)
    victim = await cluster.wait_for_leader(admin)
    cluster.kill(victim.node_id)
    killed_at = trio.current_time()
    timeline.killed, timeline.killed_at = victim.node_id, killed_at
    console.say(
        f"SIGKILL leader node {victim.node_id} (term {victim.term}, commit index "
        f"{victim.commit_index:,}) at {killed_at - workload.started:.1f} s"
    )
    await cluster.wait_exit(victim.node_id)
    elected = await cluster.wait_for_leader(admin, exclude={victim.node_id}, after_term=victim.term)
    timeline.elected_after = trio.current_time() - killed_at
    timeline.new_leader = elected.node_id
    timeline.leaderships.setdefault(elected.term, elected.node_id)
    console.say(
        f"node {elected.node_id} elected leader (term {elected.term}) "
        f"{timeline.elected_after:.2f} s after the crash"
    )
    await trio.sleep_until(workload.started + 0.55 * duration)
    current = await cluster.statuses(admin, [elected.node_id])
    leader_status = current.get(elected.node_id)
    timeline.missed_index = leader_status.commit_index if leader_status is not None else 0
    await cluster.start(victim.node_id)
    timeline.restarted_at = trio.current_time()
    console.say(
        f"restarted node {victim.node_id} from its LMDB directory "
        f"(cluster commit index {timeline.missed_index:,})"
    )
    while True:
        status = (await cluster.statuses(admin, [victim.node_id])).get(victim.node_id)
        if status is not None and status.applied_index >= timeline.missed_index:
            timeline.caught_up_after = trio.current_time() - timeline.restarted_at
            console.say(
                f"node {victim.node_id} caught up (applied {status.applied_index:,}) "
                f"{timeline.caught_up_after:.2f} s after restart"
            )
            return
        await trio.sleep(0.05)


async def _show_progress(demo: Demo, stop_at: float) -> None:
    console, timeline, workload = demo.console, demo.timeline, demo.workload
    duration = demo.options.duration
    while trio.current_time() < stop_at:
        elapsed = trio.current_time() - workload.started
        rate = len(workload.acked) / elapsed if elapsed > 0 else 0.0
        leader = f"node {timeline.leader}" if timeline.leader is not None else "none"
        console.progress(
            elapsed / duration,
            f"{len(workload.acked):>7,} writes  {rate:>6,.0f}/s  leader: {leader}",
        )
        await trio.sleep(0.1)
    console.progress(1.0, f"{len(workload.acked):>7,} writes")


async def _verify(demo: Demo) -> int:
    options, cluster, admin, console = demo.options, demo.cluster, demo.admin, demo.console
    workload = demo.workload
    problems: list[str] = []
    console.say("waiting for every node to apply everything committed...")
    try:
        applied = await cluster.wait_caught_up(admin)
    except trio.TooSlowError:
        statuses = await cluster.statuses(admin)
        shown = ", ".join(
            f"node {n}: {'down' if s is None else f'{s.role} applied {s.applied_index}'}"
            for n, s in sorted(statuses.items())
        )
        console.say(f"FAILED: the nodes did not converge within {WAIT_TIMEOUT:.0f} s ({shown})")
        return 1
    states: dict[int, StatusReply | None] = await cluster.statuses(admin, detail=2)
    digests = {n: s.digest for n, s in states.items() if s is not None}
    if len(digests) != options.nodes:
        problems.append("a node did not answer with its state")
    if len(set(digests.values())) > 1:
        problems.append(
            "the nodes hold different states: "
            + ", ".join(f"node {n} {d.hex()[:12]}" for n, d in sorted(digests.items()))
        )
    reference = next((s for s in states.values() if s is not None), None)
    machine = KVStateMachine()
    if reference is not None:
        machine.restore(reference.state)
    lost = [k for k, v in workload.acked.items() if machine.data.get(k) != v]
    if lost:
        problems.append(f"{len(lost)} acknowledged writes are missing or wrong, e.g. {lost[:3]}")
    known = workload.acked.keys() | workload.indeterminate.keys()
    strangers = [k for k in machine.data if k not in known]
    if strangers:
        problems.append(f"{len(strangers)} keys nobody wrote, e.g. {strangers[:3]}")
    took_effect = sum(1 for k in workload.indeterminate if k in machine.data)
    _summary(demo, applied, digests, took_effect)
    if problems:
        for problem in problems:
            console.say(f"DISCREPANCY: {problem}")
        console.say("RESULT: FAILED")
        return 1
    console.say("RESULT: OK - identical state on every node, no acknowledged write lost")
    return 0


def _summary(demo: Demo, applied: int, digests: dict[int, bytes], took_effect: int) -> None:
    options, console, timeline, workload = demo.options, demo.console, demo.timeline, demo.workload
    start = demo.start
    elapsed = workload.finished - workload.started
    times = sorted(workload.ack_times)
    stall = max((b - a for a, b in itertools.pairwise(times)), default=0.0)
    rows = [
        ("protocol", f"{options.protocol}, {options.nodes} nodes, {options.clients} clients"),
        ("writes acknowledged", f"{len(workload.acked):,}"),
        (
            "indeterminate",
            f"{len(workload.indeterminate)} ({took_effect} took effect, "
            f"{len(workload.indeterminate) - took_effect} did not)",
        ),
        ("failed", f"{workload.failed}"),
        ("throughput", f"{len(workload.acked) / elapsed:,.0f} writes/s over {elapsed:.1f} s"),
        (
            "latency",
            f"p50 {ms(_percentile(workload.latencies, 0.5))}, "
            f"p99 {ms(_percentile(workload.latencies, 0.99))}, "
            f"max {ms(max(workload.latencies, default=0.0))}",
        ),
        (
            "elections",
            f"{len(timeline.leaderships)} (term: leader "
            + ", ".join(f"{t}: node {n}" for t, n in sorted(timeline.leaderships.items()))
            + ")",
        ),
    ]
    if timeline.elected_after is not None:
        rows.append(
            ("time without a leader", f"{timeline.elected_after:.2f} s (crash -> new leader)")
        )
        rows.append(("longest write stall", f"{stall:.2f} s"))
    if timeline.caught_up_after is not None:
        rows.append(
            (
                "catch-up",
                f"node {timeline.killed} caught up {timeline.caught_up_after:.2f} s after restart",
            )
        )
    digest = next(iter(digests.values()), b"").hex()[:16]
    rows.append(("state", f"applied index {applied:,} on every node, sha256 {digest}..."))
    rows.append(("total time", f"{trio.current_time() - start:.1f} s"))
    console.say("")
    console.say("summary")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        console.say(f"  {name:<{width}}  {value}")
    console.say("")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
