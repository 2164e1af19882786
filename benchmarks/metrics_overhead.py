"""What metrics cost a node, in CPU per committed write:
``python -m benchmarks.metrics_overhead [--rounds 5] [--seconds 3] [--json]``.

Three Raft nodes run in this one process (one trio loop, ``MemoryStorage``,
TCP between them on loopback), and ``--clients`` tasks write through the
leader's ``Node.propose``, one put after another, for ``--seconds``. Each
round runs the cluster twice, metrics off and on (every node serving
``/metrics`` on a free loopback port, scraped every ``--scrape-every``
seconds), on a fresh cluster each time, in alternating order (off-on, on-off)
so that a drifting machine load favours neither. Being one process, it is
CPU-bound and shares no CPU with a load generator or other nodes: the
process's CPU seconds per write measure what the driver does per write
(throughput is printed but not compared). With no storage I/O to amortise
it over, this is a worst case for the relative cost. Medians over the
rounds; the cost is ``on / off - 1``. It also reports one scrape's CPU.

It also times, alone, what metrics add on the hot path (``hooks``): timing
one request (stamped when handed to the core, observed when answered),
reading one batch (64 entries written, 64 committed), and one histogram
observation (an fsync's), in microseconds - the floor under the cluster
figure's noise.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import statistics
import time
import timeit
from typing import Any

import trio

from pyconsensus.adapters.trio import Address, NodeConfig, ObserveConfig, open_node
from pyconsensus.adapters.trio.localcluster import free_ports
from pyconsensus.adapters.trio.metrics import NodeMetrics
from pyconsensus.core.ready import Ready, Write
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Entry, Role
from pyconsensus.rsm import KVStateMachine, kv
from pyconsensus.rsm.replicated import Completed


async def _scrape(port: int) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(b"GET /metrics HTTP/1.1\r\n\r\n")
        while await stream.receive_some(65536):
            pass


async def one_run(
    *, metrics: bool, clients: int, seconds: float, scrape_every: float = 1.0
) -> dict[str, float]:
    """Writes completed and process CPU seconds in a ``seconds`` window."""
    members = {i + 1: Address("127.0.0.1", p) for i, p in enumerate(free_ports(3))}
    observe = ObserveConfig(metrics=Address("127.0.0.1", 0) if metrics else None)
    nodes = {}
    async with trio.open_nursery() as nursery:

        async def run(node_id: int, task_status: trio.TaskStatus[None]) -> None:
            config = NodeConfig("bench", node_id, members, observe=observe, tick_interval=0.02)
            async with open_node(config, KVStateMachine(), storage=MemoryStorage()) as node:
                nodes[node_id] = node
                task_status.started()
                await trio.sleep_forever()

        for node_id in members:
            await nursery.start(run, node_id)
        with trio.fail_after(60):
            while not any(n.status().role is Role.LEADER for n in nodes.values()):
                await trio.sleep(0.02)
        leader = next(n for n in nodes.values() if n.status().role is Role.LEADER)
        done = 0
        stop = trio.current_time() + seconds

        async def writer(index: int) -> None:
            nonlocal done
            key = b"k%d" % index
            while trio.current_time() < stop:
                await leader.propose(kv.put(key, b"v" * 100))
                done += 1

        async def scraper() -> None:
            while metrics and scrape_every > 0:
                await trio.sleep(scrape_every)
                for node in nodes.values():
                    assert node.metrics_port is not None
                    await _scrape(node.metrics_port)

        cpu = time.process_time()
        async with trio.open_nursery() as load:
            load.start_soon(scraper)
            for index in range(clients):
                load.start_soon(writer, index)
            await trio.sleep_until(stop)
            await trio.sleep(0.5)  # the writers' last answers
            load.cancel_scope.cancel()
        cpu = time.process_time() - cpu
        scrape_ms = 0.0
        if metrics:  # one scrape's CPU, both ends of the connection (in this process)
            assert leader.metrics_port is not None
            start = time.process_time()
            for _ in range(10):
                await _scrape(leader.metrics_port)
            scrape_ms = (time.process_time() - start) * 100
        nursery.cancel_scope.cancel()
    return {
        "writes": done,
        "cpu_s": cpu,
        "cpu_us_per_write": cpu / max(done, 1) * 1e6,
        "scrape_ms": scrape_ms,
    }


def hook_costs(number: int = 2_000) -> dict[str, float]:
    """Microseconds of the hot-path hooks metrics add, per request (stamped
    into the core and answered, in helpings of 64), per batch (64 entries
    written and committed) and per histogram observation (median of 5)."""
    metrics = NodeMetrics()
    entries = [Entry(i, 1, b"x" * 100) for i in range(64)]
    ready = Ready(write=Write(entries=entries), committed=entries)
    outcomes = [Completed(rid, b"ok", 1) for rid in range(64)]

    def requests() -> None:
        proposed = metrics.proposed
        for rid in range(64):
            proposed[rid] = 0.0
        metrics.answered(outcomes)

    calls = {
        "request": (requests, 64),
        "batch_of_64": (lambda: metrics.batch(ready), 1),
        "histogram_observe": (lambda: metrics.fsync_seconds.observe(0.003), 1),
    }
    return {
        name: statistics.median(timeit.repeat(call, number=number, repeat=5)) / number / per * 1e6
        for name, (call, per) in calls.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument(
        "--scrape-every", type=float, default=1.0, help="seconds between scrapes (0: none)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for round_number in range(args.rounds):
        # off-on, then on-off: a machine whose load drifts favours neither
        for name in ("off", "on") if round_number % 2 == 0 else ("on", "off"):
            run = functools.partial(
                one_run,
                metrics=name == "on",
                clients=args.clients,
                seconds=args.seconds,
                scrape_every=args.scrape_every,
            )
            result = trio.run(run)
            runs[name].append(result)
    report: dict[str, Any] = {
        "rounds": args.rounds,
        "seconds": args.seconds,
        "scrape_every": args.scrape_every,
    }
    for name, results in runs.items():
        report[name] = {
            "cpu_us_per_write": statistics.median(r["cpu_us_per_write"] for r in results),
            "writes_per_s": statistics.median(r["writes"] for r in results) / args.seconds,
            "per_round_cpu_us_per_write": [round(r["cpu_us_per_write"], 1) for r in results],
        }
    report["cost"] = report["on"]["cpu_us_per_write"] / report["off"]["cpu_us_per_write"] - 1
    report["hooks_us"] = hook_costs()
    report["scrape_cpu_ms"] = statistics.median(r["scrape_ms"] for r in runs["on"])
    if args.json:
        print(json.dumps(report))
        return
    for name in ("off", "on"):
        row = report[name]
        print(
            f"metrics {name:3}: {row['cpu_us_per_write']:7.1f} us CPU per write (median; "
            f"rounds {row['per_round_cpu_us_per_write']}), {row['writes_per_s']:,.0f} writes/s"
        )
    print(f"cost of metrics: {report['cost'] * 100:+.1f}% CPU per write")
    hooks = ", ".join(f"{name} {us:.2f}" for name, us in report["hooks_us"].items())
    print(f"hot-path hooks alone, us per call: {hooks}")
    print(f"one scrape of /metrics: {report['scrape_cpu_ms']:.2f} ms CPU (both ends)")


if __name__ == "__main__":
    main()
